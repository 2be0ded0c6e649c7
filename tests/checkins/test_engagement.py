"""The engagement state (db/engagement.py) against the plain statements (tests/checkins/reference_sql.py)
and against itself rebuilt from history: a random population lives through a week of random
events (check-ins up to 7 days late, overrides set mid-slot and cleared, time zones changed,
also across the date line, deactivations and returns, first sign-ins, deletions, alerts
resolved), across a daylight-saving change, with the sweep after each step."""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from zoneinfo import ZoneInfo

import pytest

from api.checkins import plan
from db import engagement, slots_sql, watch
from db import sweep as sweep_db
from tests.checkins import reference_sql
from tests.checkins.population import ZONES, populate, reference_sweep, sweep_outcome

# The US changes its clocks on 2026-03-08: the week runs across it.
START = dt.datetime(2026, 3, 5, 17, 30, tzinfo=dt.UTC)


async def _apply_random_events(conn, rng: random.Random, now: dt.datetime, grads: list[dict]) -> None:
    people = [r["id"] for r in await conn.fetch("select person_id as id from participant_profiles order by 1")]
    zones = {r["id"]: r["timezone"] for r in await conn.fetch("select id, timezone from people")}
    for person in rng.sample(people, min(len(people), 60)):
        event = rng.choice(["checkin"] * 4 + ["override", "clear", "zone", "away", "back", "sign_in", "resolve"])
        today = now.astimezone(ZoneInfo(zones[person])).date()
        if event == "checkin":
            day = today - dt.timedelta(days=rng.randrange(0, 8))  # up to 7 days late
            await conn.execute(
                "insert into checkins (person_id, client_id, client_time, local_date, mood, craving, used, sleep,"
                " need_support) values ($1, gen_random_uuid(), $2, $3, 3, 1, false, 3, 'no')",
                person,
                now - dt.timedelta(hours=rng.randrange(0, 170)),
                day,
            )
        elif event == "override":
            starts = today + dt.timedelta(days=rng.randrange(-3, 4))  # often in the middle of a slot
            ends = starts + dt.timedelta(days=rng.randrange(0, 20)) if rng.random() < 0.6 else None
            await conn.execute(
                "insert into checkin_plans (person_id, cadence, starts_on, ends_on, set_at) values ($1, $2, $3, $4, $5)"
                " on conflict (person_id) do update set cadence = excluded.cadence, starts_on = excluded.starts_on,"
                " ends_on = excluded.ends_on, set_at = excluded.set_at",
                person,
                rng.choice(plan.CADENCES),
                starts,
                ends,
                now,
            )
        elif event == "clear":
            await conn.execute("delete from checkin_plans where person_id = $1", person)
        elif event == "zone":
            # Kiritimati and Pago Pago are a day apart on the same clock time.
            await conn.execute("update people set timezone = $2 where id = $1", person, rng.choice(ZONES))
        elif event == "away":
            await conn.execute("update people set is_active = false where id = $1", person)
        elif event == "back":
            await conn.execute(
                "update people set is_active = true, reactivated_at = $2 where id = $1 and not is_active", person, now
            )
        elif event == "sign_in":
            await conn.execute(
                "update participant_profiles set activated_at = $2 where person_id = $1 and activated_at is null",
                person,
                now,
            )
        else:
            await conn.execute(
                "update alerts set status = 'resolved', resolved_at = $2 where person_id = $1 and status <> 'resolved'",
                person,
                now,
            )
    if rng.random() < 0.5:
        await conn.execute("delete from people where id = $1", rng.choice(people))


