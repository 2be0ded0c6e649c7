"""A check-in and the missed-check-in sweep for the same graduate at the same moment, raced
many times (a fresh graduate each round, the check-in through the real API served by
uvicorn, the sweeps on their own asyncpg connections, all started with asyncio.gather):

* no lost update: after both commit, the slot with the check-in is done in
  `engagement_slots`, `engagement.last_checkin_at` is the check-in's, and the whole state
  row and slot list equal what the graduate's history works out to at the same instant;
* no miss stands against a slot that has a check-in, unless the check-in made it up
  (`made_up_by`) or an alert counted it before the check-in existed (the check-in then
  shows on that alert, which proves the alert came first);
* a miss is never counted twice: with two sweeps and a check-in at once, one alert, one
  "opened" event, one nudge, and the misses alerted add up to one sweep's worth.

Whichever side wins varies from round to round (a random head start for the sweep); the
split is listed at the end of the run, so a run where one side always won is visible.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import uuid

import asyncpg
import httpx
import pytest

from db import engagement
from db.sweep import Nudge, sweep
from tests import helpers
from tests.config import make_settings
from tests.live_server import LiveServer
from tests.summary import report

ROUNDS = 30
# Up to this many seconds for the check-in before a sweep starts: about one request's time
# through the live server, so that each side wins a fair share of the rounds.
HEAD_START = 0.006
NUDGE = Nudge("We missed you", "Check in when you can.", "We missed you", "Open the app to check in.")
# The state columns the check-in's trigger keeps up to date between sweeps. (`today` and the
# row's own current slot are as of the last visit: a check-in that fills the only slot
# missed lately leaves nothing for the sweep to do until the next slot ends, so the sweep
# rightly skips the graduate; the slots kept, compared below, hold the current one.)
STATE = "last_checkin_at, last_checkin_on, consecutive_misses, overdue"


@pytest.fixture
async def live(database_url, conn):
    # A real server in its own thread with its own pool: its check-in runs truly beside the
    # sweep's connection (the in-process test client would run one request at a time).
    with LiveServer(make_settings(database_url, hash_queue=100)) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            yield http


@pytest.fixture
async def sweepers(database_url):
    """Two more connections, one per concurrent sweep."""
    a, b = await asyncpg.connect(database_url), await asyncpg.connect(database_url)
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


async def _late_check_in(live, headers, day: dt.date) -> httpx.Response:
    # Noon of yesterday in the graduate's zone (UTC): late, but well within the 7 days allowed.
    at = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
    return await live.post("/v1/checkins", json=helpers.checkin_body(client_time=at.isoformat()), headers=headers)


async def _sweep_after(conn, now: dt.datetime, head_start: float) -> dict[str, int]:
    # A random head start for the check-in, so that either side wins some rounds.
    await asyncio.sleep(head_start)
    return await sweep(conn, now, nudge=NUDGE)


async def _assert_state_is_history(conn, now: dt.datetime, person: uuid.UUID) -> None:
    """The state row and slots as kept equal the same graduate worked out from history at the
    same instant: any update lost between the trigger and the sweep shows as a difference."""
    kept = await conn.fetchrow(f"select {STATE} from engagement where person_id = $1", person)
    # Up to five days ahead: a visit keeps three weeks ahead of its own day.
    kept_slots = await conn.fetch(
        "select starts_on, ends_on, done from engagement_slots where person_id = $1 and ends_on <= $2::date + 5"
        " order by starts_on",
        person,
        now.date(),
    )
    tr = conn.transaction()
    await tr.start()
    try:  # rolled back: nothing kept is touched
        # Stale, so it is worked out whole from history rather than from the slots kept.
        await conn.execute("update engagement set fresh_until = '-infinity' where person_id = $1", person)
        await conn.execute(engagement.TEMP_TABLES)
        await conn.execute(engagement.work_out(engagement.KEPT_DAYS), now, [person])
        worked = await conn.fetchrow(f"select {STATE} from fresh_people where person_id = $1", person)
        worked_slots = await conn.fetch(
            "select starts_on, ends_on, done from fresh_slots where person_id = $1 and ends_on <= $2::date + 5"
            " order by starts_on",
            person,
            now.date(),
        )
    finally:
        await tr.rollback()
    assert dict(kept) == dict(worked), f"state row differs from history for {person}"
    assert [tuple(s) for s in kept_slots] == [tuple(s) for s in worked_slots], f"slots differ for {person}"


async def _assert_check_in_counted(conn, person: uuid.UUID, checkin: dict, day: dt.date) -> None:
    """No lost update: the check-in's slot is done and it is the newest check-in on the row."""
    done = await conn.fetchval("select done from engagement_slots where person_id = $1 and starts_on = $2", person, day)
    assert done is True, f"slot {day} of {person} not done after its check-in: {done}"
    row = await conn.fetchrow("select last_checkin_at, last_checkin_on from engagement where person_id = $1", person)
    assert row["last_checkin_at"] == dt.datetime.fromisoformat(checkin["client_time"]), (dict(row), checkin)
    assert row["last_checkin_on"] == day


