"""Submitting check-ins: validation, idempotency, risk reasons and alerts, crisis help, and
what is due."""

import datetime as dt

import pytest

from api.checkins.schemas import CheckinRequest
from tests import helpers
from tests.clock import FEW, ONCE
from tests.helpers import assert_problem


def now(minutes=0):
    return (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)).isoformat()


body = helpers.checkin_body


@pytest.mark.clock_instants(*ONCE)
async def test_a_check_in_is_stored_once_per_client_id(client, conn, graduate):
    sent = body(note="rough day", phq2=[1, 0])
    first = await client.post("/v1/checkins", json=sent, headers=graduate.headers)
    assert first.status_code == 201, first.text
    # The same moment written with another offset is the same answer.
    elsewhere = dt.datetime.fromisoformat(sent["client_time"]).astimezone(dt.timezone(dt.timedelta(hours=-6)))
    for repeat_body in (sent, sent | {"client_time": elsewhere.isoformat()}):
        repeat = await client.post("/v1/checkins", json=repeat_body, headers=graduate.headers)
        assert repeat.status_code == 200 and repeat.json() == first.json()
    assert await conn.fetchval("select count(*) from checkins") == 1
    assert first.json()["risk_reasons"] == [] and first.json()["crisis_resources"] is None


@pytest.mark.clock_instants(*ONCE)
async def test_a_client_id_reused_with_other_answers_is_a_conflict_naming_them(client, conn, graduate):
    sent = body(used=False, mood=4)
    first = (await client.post("/v1/checkins", json=sent, headers=graduate.headers)).json()
    reused = await client.post("/v1/checkins", json=sent | {"used": True, "mood": 1}, headers=graduate.headers)
    problem = assert_problem(reused, 409, "idempotency_conflict")
    assert sorted(e["field"] for e in problem["errors"]) == ["mood", "used"]
    assert "mood" in problem["detail"] and "used" in problem["detail"]
    stored = await conn.fetch("select id, used, mood from checkins")
    assert [(str(r["id"]), r["used"], r["mood"]) for r in stored] == [(first["id"], False, 4)]
    assert await conn.fetchval("select count(*) from alerts") == 0  # the use was not taken in either


@pytest.mark.clock_instants(*ONCE)
@pytest.mark.parametrize(
    ("field", "other"),
    [
        ("client_time", "minus a minute"),
        ("mood", 2),
        ("craving", 3),
        ("used", True),
        ("sleep", 4),
        ("need_support", "talk_soon"),
        ("note", "a note after all"),
        ("phq2", [0, 1]),
        ("gad2", [3, 3]),
    ],
)
async def test_every_answer_counts_in_telling_a_repeat_from_a_conflict(client, conn, graduate, field, other):
    from api.checkins.service import REPEATED_FIELDS

    assert set(REPEATED_FIELDS) == set(CheckinRequest.__struct_fields__) - {"client_id"}  # a new answer is compared
    sent = body(note="first", phq2=[1, 1], gad2=[2, 2])
    assert (await client.post("/v1/checkins", json=sent, headers=graduate.headers)).status_code == 201
    if other == "minus a minute":
        other = (dt.datetime.fromisoformat(sent["client_time"]) - dt.timedelta(minutes=1)).isoformat()
    problem = assert_problem(
        await client.post("/v1/checkins", json=sent | {field: other}, headers=graduate.headers),
        409,
        "idempotency_conflict",
    )
    assert [e["field"] for e in problem["errors"]] == [field]
    if field in ("note", "phq2", "gad2"):  # left out is an answer too: none
        left_out = {k: v for k, v in sent.items() if k != field}
        problem = assert_problem(
            await client.post("/v1/checkins", json=left_out, headers=graduate.headers), 409, "idempotency_conflict"
        )
        assert [e["field"] for e in problem["errors"]] == [field]
    assert await conn.fetchval("select count(*) from checkins") == 1


@pytest.mark.clock_instants(*FEW)
@pytest.mark.parametrize("minutes", [6, -7 * 24 * 60 - 5])
async def test_check_ins_made_too_far_from_now_are_refused(client, conn, graduate, minutes):
    response = await client.post("/v1/checkins", json=body(client_time=now(minutes)), headers=graduate.headers)
    problem = assert_problem(response, 400)
    assert any(e["field"] == "client_time" for e in problem["errors"]), problem
    assert await conn.fetchval("select count(*) from checkins") == 0


@pytest.mark.clock_instants(*ONCE)
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"client_time": "2026-11-26T10:00:00"}, "client_time"),  # no offset
        ({"mood": 6}, "mood"),
        ({"craving": -1}, "craving"),
        ({"sleep": 0}, "sleep"),
        ({"need_support": "maybe"}, "need_support"),
        ({"phq2": [1, 2, 3]}, "phq2"),
        ({"gad2": [4, 0]}, "gad2"),
        ({"note": "x" * 1001}, "note"),
        ({"client_id": "not-a-uuid"}, "client_id"),
    ],
)
async def test_bad_check_ins_are_refused_and_nothing_is_stored(client, conn, graduate, change, field):
    response = await client.post("/v1/checkins", json=body(**change), headers=graduate.headers)
    problem = assert_problem(response, 400)
    assert any(e["field"].startswith(field) for e in problem["errors"]), problem
    assert await conn.fetchval("select count(*) from checkins") == 0