async def _state(conn, now: dt.datetime) -> dict:
    """What the state says, leaving out when it was worked out (`today`, `fresh_until`,
    `visit_at`: a rebuild works everyone out at once), slots older than any window and slots
    further ahead than the last visit kept (it keeps three weeks from then; a rebuild from
    now). The current slot is the one kept that holds today: a graduate who missed nothing is
    not visited when a slot ends, so the row's own is as of its `today`; "overdue" and "needs
    attention" as readers see them at `now` (an overdue graduate's done slot ending clears it
    without a visit)."""
    people = await conn.fetch(
        """
        select e.person_id, e.counselor_id, e.zone, c.starts_on as slot_starts_on, c.ends_on as slot_ends_on,
               c.done as slot_done, e.last_checkin_at, e.last_checkin_on, e.consecutive_misses,
               """
        + engagement.overdue_at("$1")
        + """ as overdue, e.open_alerts, e.top_severity,
               e.top_severity is not null or (e.zone is null and e.fresh_until <> '-infinity')
                   or """
        + engagement.overdue_at("$1")
        + """ as needs_attention
        from engagement e
        left join lateral (select s.starts_on, s.ends_on, s.done from engagement_slots s
                           where s.person_id = e.person_id
                             and ($1::timestamptz at time zone e.zone)::date between s.starts_on and s.ends_on
                          ) c on true
        order by e.person_id
        """,
        now,
    )
    slots = await conn.fetch(
        "select * from engagement_slots where ends_on between $1::date - 29 and $1::date + 5"
        " order by person_id, starts_on",
        now.date(),
    )
    return {"people": [dict(r) for r in people], "slots": [dict(r) for r in slots]}


def _assert_same_state(kept: dict, rebuilt: dict) -> None:
    for part in ("people", "slots"):
        left = {json.dumps(r, default=str, sort_keys=True) for r in kept[part]}
        right = {json.dumps(r, default=str, sort_keys=True) for r in rebuilt[part]}
        if left ^ right:
            print("KEPT", *sorted(left - right)[:3], "REBUILT", *sorted(right - left)[:3], sep="\n")
        assert not (left ^ right), part


def _rows(records) -> list[dict]:
    return [dict(r) for r in records]


async def _compare_reads(conn, now: dt.datetime, counselors: list[uuid.UUID]) -> None:
    for counselor in (None, *counselors):
        expected = _rows(await conn.fetch(reference_sql.WATCHLIST, now, counselor, 100_000, 0))
        assert _rows(await watch.watchlist(conn, now, counselor, 100_000, 0)) == expected, counselor
        for limit, offset in ((1, 0), (7, 3), (25, max(len(expected) - 10, 0))):
            page = await watch.watchlist(conn, now, counselor, limit, offset)
            assert _rows(page) == expected[offset : offset + limit]
    # The metrics' adherence, by day and whether in each graduate's last week, and the rest;
    # again after a reader folded a slice of the deltas (the answers must not move).
    expected_adherence = sorted(tuple(r) for r in await conn.fetch(reference_sql.ADHERENCE, now))
    active = await conn.fetchval("with " + slots_sql.graduates() + " select count(*)::int from graduates", now)
    checkins = await conn.fetch(
        "select local_date as day, count(*)::int as checkins from checkins"
        " where local_date >= ($1::timestamptz at time zone 'UTC')::date - 29 group by 1 order by 1",
        now,
    )
    for _ in range(2):
        assert sorted(tuple(r) for r in await conn.fetch(watch.ADHERENCE, now)) == expected_adherence
        assert await conn.fetchval(watch.ACTIVE_GRADUATES) == active
        assert _rows(await conn.fetch(watch.CHECKINS_BY_DAY, now)) == _rows(checkins)
        await engagement.fold_some_deltas(conn, 5)


async def _step_and_compare(conn, now: dt.datetime, counselors: list[uuid.UUID]) -> int:
    """One sweep at `now`, held to the plain statements from the same starting point, and the
    reads after it; returns how many it visited."""
    transaction = conn.transaction()
    await transaction.start()
    expected_counts = await reference_sweep(conn, now, 7)
    expected = await sweep_outcome(conn)
    await transaction.rollback()
    counts = await sweep_db.sweep(conn, now)
    visited = counts.pop("graduates_visited")
    assert counts == expected_counts, now
    assert json.dumps(await sweep_outcome(conn), default=str) == json.dumps(expected, default=str)
    await _compare_reads(conn, now, counselors)
    return visited


async def _assert_kept_equals_rebuilt(conn, now: dt.datetime, counselors: list[uuid.UUID]) -> None:
    """Kept as it happened = worked out again from history (rolled back after), and the reads
    after the rebuild equal the plain statements' too."""
    kept = await _state(conn, now)
    transaction = conn.transaction()
    await transaction.start()
    await engagement.rebuild(conn, now)
    rebuilt = await _state(conn, now)
    await _compare_reads(conn, now, counselors)
    await transaction.rollback()
    _assert_same_state(kept, rebuilt)


