"""The missed-check-in sweep: exactly once, also with two at once; alerts; late check-ins."""

import asyncio
import datetime as dt
import uuid

import asyncpg
import pytest

from db.sweep import sweep
from tests import helpers
from tests.clock import FEW

# The graduates live in UTC: only UTC's date matters, not a DST change (tests/clock.py).
pytestmark = pytest.mark.clock_instants(*FEW)

TODAY: dt.date  # set by _today


@pytest.fixture(autouse=True)
def _today(clock_instant):
    """The date of the instant the test runs at (tests/clock.py), read inside the pinned test."""
    global TODAY
    TODAY = dt.datetime.now(dt.UTC).date()


def day(offset: int) -> dt.date:
    return TODAY + dt.timedelta(days=offset)


async def graduate(client, conn, staff, *, iop_days_ago: int, checkin_days: list[int], activated=True, alias="G"):
    return await helpers.graduate_with_history(
        client,
        conn,
        staff,
        today=TODAY,
        iop_days_ago=iop_days_ago,
        checkin_days=checkin_days,
        activated=activated,
        alias=alias,
    )


async def test_sweep_records_misses_once_and_alerts(client, conn, staff, database_url):
    four_missed, _ = await graduate(
        client, conn, staff, iop_days_ago=20, checkin_days=list(range(-20, -4)), alias="Four"
    )
    one_missed, _ = await graduate(client, conn, staff, iop_days_ago=20, checkin_days=list(range(-20, -1)), alias="One")
    await graduate(client, conn, staff, iop_days_ago=20, checkin_days=[], activated=False, alias="Never")
    now = dt.datetime.now(dt.UTC)
    first = await sweep(conn, now)
    assert first == {"graduates_visited": 2, "missed_recorded": 5, "misses_alerted": 4, "adherence_alerts": 0}
    rows = await conn.fetch(
        "select person_id, slot_starts_on, alerted from missed_checkins order by person_id, slot_starts_on"
    )
    assert sorted((r["person_id"] == four_missed, r["slot_starts_on"], r["alerted"]) for r in rows) == sorted(
        [(True, day(d), True) for d in (-4, -3, -2, -1)] + [(False, day(-1), False)]
    )
    [alert] = await conn.fetch("select person_id, kind, severity, details from alerts")
    assert (alert["person_id"], alert["kind"], alert["severity"]) == (four_missed, "missed_checkins", 3)
    # Again, and twice at once: nothing changes, and nobody is visited (no slot ended since).
    nothing = {"graduates_visited": 0, "missed_recorded": 0, "misses_alerted": 0, "adherence_alerts": 0}
    assert await sweep(conn, now) == nothing
    a, b = await asyncpg.connect(database_url), await asyncpg.connect(database_url)
    try:
        results = await asyncio.gather(sweep(a, now), sweep(b, now))
    finally:
        await a.close()
        await b.close()
    assert results == [nothing] * 2
    assert await conn.fetchval("select count(*) from missed_checkins") == 5
    assert await conn.fetchval("select count(*) from alert_events") == 1


async def test_two_sweeps_at_once_on_fresh_misses_record_each_once(client, conn, staff, database_url):
    for i in range(5):
        await graduate(client, conn, staff, iop_days_ago=10, checkin_days=[-10, -9, -8], alias=f"P{i}")
    a, b = await asyncpg.connect(database_url), await asyncpg.connect(database_url)
    now = dt.datetime.now(dt.UTC)
    try:
        results = await asyncio.gather(sweep(a, now), sweep(b, now))
    finally:
        await a.close()
        await b.close()
    assert sorted(r["missed_recorded"] for r in results) == [0, 5 * 7]
    assert await conn.fetchval("select count(*) from missed_checkins") == 35
    assert await conn.fetchval("select count(*) from alerts where kind = 'missed_checkins'") == 5