async def _assert_no_miss_stands(conn, person: uuid.UUID, checkin: dict, day: dt.date) -> str:
    """A miss recorded for the checked-in slot is made up by it, or was alerted before it
    existed. Returns which of the three happened (for the split reported at the end)."""
    miss = await conn.fetchrow(
        "select alerted, made_up_by from missed_checkins where person_id = $1 and slot_starts_on = $2", person, day
    )
    if miss is None:
        return "check-in first"
    if miss["made_up_by"] is not None:
        assert miss["made_up_by"] == uuid.UUID(checkin["id"]), dict(miss)
        return "sweep first, made up"
    assert miss["alerted"], f"miss of {day} for {person} stands, neither made up nor alerted: {dict(miss)}"
    # The check-in saw the alert open (note_checkin wrote it on the alert): the alert was first.
    seen = await conn.fetchval(
        "select count(*) from alert_events e join alerts a on a.id = e.alert_id"
        " where a.person_id = $1 and a.kind = 'missed_checkins' and e.kind = 'checkin' and e.checkin_id = $2",
        person,
        uuid.UUID(checkin["id"]),
    )
    assert seen == 1, f"miss of {day} for {person} alerted but the alert did not exist before the check-in"
    return "sweep first, alerted"


async def test_a_late_check_in_racing_the_sweep_is_never_lost_nor_left_as_a_miss(live, conn, sweepers):
    now = dt.datetime.now(dt.UTC)  # pinned: the sweep runs at this instant whatever the round
    today = now.date()
    yesterday = today - dt.timedelta(days=1)
    rng = random.Random(20260617)
    staff = await helpers.account(live, conn, helpers.Hasher("cheapest"), ["staff"])
    outcomes: dict[str, int] = {}
    for round_no in range(ROUNDS):
        # Checked in every day but yesterday: one miss, too few for an alert, so the only
        # way the miss may stand is not at all (or made up).
        person, headers = await helpers.graduate_with_history(
            live, conn, staff, today=today, iop_days_ago=10, checkin_days=list(range(-10, -1)), alias=f"R{round_no}"
        )
        if round_no % 2:
            # Half the rounds: worked out yesterday, so the slot rows exist and the check-in's
            # trigger is what marks the slot done; the other half start stale (no rows yet).
            await sweep(sweepers[0], now - dt.timedelta(days=1))
        answer, counts = await asyncio.gather(
            _late_check_in(live, headers, yesterday), _sweep_after(sweepers[1], now, rng.uniform(0, HEAD_START))
        )
        assert answer.status_code == 201, answer.text
        assert counts["misses_alerted"] == 0, counts
        checkin = answer.json()
        await _assert_check_in_counted(conn, person, checkin, yesterday)
        outcome = await _assert_no_miss_stands(conn, person, checkin, yesterday)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        await _assert_state_is_history(conn, now, person)
    assert await conn.fetchval("select count(*) from alerts where kind = 'missed_checkins'") == 0
    report(f"check-in vs sweep, {ROUNDS} rounds: {outcomes}")


