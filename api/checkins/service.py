"""Check-in rules that touch the database: submitting, and what is due."""

from __future__ import annotations

import bisect
import datetime as dt
from typing import Any, cast
from uuid import UUID

import asyncpg

from api.checkins import plan, risk
from api.checkins.plan import days_sober
from api.checkins.schemas import Cadence, Checkin, CheckinRequest, CrisisResource, Due, RiskReason, Slot
from api.problems import found, invalid, problem
from db import checkins as checkins_db
from db.zones import zone_of
from notifications import templates

FUTURE_SLACK = dt.timedelta(minutes=5)
# What a repeat must carry unchanged: everything the graduate answered, and when.
REPEATED_FIELDS = ("client_time", "mood", "craving", "used", "sleep", "need_support", "note", "phq2", "gad2")
OLDEST = dt.timedelta(days=7)
HISTORY_DAYS = 400


def override_of(context: asyncpg.Record) -> plan.Override | None:
    if context["o_cadence"] is None:
        return None
    return plan.Override(context["o_cadence"], context["o_from"], context["o_until"])


def local_today(timezone: str, now: dt.datetime | None = None) -> dt.date:
    return (now or dt.datetime.now(dt.UTC)).astimezone(zone_of(timezone)).date()


def to_checkin(row: asyncpg.Record) -> Checkin:
    crisis = row["need_support"] == "crisis_now"
    return Checkin(
        id=row["id"],
        client_id=row["client_id"],
        client_time=row["client_time"],
        received_at=row["received_at"],
        local_date=row["local_date"],
        mood=row["mood"],
        craving=row["craving"],
        used=row["used"],
        sleep=row["sleep"],
        need_support=row["need_support"],
        note=row["note"],
        phq2=row["phq2"],
        gad2=row["gad2"],
        risk_reasons=[RiskReason(**r) for r in row["risk_reasons"]],
        crisis_resources=[CrisisResource(**c) for c in risk.CRISIS_RESOURCES] if crisis else None,
        crisis_note=risk.NOT_WATCHED if crisis else None,
    )


def differing_fields(stored: asyncpg.Record, sent: CheckinRequest) -> list[str]:
    """The answers in which `sent` differs from the stored check-in, compared as stored: a
    time by its instant (whatever offset the phone wrote it with), a screen by its items."""

    def as_stored(value: object) -> object:
        return list(value) if isinstance(value, list | tuple) else value

    return [f for f in REPEATED_FIELDS if as_stored(stored[f]) != as_stored(getattr(sent, f))]


def repeat_of(stored: asyncpg.Record, sent: CheckinRequest) -> Checkin:
    """The first result, for a true repeat. The same client id with other answers is not a
    retry: answering it with the first result would silently drop what the graduate reported
    (a use, a low mood), so the app is told which answers differ and can ask the person."""
    if differing := differing_fields(stored, sent):
        raise problem(
            409,
            "idempotency_conflict",
            f"This client_id was already used for a check-in with other answers ({', '.join(differing)}). "
            "Send the same answers to repeat it, or a new client_id for a new check-in.",
            errors=[
                {"field": f, "source": "body", "message": "differs from the check-in first sent with this client_id"}
                for f in differing
            ],
        )
    return to_checkin(stored)


def crisis_notice(now: dt.datetime) -> dict[str, Any]:
    """The inbox item a crisis check-in writes, for `checkin_submit` to store with it (to be
    sent from `now`, the app's clock, as every notification: notifications/outbox.py)."""
    content = templates.crisis_support(risk.crisis_text())
    return {
        "kind": content.kind,
        "title": content.title,
        "body": content.body,
        "push_title": content.push_title,
        "push_body": content.push_body,
        "data": {"kind": content.kind, **content.data},
        "not_before": now.isoformat(),
    }