async def test_two_misses_are_medium_and_grow_to_high(client, conn, staff):
    person, _ = await graduate(client, conn, staff, iop_days_ago=20, checkin_days=list(range(-20, -2)))
    now = dt.datetime.now(dt.UTC)
    await sweep(conn, now)
    assert await conn.fetchval("select severity from alerts where person_id = $1", person) == 2
    later = now + dt.timedelta(days=2)
    await sweep(conn, later)
    alert = await conn.fetchrow("select severity, reasons from alerts where person_id = $1", person)
    assert alert["severity"] == 3 and len(alert["reasons"]) > 1  # the same alert, with a new reason


async def test_low_adherence(client, conn, staff):
    # 5 check-ins in 14 daily slots (under half), the last one yesterday.
    person, _ = await graduate(client, conn, staff, iop_days_ago=20, checkin_days=[-14, -11, -8, -5, -1])
    counts = await sweep(conn, dt.datetime.now(dt.UTC))
    assert counts["adherence_alerts"] == 1
    kinds = await conn.fetch("select kind, details from alerts where person_id = $1 order by kind", person)
    # Yesterday's check-in ended the run of misses, so only the adherence alert is raised.
    assert [k["kind"] for k in kinds] == ["low_adherence"]
    assert await sweep(conn, dt.datetime.now(dt.UTC)) == {
        "graduates_visited": 0,
        "missed_recorded": 0,
        "misses_alerted": 0,
        "adherence_alerts": 0,
    }


async def test_a_graduate_who_never_checks_in_is_alerted(client, conn, staff):
    person, _ = await graduate(client, conn, staff, iop_days_ago=10, checkin_days=[])
    counts = await sweep(conn, dt.datetime.now(dt.UTC))
    assert counts["missed_recorded"] == 7
    kinds = {
        r["kind"]: r["severity"]
        for r in await conn.fetch("select kind, severity from alerts where person_id = $1", person)
    }
    assert kinds == {"missed_checkins": 3, "low_adherence": 2}


async def test_no_false_misses_from_a_mid_slot_override_or_a_reactivation(client, conn, staff):
    # On a weekly plan (day 100): an override to daily set today cuts this week's slot short.
    weekly, _ = await graduate(
        client, conn, staff, iop_days_ago=100, checkin_days=list(range(-100, -10)), alias="Weekly"
    )
    response = await client.put(
        f"/v1/staff/participants/{weekly}/plan", json={"cadence": "daily"}, headers=staff.headers
    )
    assert response.status_code == 200, response.text
    # Deactivated for two weeks, back today: the days away are not misses.
    away, _ = await graduate(client, conn, staff, iop_days_ago=20, checkin_days=list(range(-20, -14)), alias="Away")
    await client.post(f"/v1/staff/participants/{away}/deactivate", headers=staff.headers)
    await client.post(f"/v1/staff/participants/{away}/reactivate", headers=staff.headers)
    await sweep(conn, dt.datetime.now(dt.UTC))
    weekly_misses = await conn.fetch(
        "select slot_starts_on, slot_ends_on from missed_checkins where person_id = $1", weekly
    )
    this_week = TODAY - dt.timedelta(days=TODAY.isoweekday() - 1)
    assert all(m["slot_starts_on"] < this_week for m in weekly_misses)  # only whole past weeks
    assert await conn.fetchval("select count(*) from missed_checkins where person_id = $1", away) == 0
    assert await conn.fetchval("select count(*) from alerts where person_id = $1", away) == 0


