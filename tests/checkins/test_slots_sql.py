"""The set-based slot SQL (db/slots_sql.py) and what is built on it (the sweep, the watchlist,
the metrics) against the rules: a random population with every kind of plan, override,
activation, time zone and check-in history, compared day by day with api/checkins/plan.py,
and with the plain statements they replaced (tests/checkins/reference_sql.py)."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest

from api.checkins import plan
from db import engagement, slots_sql, watch
from db import sweep as sweep_db
from tests.checkins import reference_sql
from tests.checkins.population import populate, reference_sweep, sweep_outcome
from tests.clock import FEW

# Seconds a run (populations of hundreds, and the slow plain statements): at the instants
# where the population's six zones are on the most different dates (tests/clock.py).
pytestmark = pytest.mark.clock_instants(*FEW)


@pytest.fixture
def now() -> dt.datetime:
    """The instant the test runs at (tests/clock.py), read inside the pinned test."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


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
    for run in (reference_sweep, _sweep):
        transaction = conn.transaction()
        await transaction.start()
        try:
            counts = [await run(conn, now, lookback_days), await run(conn, now + dt.timedelta(days=2), lookback_days)]
            outcomes.append((counts, await sweep_outcome(conn)))
        finally:
            await transaction.rollback()
    (expected_counts, expected), (counts, got) = outcomes
    assert expected_counts[0]["missed_recorded"] > 0 and expected_counts[0]["adherence_alerts"] > 0
    assert counts == expected_counts
    assert json.dumps(got, default=str) == json.dumps(expected, default=str)