@pytest.mark.clock_instants(*FEW)
async def test_time_bounds_edges_are_allowed(client, graduate):
    for when in (now(4), now(-7 * 24 * 60 + 5)):
        assert (
            await client.post("/v1/checkins", json=body(client_time=when), headers=graduate.headers)
        ).status_code == 201


@pytest.mark.clock_instants(*ONCE)
async def test_only_graduates_check_in(client, conn, hasher, staff):
    facilitator = await helpers.account(client, conn, hasher, ["facilitator"])
    for actor in (staff, facilitator):
        assert_problem(await client.post("/v1/checkins", json=body(), headers=actor.headers), 403)
    assert_problem(await client.post("/v1/checkins", json=body()), 401)


@pytest.mark.clock_instants(*ONCE)
async def test_crisis_gets_help_at_once_and_a_critical_alert(client, conn, graduate):
    response = await client.post(
        "/v1/checkins", json=body(need_support="crisis_now", used=True), headers=graduate.headers
    )
    answer = response.json()
    assert [(r["code"], r["severity"]) for r in answer["risk_reasons"]] == [
        ("crisis_now", "critical"),
        ("reported_use", "high"),
    ]
    phones = [r["phone"] for r in answer["crisis_resources"]]
    assert phones == ["988", "911", "1-800-662-4357"] and answer["crisis_resources"][0]["text"] == "988"
    assert "not watched around the clock" in answer["crisis_note"]
    alerts = await conn.fetch("select kind, severity, status from alerts order by severity desc")
    assert [(a["kind"], a["severity"], a["status"]) for a in alerts] == [
        ("crisis", 4, "open"),
        ("reported_use", 3, "open"),
    ]


async def test_crisis_resources_need_no_sign_in(client):
    response = await client.get("/v1/crisis-resources")
    assert response.status_code == 200
    assert [i["phone"] for i in response.json()["items"]] == ["988", "911", "1-800-662-4357"]
    assert "not watched around the clock" in response.json()["note"]


@pytest.mark.clock_instants(*ONCE)
async def test_reasons_join_the_open_alert_of_their_kind(client, conn, graduate):
    # Made a minute apart, as a phone would: a frozen clock (tests/clock.py) would give all
    # three the same time, and none would come before another.
    for minutes_ago, mood in ((3, 2), (2, 1), (1, 1)):
        await client.post("/v1/checkins", json=body(mood=mood, client_time=now(-minutes_ago)), headers=graduate.headers)
    [alert] = await conn.fetch("select id, kind, reasons from alerts")
    assert alert["kind"] == "low_mood"
    events = await conn.fetch("select kind from alert_events where alert_id = $1 order by id", alert["id"])
    assert [e["kind"] for e in events] == ["opened", "reason"]


@pytest.mark.clock_instants(*ONCE)
async def test_a_check_in_after_an_alert_shows_on_it(client, conn, graduate):
    await client.post("/v1/checkins", json=body(need_support="talk_soon"), headers=graduate.headers)
    calm = (await client.post("/v1/checkins", json=body(), headers=graduate.headers)).json()
    events = await conn.fetch("select kind, checkin_id from alert_events order by id")
    assert [(e["kind"], str(e["checkin_id"])) for e in events][-1] == ("checkin", calm["id"])


@pytest.mark.clock_instants(*FEW)
async def test_due_now_streak_and_days_sober(client, staff):
    today = dt.date.today()
    graduate = await helpers.graduate(
        client,
        staff,
        timezone="UTC",
        iop_completed_on=str(today - dt.timedelta(days=3)),
        sobriety_date=str(today - dt.timedelta(days=40)),
    )
    due = (await client.get("/v1/checkins/due", headers=graduate.headers)).json()
    assert due["current_slot"]["cadence"] == "daily" and due["current_slot"]["done"] is False
    assert due["current_slot"]["starts_on"] == str(today) and due["next_slot"]["starts_on"] == str(
        today + dt.timedelta(days=1)
    )
    assert due["streak"] == 0 and due["days_sober"] == 40
    for days_ago in (2, 1, 0):
        when = (dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)).isoformat()
        await client.post("/v1/checkins", json=body(client_time=when), headers=graduate.headers)
    due = (await client.get("/v1/checkins/due", headers=graduate.headers)).json()
    assert due["current_slot"]["done"] is True and due["streak"] == 3


