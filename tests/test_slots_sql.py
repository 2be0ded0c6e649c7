"""The set-based slot SQL (db/slots_sql.py) and what is built on it (the sweep, the watchlist,
the metrics) against the rules: a random population with every kind of plan, override,
activation, time zone and check-in history, compared day by day with api/checkins/plan.py,
and with the plain statements they replaced (tests/reference_sql.py)."""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from zoneinfo import ZoneInfo

import pytest

from api.checkins import plan
from api.checkins.plan import Override
from db import engagement, slots_sql, watch
from db import sweep as sweep_db
from tests import reference_sql
from tests.clock import FEW

# Seconds a run (populations of hundreds, and the slow plain statements): at the instants
# where the population's six zones are on the most different dates (tests/clock.py).
pytestmark = pytest.mark.clock_instants(*FEW)

ZONES = ["UTC", "America/Chicago", "America/Los_Angeles", "Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Kolkata"]


@pytest.fixture
def now() -> dt.datetime:
    """The instant the test runs at (tests/clock.py), read inside the pinned test."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


async def populate(conn, now: dt.datetime, seed: int, size: int = 400) -> dict:
    """Graduates at every stage, some never signed in, inactive, back from a deactivation,
    or under an override (set before, during or after a slot); check-ins on random days;
    open, acknowledged and resolved alerts; two counselors. Returns what the rules need."""
    rng = random.Random(seed)
    counselors = [uuid.uuid4(), uuid.uuid4()]
    await conn.executemany(
        "insert into people (id, roles, name, timezone) values ($1, array['staff'], 'C', 'UTC')",
        [(c,) for c in counselors],
    )
    grads = []
    for n in range(size):
        zone = rng.choice(ZONES)
        today = now.astimezone(ZoneInfo(zone)).date()
        iop = today - dt.timedelta(days=rng.randrange(-5, 400))
        activated_at = now - dt.timedelta(days=rng.uniform(0, 60)) if rng.random() < 0.92 else None
        reactivated_at = now - dt.timedelta(days=rng.uniform(0, 20)) if rng.random() < 0.1 else None
        override = set_at = None
        if rng.random() < 0.35:
            starts = today + dt.timedelta(days=rng.randrange(-40, 10))
            ends = starts + dt.timedelta(days=rng.randrange(0, 40)) if rng.random() < 0.6 else None
            override = Override(rng.choice(plan.CADENCES), starts, ends)
            set_at = now - dt.timedelta(days=rng.uniform(0, 50))
        checkin_days = sorted({today - dt.timedelta(days=rng.randrange(-1, 45)) for _ in range(rng.randrange(0, 40))})
        grads.append(
            dict(
                id=uuid.uuid4(),
                zone=zone,
                iop=iop,
                activated_at=activated_at,
                reactivated_at=reactivated_at,
                active=rng.random() < 0.95,
                override=override,
                set_at=set_at,
                checkins=checkin_days,
                counselor=rng.choice(counselors + [None]),
                name=f"G{n}",
            )
        )
    await conn.executemany(
        "insert into people (id, roles, name, timezone, is_active, reactivated_at)"
        " values ($1, array['participant'], $2, $3, $4, $5)",
        [(g["id"], g["name"], g["zone"], g["active"], g["reactivated_at"]) for g in grads],
    )
    await conn.executemany(
        "insert into participant_profiles (person_id, iop_completed_on, activated_at, counselor_id) values ($1, $2, $3, $4)",
        [(g["id"], g["iop"], g["activated_at"], g["counselor"]) for g in grads],
    )
    await conn.executemany(
        "insert into checkin_plans (person_id, cadence, starts_on, ends_on, set_at) values ($1, $2, $3, $4, $5)",
        [
            (g["id"], g["override"].cadence, g["override"].starts_on, g["override"].ends_on, g["set_at"])
            for g in grads
            if g["override"]
        ],
    )
    await conn.executemany(
        "insert into checkins (person_id, client_id, client_time, local_date, mood, craving, used, sleep, need_support)"
        " values ($1, gen_random_uuid(), $2, $3, 3, 1, false, 3, 'no')",
        [
            (g["id"], dt.datetime.combine(d, dt.time(rng.randrange(24)), tzinfo=dt.UTC), d)
            for g in grads
            for d in g["checkins"]
        ],
    )
    alerts = []
    for g in grads:
        for kind in ("checkin_risk", "missed_checkins", "low_adherence"):
            if rng.random() < 0.12:
                status = rng.choice(["open", "acknowledged", "resolved"])
                alerts.append((g["id"], kind, rng.randint(1, 4), status, now - dt.timedelta(days=rng.uniform(0, 12))))
    await conn.executemany(
        "insert into alerts (person_id, kind, severity, status, resolved_at) values ($1, $2, $3, $4, case when $4 = 'resolved' then $5::timestamptz end)",
        alerts,
    )
    return {"grads": grads, "counselors": counselors}


def expected_slots(grads: list[dict], days: int, now: dt.datetime) -> set[tuple]:
    """The slots that ended in the last `days` days, asked of plan.py for every day."""
    found = set()
    for g in grads:
        if not g["active"] or g["activated_at"] is None:
            continue
        zone = ZoneInfo(g["zone"])
        today = now.astimezone(zone).date()
        activated_on = max(t for t in (g["activated_at"], g["reactivated_at"]) if t).astimezone(zone).date()
        override = g["override"]
        set_on = g["set_at"].astimezone(zone).date() if override else None
        day = max(today - dt.timedelta(days=days), g["iop"], activated_on)
        while day < today:
            slot = plan.slot_for(day, g["iop"], override)
            if slot is not None and slot.ends_on == day and slot.starts_on >= activated_on:
                cut_short = (
                    override and slot.ends_on == override.starts_on - dt.timedelta(days=1) and set_on > slot.starts_on
                )
                if not cut_short:
                    done = any(slot.starts_on <= c <= slot.ends_on for c in g["checkins"])
                    found.add((g["id"], slot.starts_on, slot.ends_on, done))
            day += dt.timedelta(days=1)
    return found


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_ended_slots_agree_with_the_plan_day_by_day(conn, now, seed):
    population = await populate(conn, now, seed)
    for days in (1, 7, 14, 30, 45):
        rows = await conn.fetch(
            "with " + slots_sql.ended_slots(str(days)) + " select id, starts_on, ends_on, done from slots", now
        )
        got = [(r["id"], r["starts_on"], r["ends_on"], r["done"]) for r in rows]
        expected = expected_slots(population["grads"], days, now)
        assert expected, days  # the population has slots to compare
        assert len(got) == len(set(got))  # no slot twice
        assert set(got) == expected, days


async def test_watchlist_agrees_with_the_plain_statement(conn, now):
    population = await populate(conn, now, 4, size=500)
    for counselor in (None, population["counselors"][0]):
        everyone = await conn.fetch(reference_sql.WATCHLIST, now, counselor, 10_000, 0)
        assert len(everyone) > 50
        assert [dict(r) for r in await watch.watchlist(conn, now, counselor, 10_000, 0)] == [dict(r) for r in everyone]
        for limit, offset in ((1, 0), (7, 3), (40, 40), (25, len(everyone) - 10), (5, len(everyone) + 1)):
            page = await watch.watchlist(conn, now, counselor, limit, offset)
            assert [dict(r) for r in page] == [dict(r) for r in everyone[offset : offset + limit]]


async def test_metrics_adherence_agrees_with_the_plain_statement(conn, now):
    await populate(conn, now, 5)
    # A day has two rows where graduates' own calendars differ on whether it is in the last
    # week; metrics() adds the rows up, so they are compared as rows, in no particular order.
    expected = sorted(tuple(r) for r in await conn.fetch(reference_sql.ADHERENCE, now))
    await engagement.refresh_stale(conn, now)  # the population was written behind the state's back: all stale
    assert expected and sorted(tuple(r) for r in await conn.fetch(watch.ADHERENCE, now)) == expected


async def _sweep_outcome(conn) -> dict:
    missed = await conn.fetch(
        "select person_id, slot_starts_on, slot_ends_on, alerted, made_up_by from missed_checkins order by 1, 2"
    )
    # In the order each alert and event was written for a person and kind (the order in
    # which one statement writes several people's rows is its plan's business).
    alerts = await conn.fetch(
        "select person_id, kind, severity, status, reasons, details, opened_at from alerts order by person_id, kind, id"
    )
    events = await conn.fetch(
        "select a.person_id, a.kind, e.kind as event, e.details from alert_events e join alerts a on a.id = e.alert_id"
        " order by a.person_id, a.kind, e.id"
    )
    return {
        "missed": [dict(r) for r in missed],
        "alerts": [dict(r) for r in alerts],
        "events": [dict(r) for r in events],
    }


async def _reference_sweep(conn, now: dt.datetime, lookback_days: int) -> dict[str, int]:
    async with conn.transaction():
        await conn.execute("set local jit = off")
        missed = await conn.execute(reference_sql.RECORD_MISSED, now, lookback_days)
        consecutive = await conn.execute(reference_sql.ALERT_CONSECUTIVE, now.date(), now, None, None, None, None)
        adherence = await conn.execute(reference_sql.ALERT_ADHERENCE, now)
    return {
        "missed_recorded": int(missed.split()[-1]),
        "misses_alerted": int(consecutive.split()[-1]),
        "adherence_alerts": int(adherence.split()[-1]),
    }


async def _sweep(conn, now: dt.datetime, lookback_days: int) -> dict[str, int]:
    counts = await sweep_db.sweep(conn, now, lookback_days)
    del counts["graduates_visited"]  # the plain statements look at everyone
    return counts


@pytest.mark.parametrize("lookback_days", [3, 7, 20])
async def test_sweep_agrees_with_the_plain_statements(conn, now, lookback_days):
    await populate(conn, now, 6 + lookback_days, size=300)
    # Some misses already recorded (alerted or not) by an earlier sweep.
    await conn.execute(reference_sql.RECORD_MISSED, now - dt.timedelta(days=3), 7)
    await conn.execute("update missed_checkins set alerted = true where random() < 0.3")
    outcomes = []
    for run in (_reference_sweep, _sweep):
        transaction = conn.transaction()
        await transaction.start()
        try:
            counts = [await run(conn, now, lookback_days), await run(conn, now + dt.timedelta(days=2), lookback_days)]
            outcomes.append((counts, await _sweep_outcome(conn)))
        finally:
            await transaction.rollback()
    (expected_counts, expected), (counts, got) = outcomes
    assert expected_counts[0]["missed_recorded"] > 0 and expected_counts[0]["adherence_alerts"] > 0
    assert counts == expected_counts
    assert json.dumps(got, default=str) == json.dumps(expected, default=str)