async def submit(conn: asyncpg.Connection, person_id: UUID, data: CheckinRequest) -> tuple[Checkin, bool]:
    """Store a check-in and act on it; (the check-in, whether it is new). The same client id
    sent again with the same answers returns the first result and stores nothing, also when
    both arrive at once; with other answers it is refused (409), saying which differ.

    The rules that need the person's history (the slot a late check-in makes up, the risk
    rules over earlier check-ins, alerts, the crisis inbox item) run in the database, in the
    one statement `checkin_submit` (migration 0015): a check-in, the app's busiest write, is
    one round trip. Their readable twins stay in Python (plan.py, risk.py), held to the same
    answers by tests; the demo's history is computed with them."""
    now = dt.datetime.now(dt.UTC)
    if data.client_time > now + FUTURE_SLACK:
        raise invalid("client_time", "is in the future: check the phone's clock")
    if data.client_time < now - OLDEST:
        # A repeat is answered with the first result, however late the retry comes.
        if (earlier_copy := await checkins_db.by_client_id(conn, person_id, data.client_id)) is not None:
            return repeat_of(earlier_copy, data), False
        raise invalid("client_time", "is more than 7 days old, too late to count")
    fields = {name: getattr(data, name) for name in checkins_db.SUBMITTED_FIELDS}
    notice = crisis_notice(now) if data.need_support == "crisis_now" else None
    row = found(await checkins_db.submit(conn, person_id, fields, notice), "participant")
    if not row["created"]:
        return repeat_of(row, data), False
    return to_checkin(row), True


def slot_out(slot: plan.Slot, timezone: str, done: bool) -> Slot:
    starts, ends = slot.window(timezone)
    # plan.Slot's cadence is one of plan.CADENCES, the same set as Cadence (asserted in schemas).
    cadence = cast(Cadence, slot.cadence)
    return Slot(
        starts_on=slot.starts_on, ends_on=slot.ends_on, starts_at=starts, ends_at=ends, cadence=cadence, done=done
    )


async def slot_states(
    conn: asyncpg.Connection, person_id: UUID, context: asyncpg.Record, first: dt.date, last: dt.date
) -> list[tuple[plan.Slot, bool]]:
    """The person's slots touching [first, last] and whether each was satisfied, oldest first.
    A miss that an alert counted stands, even if a late check-in arrived afterwards."""
    slots = plan.slots_between(first, last, context["iop_completed_on"], override_of(context))
    checked_in = await checkins_db.dates_between(conn, person_id, first - dt.timedelta(days=7), last)
    missed = await checkins_db.missed_slots(conn, person_id, first - dt.timedelta(days=7), last)
    dates = sorted(checked_in)
    states = []
    for slot in slots:
        record = missed.get(slot.starts_on)
        if record is not None and record["alerted"] and record["made_up_by"] is None:
            states.append((slot, False))
            continue
        # The first check-in on or after the slot's start, if it is within the slot.
        at = bisect.bisect_left(dates, slot.starts_on)
        states.append((slot, at < len(dates) and dates[at] <= slot.ends_on))
    return states


async def due(conn: asyncpg.Connection, person_id: UUID) -> Due:
    context = found(await checkins_db.plan_context(conn, person_id), "participant")
    timezone = context["timezone"]
    today = local_today(timezone)
    states = await slot_states(conn, person_id, context, today - dt.timedelta(days=HISTORY_DAYS), today)
    current = states[-1] if states and states[-1][0].starts_on <= today <= states[-1][0].ends_on else None
    past = states[:-1] if current else states
    # The current slot counts toward the streak once it is done; not yet done, it is open.
    streak = plan.streak(list(reversed(past + ([current] if current and current[1] else []))))
    upcoming = plan.next_slot(
        current[0].ends_on if current else today, context["iop_completed_on"], override_of(context)
    )
    return Due(
        current_slot=slot_out(current[0], timezone, current[1]) if current else None,
        next_slot=slot_out(upcoming, timezone, False) if upcoming else None,
        streak=streak,
        days_sober=days_sober(context["sobriety_date"], timezone),
    )