@pytest.mark.clock_instants(*ONCE)
async def test_history_is_mine_only(client, staff, graduate):
    other = await helpers.graduate(client, staff, alias="Other")
    await client.post("/v1/checkins", json=body(note="mine"), headers=graduate.headers)
    await client.post("/v1/checkins", json=body(note="theirs"), headers=other.headers)
    items = (await client.get("/v1/checkins", headers=graduate.headers)).json()["items"]
    assert [i["note"] for i in items] == ["mine"]
    assert_problem(
        await client.get("/v1/checkins", params={"from": "2026-01-01", "to": "2025-01-01"}, headers=graduate.headers),
        400,
    )


@pytest.mark.clock_instants
async def test_slots_follow_a_time_zone_change(client, staff):
    today = dt.date.today()
    graduate = await helpers.graduate(
        client, staff, timezone="Pacific/Auckland", iop_completed_on=str(today - dt.timedelta(days=3))
    )
    before = (await client.get("/v1/checkins/due", headers=graduate.headers)).json()["current_slot"]
    await client.patch("/v1/me", json={"timezone": "America/Los_Angeles"}, headers=graduate.headers)
    after = (await client.get("/v1/checkins/due", headers=graduate.headers)).json()["current_slot"]
    # The slot is the local day where the graduate now is: midnight to midnight in Los Angeles.
    starts = dt.datetime.fromisoformat(after["starts_at"])
    assert starts.astimezone(__import__("zoneinfo").ZoneInfo("America/Los_Angeles")).hour == 0
    assert before["starts_at"] != after["starts_at"]


@pytest.mark.clock_instants
async def test_a_check_in_counts_on_the_local_date_it_was_made(client, conn, staff):
    # Relative to today: enrolment refuses an IOP date over a month ahead (a fixed 2026-11-01 was, before October).
    iop = dt.date.today() - dt.timedelta(days=30)
    graduate = await helpers.graduate(client, staff, timezone="America/Chicago", iop_completed_on=str(iop))
    # 03:00 UTC is still the previous evening in Chicago.
    when = dt.datetime.now(dt.UTC).replace(hour=3, minute=0, second=0, microsecond=0)
    if when > dt.datetime.now(dt.UTC):
        when -= dt.timedelta(days=1)
    response = await client.post("/v1/checkins", json=body(client_time=when.isoformat()), headers=graduate.headers)
    assert response.json()["local_date"] == str((when - dt.timedelta(hours=6)).date())


@pytest.mark.clock_instants(*ONCE)
async def test_a_late_retry_of_a_stored_check_in_gets_its_answer(client, conn, graduate):
    first = (await client.post("/v1/checkins", json=body(), headers=graduate.headers)).json()
    await conn.execute("update checkins set client_time = client_time - interval '8 days'")
    old = dt.datetime.fromisoformat(first["client_time"]) - dt.timedelta(days=8)
    repeat = await client.post(
        "/v1/checkins", json=body(client_id=first["client_id"], client_time=old.isoformat()), headers=graduate.headers
    )
    assert repeat.status_code == 200 and repeat.json()["id"] == first["id"]


@pytest.mark.clock_instants(*ONCE)
@pytest.mark.parametrize("kind", ["ordinary", "crisis", "with an alert open", "repeat"])
async def test_a_check_in_is_two_round_trips_on_one_pooled_connection(settings, client, conn, graduate, kind):
    """The app's busiest write: the sign-in check, then one statement that stores the
    check-in and everything that follows from it (risk reasons, alerts and their timelines,
    the crisis inbox item, the make-up of a recorded miss), both on the request's one
    pooled connection, whatever the check-in says."""
    from bench import statements
    from db.sweep import sweep

    await sweep(conn, dt.datetime.now(dt.UTC))  # their state worked out, as it is between two check-ins
    sent = body(need_support="crisis_now" if kind == "crisis" else "no")
    if kind in ("with an alert open", "repeat"):
        first = sent if kind == "repeat" else body(used=True)
        assert (await client.post("/v1/checkins", json=first, headers=graduate.headers)).status_code == 201

    async def send(served):
        response = await served.post("/v1/checkins", json=sent, headers=graduate.headers)
        assert response.status_code == (200 if kind == "repeat" else 201), response.text

    checkouts: list[int] = []
    logged, _ = await statements.capture(settings, send, checkouts)
    ran = [" ".join(q.split()).lower() for q, _ in logged]
    ran = [q for q in ran if not q.startswith(statements.DRIVER_STATEMENTS)]  # the driver's own: once a connection
    assert len(ran) == 2 and "from auth_sessions s join people" in ran[0] and "checkin_submit(" in ran[1], "\n".join(
        ran
    )
    assert checkouts == [1]
    if kind == "crisis":
        assert await conn.fetchval("select count(*) from notifications where kind = 'crisis_support'") == 1
        assert await conn.fetchval("select count(*) from alerts where kind = 'crisis'") == 1
    if kind == "with an alert open":
        assert await conn.fetchval("select count(*) from alert_events where kind = 'checkin'") == 1