async def test_two_sweeps_and_a_check_in_at_once_count_each_miss_once(live, conn, sweepers):
    now = dt.datetime.now(dt.UTC)
    today = now.date()
    yesterday = today - dt.timedelta(days=1)
    rng = random.Random(61720262)
    staff = await helpers.account(live, conn, helpers.Hasher("cheapest"), ["staff"])
    outcomes: dict[str, int] = {}
    for round_no in range(ROUNDS):
        # The last two days missed: a sweep that wins alerts about both (2 in a row); a
        # check-in for yesterday that wins leaves the day before as one miss, no alert.
        person, headers = await helpers.graduate_with_history(
            live, conn, staff, today=today, iop_days_ago=10, checkin_days=list(range(-10, -2)), alias=f"S{round_no}"
        )
        answer, first, second = await asyncio.gather(
            _late_check_in(live, headers, yesterday),
            _sweep_after(sweepers[0], now, rng.uniform(0, HEAD_START)),
            _sweep_after(sweepers[1], now, rng.uniform(0, HEAD_START)),
        )
        assert answer.status_code == 201, answer.text
        checkin = answer.json()
        await _assert_check_in_counted(conn, person, checkin, yesterday)
        outcome = await _assert_no_miss_stands(conn, person, checkin, yesterday)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        await _assert_state_is_history(conn, now, person)
        # The two sweeps take turns: one visits and records, the other finds nothing new.
        assert sorted(c["graduates_visited"] for c in (first, second)) == [0, 1], (first, second)
        alerted = first["misses_alerted"] + second["misses_alerted"]
        misses = await conn.fetch(
            "select slot_starts_on, alerted from missed_checkins where person_id = $1 order by 1", person
        )
        alerts = await conn.fetch("select severity, reasons, details from alerts where person_id = $1", person)
        opened = await conn.fetchval(
            "select count(*) from alert_events e join alerts a on a.id = e.alert_id"
            " where a.person_id = $1 and e.kind = 'opened'",
            person,
        )
        nudges = await conn.fetchval(
            "select count(*) from notifications where person_id = $1 and kind = 'missed_checkin'", person
        )
        if outcome == "sweep first, alerted":
            assert alerted == 2, (first, second)  # the two misses, once, not 4
            assert [(m["slot_starts_on"], m["alerted"]) for m in misses] == [
                (today - dt.timedelta(days=2), True),
                (yesterday, True),
            ]
            [alert] = alerts
            # jsonb comes back as text on a bare connection (no codec set): parsed here.
            assert alert["severity"] == 2 and len(json.loads(alert["reasons"])) == 1, dict(alert)
            assert json.loads(alert["details"]) == {"consecutive_misses": 2}, alert["details"]
            assert (opened, nudges) == (1, 1)
        else:
            # The check-in came first: the day before stands alone, below the alert's threshold.
            assert outcome == "check-in first", outcome
            assert alerted == 0, (first, second)
            assert [(m["slot_starts_on"], m["alerted"]) for m in misses] == [(today - dt.timedelta(days=2), False)]
            assert (len(alerts), opened, nudges) == (0, 0, 0)
    report(f"check-in vs two sweeps, {ROUNDS} rounds: {outcomes}")


async def test_the_same_check_in_sent_twice_at_once_is_stored_once_and_both_get_its_answer(live, conn):
    """The insert that stores a check-in also makes up a miss and reads the earlier ones, in
    one statement: two copies at once through the live server store one row, make the miss
    up once, and both answer with the same check-in."""
    now = dt.datetime.now(dt.UTC)
    today = now.date()
    yesterday = today - dt.timedelta(days=1)
    staff = await helpers.account(live, conn, helpers.Hasher("cheapest"), ["staff"])
    for round_no in range(10):
        person, headers = await helpers.graduate_with_history(
            live, conn, staff, today=today, iop_days_ago=10, checkin_days=list(range(-10, -1)), alias=f"T{round_no}"
        )
        await sweep(conn, now)  # yesterday's miss recorded, no alert (one alone)
        at = dt.datetime.combine(yesterday, dt.time(12), tzinfo=dt.UTC)
        body = helpers.checkin_body(client_time=at.isoformat())
        first, second = await asyncio.gather(*(live.post("/v1/checkins", json=body, headers=headers) for _ in "ab"))
        assert sorted((first.status_code, second.status_code)) == [200, 201], (first.text, second.text)
        assert first.json()["id"] == second.json()["id"]
        stored = await conn.fetchval(
            "select count(*) from checkins where person_id = $1 and client_id = $2",
            person,
            uuid.UUID(body["client_id"]),
        )
        assert stored == 1
        made_up = await conn.fetchval(
            "select made_up_by from missed_checkins where person_id = $1 and slot_starts_on = $2", person, yesterday
        )
        assert made_up == uuid.UUID(first.json()["id"])
