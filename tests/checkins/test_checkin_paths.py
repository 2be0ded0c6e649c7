"""The one-statement check-in (`checkin_submit`, migration 0015) against the transaction it
replaced (tests/checkins/reference_checkin.py): random sequences of check-ins (new ones, late ones,
repeats, repeats with other answers, two copies at once, crises, craving histories, made-up
misses, open alerts) run through both, for two graduates set up alike, must give the same
answers and leave the same rows: check-ins, misses, alerts and their timelines, the inbox
and outbox, the engagement state. And the risk rules' SQL twin gives what `risk.assess`
gives, for any answers and history."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from dataclasses import dataclass

import asyncpg
import msgspec
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from litestar.exceptions import HTTPException

from api.checkins import plan, risk, service
from api.checkins.schemas import CheckinRequest
from db import engagement
from tests import helpers
from tests.checkins import reference_checkin
from tests.clock import ONCE

ZONES = ["UTC", "America/Chicago", "Pacific/Kiritimati", "Asia/Kolkata", "America/St_Johns"]
TOO_OLD, IN_FUTURE = dt.timedelta(days=8), dt.timedelta(minutes=-10)


@dataclass(frozen=True)
class Answers:
    mood: int
    craving: int
    used: bool
    sleep: int
    need_support: str
    note: str | None
    phq2: list[int] | None
    gad2: list[int] | None


answers = st.builds(
    Answers,
    mood=st.integers(1, 5),
    craving=st.integers(0, 10),
    used=st.booleans(),
    sleep=st.integers(1, 5),
    need_support=st.sampled_from(["no", "no", "no", "talk_soon", "crisis_now"]),
    note=st.none() | st.sampled_from(["rough day", "<b>ok</b>", "=1+1"]),
    phq2=st.none() | st.lists(st.integers(0, 3), min_size=2, max_size=2),
    gad2=st.none() | st.lists(st.integers(0, 3), min_size=2, max_size=2),
)
# How long before now it was made: mostly late (up to nearly 7 days), sometimes too old or
# in the future (refused alike).
ages = st.one_of(
    st.builds(
        lambda days, minutes: dt.timedelta(days=days, minutes=minutes), st.integers(0, 6), st.integers(0, 24 * 60 - 1)
    ),
    st.sampled_from([TOO_OLD, IN_FUTURE]),
)


@dataclass(frozen=True)
class New:
    answers: Answers
    age: dt.timedelta
    together: bool  # sent twice at once


@dataclass(frozen=True)
class Again:
    which: int  # an earlier step's client id, sent again
    change: dict  # no change: a repeat; else a conflict


steps = st.lists(
    st.one_of(
        st.builds(New, answers, ages, st.booleans()),
        st.builds(New, answers, ages, st.just(False)),
        st.builds(
            Again,
            st.integers(0, 10),
            st.sampled_from([{}, {}, {"mood": 1}, {"used": True}, {"note": "other"}]),
        ),
    ),
    min_size=1,
    max_size=8,
)


@dataclass(frozen=True)
class World:
    zone: str
    iop_days_ago: int
    plan: tuple[str, int, int | None] | None  # cadence, from and until (days from today)
    missed: tuple[tuple[int, bool], ...]  # (days ago a slot started, alerted)
    alert_open: bool
    state_worked_out: bool


worlds = st.builds(
    World,
    zone=st.sampled_from(ZONES),
    iop_days_ago=st.sampled_from([3, 30, 100]) | st.integers(0, 400),
    plan=st.none()
    | st.tuples(st.sampled_from(["daily", "weekly", "none"]), st.integers(-10, 0), st.none() | st.integers(0, 5)),
    missed=st.lists(st.tuples(st.integers(0, 6), st.booleans()), max_size=3, unique_by=lambda m: m[0]).map(tuple),
    alert_open=st.booleans(),
    state_worked_out=st.booleans(),
)


def plan_dates(plan_: tuple, today: dt.date) -> tuple[dt.date, dt.date | None]:
    _, start, until = plan_
    return today + dt.timedelta(days=start), None if until is None else today + dt.timedelta(days=until)


async def set_up(client, conn, staff, world: World, today: dt.date) -> uuid.UUID:
    enrolled = await helpers.enroll(
        client, staff, timezone=world.zone, iop_completed_on=str(today - dt.timedelta(days=world.iop_days_ago))
    )
    person = uuid.UUID(enrolled["id"])
    if world.plan:
        await conn.execute(
            "insert into checkin_plans (person_id, cadence, starts_on, ends_on) values ($1, $2, $3, $4)",
            person,
            world.plan[0],
            *plan_dates(world.plan, today),
        )
    iop = today - dt.timedelta(days=world.iop_days_ago)
    override = plan.Override(world.plan[0], *plan_dates(world.plan, today)) if world.plan else None
    for days_ago, alerted in world.missed:  # the slot that day belongs to, recorded as missed
        if (slot := plan.slot_for(today - dt.timedelta(days=days_ago), iop, override)) is not None:
            await conn.execute(
                """insert into missed_checkins (person_id, slot_starts_on, slot_ends_on, alerted) values ($1, $2, $3, $4)
                   on conflict do nothing""",
                person,
                slot.starts_on,
                slot.ends_on,
                alerted,
            )
    if world.alert_open:
        await conn.execute(
            "insert into alerts (person_id, kind, severity, reasons) values ($1, 'missed_checkins', 2, '[]')", person
        )
    if world.state_worked_out:
        async with conn.transaction():
            await engagement.refresh(conn, dt.datetime.now(dt.UTC), [person])
    return person


def request(client_id: uuid.UUID, made: dt.datetime, a: Answers) -> CheckinRequest:
    return msgspec.convert(
        {"client_id": str(client_id), "client_time": made.isoformat(), **a.__dict__}, CheckinRequest, strict=False
    )


async def outcome(submit, conn, person, data) -> tuple:
    """What the app would answer: the status and the check-in (its id left out), or the problem."""
    try:
        checkin, created = await submit(conn, person, data)
    except HTTPException as error:
        return ("problem", error.status_code, str(error.detail), repr(getattr(error, "extra", None)))
    shown = msgspec.to_builtins(checkin)
    shown.pop("id"), shown.pop("received_at")
    return (201 if created else 200, shown)


async def run(submit, pool: asyncpg.Pool, person: uuid.UUID, sequence, now: dt.datetime) -> list:
    sent: list[CheckinRequest] = []
    answers_seen = []
    for step in sequence:
        if isinstance(step, New):
            # The same client id on both paths: their rows are matched by it.
            data = request(uuid.UUID(int=len(sent) + 1), now - step.age, step.answers)
        else:
            if not sent:
                continue
            data = msgspec.structs.replace(sent[step.which % len(sent)], **step.change)
        if isinstance(step, New) and step.together:
            async with pool.acquire() as one, pool.acquire() as other:
                both = await asyncio.gather(outcome(submit, one, person, data), outcome(submit, other, person, data))
            answers_seen.append(sorted(both, key=lambda o: str(o[0])))
        else:
            async with pool.acquire() as one:
                answers_seen.append(await outcome(submit, one, person, data))
        sent.append(data)
    return answers_seen


async def stored(conn: asyncpg.Connection, person: uuid.UUID) -> dict:
    """Everything a check-in leaves, with ids written as the client id of their check-in."""
    ids = await conn.fetch("select id, client_id from checkins where person_id = $1", person)
    rows = {
        "checkins": await conn.fetch(
            """select client_id, client_time, local_date, mood, craving, used, sleep, need_support, note, phq2, gad2,
                      risk_reasons from checkins where person_id = $1 order by client_id""",
            person,
        ),
        "missed": await conn.fetch(
            "select slot_starts_on, alerted, made_up_by from missed_checkins where person_id = $1 order by 1", person
        ),
        "alerts": await conn.fetch(
            "select kind, severity, status, reasons, details from alerts where person_id = $1 order by kind", person
        ),
        "events": await conn.fetch(
            """select a.kind as alert, e.kind, e.checkin_id, e.details from alert_events e join alerts a on a.id = e.alert_id
               where a.person_id = $1 order by a.kind, e.id""",
            person,
        ),
        "notifications": await conn.fetch(
            """select kind, dedup_key, title, body, push_title, push_body, data, urgent, push_state, expires_at, not_before
               from notifications where person_id = $1 order by dedup_key""",
            person,
        ),
        "engagement": await conn.fetch(
            "select to_jsonb(e) - 'person_id' - 'fresh_until' - 'updated_at' as row from engagement e where person_id = $1",
            person,
        ),
    }
    text = msgspec.json.encode({name: [dict(r) for r in found] for name, found in rows.items()}).decode()
    for row in ids:
        text = text.replace(str(row["id"]), str(row["client_id"]))
    # In an order that does not depend on the ids just replaced (the crisis items' keys hold them).
    return {name: sorted(found, key=msgspec.json.encode) for name, found in msgspec.json.decode(text).items()}


@pytest.mark.clock_instants(*ONCE, "us-autumn-before")
@examples(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(world=worlds, sequence=steps)
async def test_the_one_statement_leaves_what_the_transaction_left(client, conn, staff, settings, world, sequence):
    now = dt.datetime.now(dt.UTC)
    today = now.date()
    old_person = await set_up(client, conn, staff, world, today)
    new_person = await set_up(client, conn, staff, world, today)
    pool = await asyncpg.create_pool(settings.database_url, min_size=2, max_size=2, init=_jsonb)
    try:
        old = await run(reference_checkin.submit, pool, old_person, sequence, now)
        new = await run(service.submit, pool, new_person, sequence, now)
    finally:
        await pool.close()
    assert new == old
    assert await stored(conn, new_person) == await stored(conn, old_person)


async def _jsonb(conn: asyncpg.Connection) -> None:
    from db.pool import _init_connection

    await _init_connection(conn)


earlier_answers = st.lists(st.tuples(st.integers(0, 10), st.integers(1, 5)), max_size=20)


@examples(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=answers, earlier=earlier_answers)
async def test_the_risk_rules_in_sql_are_the_rules_in_python(conn, a, earlier):
    reasons = risk.assess(
        risk.Answers(
            a.mood,
            a.craving,
            a.used,
            a.need_support,
            tuple(a.phq2) if a.phq2 else None,
            tuple(a.gad2) if a.gad2 else None,
        ),
        [risk.Answers(mood, craving, False, "no") for craving, mood in earlier],
    )
    in_python = [
        {"code": r.code, "kind": r.kind, "severity": risk.SEVERITY_NAMES[r.severity], "message": r.message}
        for r in reasons
    ]
    in_sql = await conn.fetchval(  # as text: json.loads below (this connection has no jsonb codec)
        "select checkin_risk_reasons($1, $2, $3, $4, $5, $6, $7, $8)",
        a.mood,
        a.craving,
        a.used,
        a.need_support,
        a.phq2,
        a.gad2,
        [craving for craving, _ in earlier],
        earlier[0][1] if earlier else None,
    )
    assert json.loads(in_sql) == in_python