async def test_late_check_in_fills_an_unalerted_miss_but_not_an_alerted_one(client, conn, staff):
    one, one_headers = await graduate(
        client, conn, staff, iop_days_ago=20, checkin_days=list(range(-20, -1)), alias="One"
    )
    four, four_headers = await graduate(
        client, conn, staff, iop_days_ago=20, checkin_days=list(range(-20, -4)), alias="Four"
    )
    await sweep(conn, dt.datetime.now(dt.UTC))
    yesterday = dt.datetime.combine(day(-1), dt.time(20), tzinfo=dt.UTC).isoformat()
    body = helpers.checkin_body(client_time=yesterday, craving=1, sleep=4)
    assert (await client.post("/v1/checkins", json=body, headers=one_headers)).status_code == 201
    assert await conn.fetchval("select made_up_by is not null from missed_checkins where person_id = $1", one)
    due = (await client.get("/v1/checkins/due", headers=one_headers)).json()
    assert due["streak"] >= 19  # yesterday counts again

    late = dict(body, client_id=str(uuid.uuid4()))
    checkin = (await client.post("/v1/checkins", json=late, headers=four_headers)).json()
    assert await conn.fetchval(
        "select made_up_by is null from missed_checkins where person_id = $1 and slot_starts_on = $2", four, day(-1)
    )
    events = await conn.fetch(
        "select e.kind, e.checkin_id from alert_events e join alerts a on a.id = e.alert_id where a.person_id = $1 order by e.id",
        four,
    )
    assert [(e["kind"], str(e["checkin_id"])) for e in events][-1] == ("checkin", checkin["id"])
    due = (await client.get("/v1/checkins/due", headers=four_headers)).json()
    assert due["streak"] == 0  # the alerted miss stands


async def test_watchlist_and_metrics(client, conn, hasher, staff):
    other = await helpers.account(client, conn, hasher, ["staff"])
    steady, _ = await graduate(client, conn, staff, iop_days_ago=20, checkin_days=list(range(-20, 1)), alias="Steady")
    slipping, _ = await graduate(
        client, conn, staff, iop_days_ago=20, checkin_days=list(range(-20, -3)), alias="Slipping"
    )
    await conn.execute(
        "update participant_profiles set counselor_id = $2 where person_id = $1",
        slipping,
        other_id := uuid.UUID(other.id),
    )
    alerted, headers = await graduate(
        client, conn, staff, iop_days_ago=20, checkin_days=list(range(-20, 1)), alias="Alerted"
    )
    body = helpers.checkin_body(mood=3, craving=9)
    await client.post("/v1/checkins", json=body, headers=headers)

    response = await client.get("/v1/staff/watchlist", headers=staff.headers)
    assert response.status_code == 200, response.text
    rows = {r["alias"]: r for r in response.json()["items"]}
    assert set(rows) == {"Slipping", "Alerted"} and steady not in [r["participant_id"] for r in rows.values()]
    assert rows["Slipping"]["overdue"] is True and rows["Slipping"]["consecutive_misses"] == 3
    assert rows["Slipping"]["adherence_14d"] == round(11 / 14, 3) and rows["Slipping"]["counselor_id"] == str(other_id)
    assert rows["Alerted"]["open_alerts"] == 1 and rows["Alerted"]["top_severity"] == "medium"
    assert [r["alias"] for r in response.json()["items"]] == ["Alerted", "Slipping"]  # alerts first
    mine = (await client.get("/v1/staff/watchlist", params={"counselor_id": other.id}, headers=staff.headers)).json()
    assert [r["alias"] for r in mine["items"]] == ["Slipping"]
    # One row a read, naming everyone it showed.
    read = await conn.fetch(
        "select participant_id, participant_ids from audit_log where action = 'watchlist.read' order by id"
    )
    assert [len(r["participant_ids"] or [r["participant_id"]]) for r in read] == [2, 1]

    metrics = (await client.get("/v1/staff/metrics", headers=staff.headers)).json()
    assert metrics["active_graduates"] == 3
    assert metrics["open_alerts"] == {"low": 0, "medium": 1, "high": 0, "critical": 0}
    assert 0.8 < metrics["adherence_30d"] < 1 and 0.8 < metrics["adherence_7d"] < 1
    assert metrics["checkins_by_day"][-1]["day"] == str(TODAY) and metrics["checkins_by_day"][-1]["checkins"] == 3
    first = (await client.get("/v1/staff/watchlist", params={"limit": 1}, headers=staff.headers)).json()
    rest = (
        await client.get("/v1/staff/watchlist", params={"cursor": first["next_cursor"]}, headers=staff.headers)
    ).json()
    assert [r["alias"] for r in first["items"] + rest["items"]] == ["Alerted", "Slipping"] and rest[
        "next_cursor"
    ] is None