@pytest.mark.parametrize("seed", [11, 12])
async def test_a_week_of_random_events_keeps_the_state_equal_to_the_plain_statements_and_to_a_rebuild(conn, seed):
    rng = random.Random(seed)
    now = START
    population = await populate(conn, now, seed, size=300)
    await sweep_db.sweep(conn, now)  # everyone worked out once, as after the migration
    visited = []
    for _ in range(7):
        now += dt.timedelta(hours=rng.randrange(9, 40), minutes=rng.randrange(60))
        await _apply_random_events(conn, rng, now, population["grads"])

        visited.append(await _step_and_compare(conn, now, population["counselors"]))
        await _assert_kept_equals_rebuilt(conn, now, population["counselors"])
    # Incremental: a step visits those whose slot ended or whose plan changed, not everyone.
    assert 0 < min(visited) and max(visited) < 300


async def test_the_sweep_visits_nobody_twice_for_the_same_slot(conn):
    population = await populate(conn, START, 21, size=200)
    first = await sweep_db.sweep(conn, START)
    assert first["graduates_visited"] == len(
        [g for g in population["grads"] if g["active"] and g["activated_at"] is not None]
    )
    assert (await sweep_db.sweep(conn, START))["graduates_visited"] == 0
    # Ten minutes on, only those whose slot ended in those ten minutes (a zone's midnight).
    later = START + dt.timedelta(minutes=10)
    due = await conn.fetchval("select count(*) from engagement where visit_at <= $1", later)
    assert (await sweep_db.sweep(conn, later))["graduates_visited"] == due


async def test_a_slot_that_ends_with_its_check_in_costs_no_visit_and_the_answers_stay_the_same(conn):
    """Graduates on daily slots (the first four weeks after the IOP) for 16 days, across the
    daylight-saving change and the date line: most check in nearly every day, a few fade.
    Counselors resolve alerts now and then (a low-adherence one holds the next back a week).
    The sweep every 8 hours visits only those whose slot ended without a check-in, plus one
    visit per graduate before the slots it keeps ahead run out; after every run the misses,
    alerts, watchlist and metrics equal the plain statements', and the state a rebuild's."""
    rng = random.Random(7)
    now = START
    counselor = uuid.uuid4()
    await conn.execute(
        "insert into people (id, roles, name, timezone) values ($1, array['staff'], 'C', 'UTC')", counselor
    )
    chance = {}  # per graduate, the chance of a check-in at each 8-hour step
    for n in range(40):
        person, zone = uuid.UUID(int=rng.getrandbits(128), version=4), ZONES[n % len(ZONES)]
        today = now.astimezone(ZoneInfo(zone)).date()
        await conn.execute(
            "insert into people (id, roles, name, timezone) values ($1, array['participant'], 'G', $2)", person, zone
        )
        await conn.execute(
            "insert into participant_profiles (person_id, iop_completed_on, activated_at, counselor_id)"
            " values ($1, $2, $3, $4)",
            person,
            today - dt.timedelta(days=2),
            now - dt.timedelta(hours=1),
            counselor,
        )
        chance[person] = 1.0 if n == 0 else 0.15 if n % 8 == 7 else 0.75
    steady = next(iter(chance))  # checks in at every step
    assert await _step_and_compare(conn, now, [counselor]) == 40
    visits, steady_dates = 0, set()
    for _ in range(16 * 3):
        for person, zone in [
            (r["id"], r["timezone"])
            for r in await conn.fetch("select id, timezone from people where 'participant' = any(roles) order by id")
        ]:
            if rng.random() < chance[person]:
                await conn.execute(
                    "insert into checkins (person_id, client_id, client_time, local_date, mood, craving, used, sleep,"
                    " need_support) values ($1, gen_random_uuid(), $2, $3, 3, 1, false, 3, 'no')",
                    person,
                    now,
                    now.astimezone(ZoneInfo(zone)).date(),
                )
        if rng.random() < 0.3:  # a counselor resolves someone's alerts: a new one may come a week on
            await conn.execute(
                "update alerts set status = 'resolved', resolved_at = $2"
                " where person_id = (select person_id from alerts where status <> 'resolved' order by"
                " md5(person_id::text || $1) limit 1) and status <> 'resolved'",
                str(rng.random()),
                now,
            )
        now += dt.timedelta(hours=8)
        visits += await _step_and_compare(conn, now, [counselor])
        steady_dates.add(await conn.fetchval("select today from engagement where person_id = $1", steady))
    await _assert_kept_equals_rebuilt(conn, now, [counselor])
    # The one who never misses: the first visit, and one before the slots ahead ran out.
    assert len(steady_dates) <= 3, steady_dates
    # 40 graduates x 16 slots ended, each a visit before; now those that ended done cost
    # nothing unless the graduate is overdue or the adherence rule may speak (the faders).
    assert 0 < visits < 40 * 16 / 2, visits
    print(f"visits {visits} for 16 days of 40 graduates' daily slots")


CHICAGO = ZoneInfo("America/Chicago")


async def _daily_graduate(conn, now: dt.datetime) -> uuid.UUID:
    """A graduate in Chicago on daily slots (10 days after the IOP), signed in 9 days ago."""
    person = uuid.uuid4()
    await conn.execute(
        "insert into people (id, roles, name, timezone) values ($1, array['participant'], 'G', $2)", person, CHICAGO.key
    )
    await conn.execute(
        "insert into participant_profiles (person_id, iop_completed_on, activated_at) values ($1, $2, $3)",
        person,
        now.astimezone(CHICAGO).date() - dt.timedelta(days=10),
        now - dt.timedelta(days=9),
    )
    return person


async def _check_in(conn, person: uuid.UUID, day: dt.date) -> None:
    """A check-in at noon of that day in Chicago, stored as the API stores it."""
    await conn.execute(
        "insert into checkins (person_id, client_id, client_time, local_date, mood, craving, used, sleep,"
        " need_support) values ($1, gen_random_uuid(), $2, $3, 3, 1, false, 3, 'no')",
        person,
        dt.datetime.combine(day, dt.time(12), tzinfo=CHICAGO),
        day,
    )


async def test_an_overdue_graduate_who_checks_in_is_not_visited_when_that_slot_ends(conn):
    """Yesterday's daily slot missed, so overdue; a check-in today fills today's slot. The
    sweep does not come at tonight's midnight (the slot ends done: nothing anyone reads
    changes but "overdue", which readers end with the slot), and the watchlist lists them
    until then and not after, as the plain statements do."""
    now = START  # 11:30 in Chicago
    today = now.astimezone(CHICAGO).date()
    person = await _daily_graduate(conn, now)
    for back in range(8, 1, -1):  # every day but yesterday
        await _check_in(conn, person, today - dt.timedelta(days=back))
    assert (await sweep_db.sweep(conn, now))["graduates_visited"] == 1
    listed = await watch.watchlist(conn, now, None, 10, 0)
    assert [(r["participant_id"], r["overdue"]) for r in listed] == [(person, True)]

    await _check_in(conn, person, today)
    midnight = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), tzinfo=CHICAGO)
    assert await conn.fetchval("select visit_at from engagement where person_id = $1", person) > midnight
    before, after = midnight - dt.timedelta(minutes=1), midnight + dt.timedelta(minutes=10)
    assert (await sweep_db.sweep(conn, after))["graduates_visited"] == 0
    for at, on_the_list in ((before, True), (after, False)):
        expected = _rows(await conn.fetch(reference_sql.WATCHLIST, at, None, 10, 0))
        assert _rows(await watch.watchlist(conn, at, None, 10, 0)) == expected
        assert bool(expected) is on_the_list, at


async def test_a_check_in_after_a_reader_worked_a_graduate_out_keeps_the_visit_the_sweep_owes(conn):
    """A reader works out a graduate an event made stale (here: just signed in, a missed day
    in their history) but records no misses: that is the sweep's. A check-in before the sweep
    comes must not move that visit on: the miss is recorded at the next run, as the plain
    statements record it."""
    now = START
    today = now.astimezone(CHICAGO).date()
    person = await _daily_graduate(conn, now)
    for back in (8, 7, 6, 5, 4, 3, 2, 0):  # not yesterday; today's last, after the reader
        if back == 0:
            await watch.watchlist(conn, now, None, 10, 0)  # the reader works them out
            assert await conn.fetchval("select overdue from engagement where person_id = $1", person)
        await _check_in(conn, person, today - dt.timedelta(days=back))
    await _step_and_compare(conn, now + dt.timedelta(minutes=1), [])
    assert await conn.fetchval("select count(*) from missed_checkins where person_id = $1", person) == 1
