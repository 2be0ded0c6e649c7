"""Every date and date-time the API accepts lies within one window (api/time_bounds.py):
from 1970 to a hundred years ahead, a session moved at most a year ahead. Values at the
ends of what Python and PostgreSQL hold are a 400 naming the field, never a 500."""

import datetime as dt

import pytest

from api.pagination import encode_cursor
from api.time_bounds import out_of_bounds
from tests import helpers
from tests.clock import ONCE
from tests.helpers import assert_problem, create_group

pytestmark = pytest.mark.clock_instants(*ONCE)  # 2026-06-16T23:59:50Z

# The outside attacker's values: converting either to UTC overflows Python's datetime.
EXTREMES = ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00")
WINDOW = "must be between 1970-01-01 and 2126-06-16"


def assert_names(response, field: str, message: str = WINDOW) -> None:
    body = assert_problem(response, 400, "validation_failed")
    assert body["errors"] == [{"field": field, "source": body["errors"][0]["source"], "message": message}], body
    assert body["detail"] == f"{field}: {message}"


def test_the_window_is_said_as_a_person_would_read_it():
    assert out_of_bounds(dt.date(1969, 12, 31)) == WINDOW
    assert out_of_bounds(dt.datetime.fromisoformat(EXTREMES[0])) == WINDOW
    assert out_of_bounds(dt.datetime.fromisoformat(EXTREMES[1])) == WINDOW
    assert out_of_bounds(dt.date(1970, 1, 1)) is None
    assert out_of_bounds(dt.datetime(2126, 6, 16, 23, 59, tzinfo=dt.UTC)) is None


@pytest.mark.parametrize("extreme", EXTREMES)
async def test_the_audit_log_refuses_since_and_until_outside_the_window(client, admin, extreme):
    for field in ("since", "until"):
        answer = await client.get("/v1/staff/audit", params={field: extreme}, headers=admin.headers)
        assert_names(answer, field)
        # A bare number is not a date, though msgspec would read it as a Unix timestamp.
        answer = await client.get("/v1/staff/audit", params={field: "0.0"}, headers=admin.headers)
        assert_names(answer, field, "give a date and time with its offset, like 2026-12-01T00:00:00Z")
    within = {"since": "1970-01-01T00:00:00Z", "until": "2126-01-01T00:00:00Z"}
    assert (await client.get("/v1/staff/audit", params=within, headers=admin.headers)).status_code == 200


@pytest.mark.parametrize("extreme", EXTREMES)
async def test_cursors_holding_extreme_times_are_refused(client, admin, extreme):
    someone = "6a1c7a8e-8a4f-4c57-9b7a-2f0c1b7f9d11"
    cursors = {
        "/v1/staff/participants": encode_cursor(extreme, someone),
        "/v1/staff/accounts": encode_cursor(extreme, someone),
        "/v1/staff/alerts": encode_cursor(3, extreme, 1),
    }
    for path, cursor in cursors.items():
        answer = await client.get(path, params={"cursor": cursor}, headers=admin.headers)
        body = assert_problem(answer, 400, "validation_failed")
        assert [e["field"] for e in body["errors"]] == ["cursor"], (path, body)


async def test_dates_in_bodies_are_refused_outside_the_window(client, staff, graduate):
    enrol = {"alias": "Sam", "timezone": "America/Chicago", "iop_completed_on": "0001-01-01"}
    assert_names(await client.post("/v1/staff/participants", json=enrol, headers=staff.headers), "iop_completed_on")
    sober = enrol | {"iop_completed_on": "2026-06-01", "sobriety_date": "1899-12-31"}
    answer = await client.post("/v1/staff/participants", json=sober, headers=staff.headers)
    assert_names(answer, "sobriety_date", "must be between 1900-01-01 and 2126-06-16")
    # A sobriety date before 1970 is a life, not an attack.
    long_sober = await client.patch("/v1/me", json={"sobriety_date": "1965-03-01"}, headers=graduate.headers)
    assert long_sober.status_code == 200, long_sober.text
    plan = f"/v1/staff/participants/{graduate.id}/plan"
    for field in ("starts_on", "ends_on"):
        body = {"cadence": "weekly", "starts_on": "2026-06-16", "ends_on": "2026-07-16"} | {field: "9999-12-31"}
        if field == "starts_on":
            body["ends_on"] = None
        assert_names(await client.put(plan, json=body, headers=staff.headers), field)


async def moved_session(client, staff) -> tuple[dict, helpers.Actor, dict]:
    group = await create_group(client, staff)
    member = await helpers.graduate(client, staff)
    joined = await client.post(f"/v1/groups/{group['id']}/membership", headers=member.headers)
    assert joined.json()["status"] == "member", joined.text
    sessions = (await client.get(f"/v1/groups/{group['id']}/sessions", headers=member.headers)).json()["items"]
    return group, member, sessions[1]


async def test_a_reschedule_to_the_year_9999_is_refused_and_the_session_stays_listed(client, conn, staff):
    group, member, session = await moved_session(client, staff)
    url = f"/v1/sessions/{session['id']}/reschedule"
    far = {"starts_at": "9999-12-31T10:00:00Z", "ends_at": "9999-12-31T11:00:00Z", "reason": "Later"}
    assert_names(await client.post(url, json=far, headers=staff.headers), "starts_at")
    for start, end in [(EXTREMES[0], "0001-01-01T01:00:00+01:00"), ("9999-12-31T22:00:00-01:00", EXTREMES[1])]:
        answer = await client.post(url, json=far | {"starts_at": start, "ends_at": end}, headers=staff.headers)
        assert_names(answer, "starts_at")
    # More than a year ahead, though within the window: still no.
    next_year = dt.datetime.fromisoformat(session["starts_at"]) + dt.timedelta(days=367)
    late = far | {"starts_at": next_year.isoformat(), "ends_at": (next_year + dt.timedelta(hours=1)).isoformat()}
    answer = await client.post(url, json=late, headers=staff.headers)
    assert_names(answer, "starts_at", "must be in the future, and at most a year ahead")

    assert await conn.fetchval("select count(*) from group_sessions where moved") == 0
    listed = (await client.get(f"/v1/groups/{group['id']}/sessions", headers=member.headers)).json()["items"]
    assert [s for s in listed if s["id"] == session["id"]] == [session]
    mine = (await client.get("/v1/me/sessions", headers=member.headers)).json()["items"]
    assert session["id"] in [s["id"] for s in mine]

    # Within the year, it moves and is listed where it went.
    soon = dt.datetime.fromisoformat(session["starts_at"]) + dt.timedelta(days=300)
    near = far | {"starts_at": soon.isoformat(), "ends_at": (soon + dt.timedelta(hours=1)).isoformat()}
    assert (await client.post(url, json=near, headers=staff.headers)).status_code == 200
    assert await conn.fetchval("select count(*) from group_sessions where moved") == 1
    window = {"from": (soon - dt.timedelta(days=1)).isoformat(), "to": (soon + dt.timedelta(days=1)).isoformat()}
    moved = (await client.get("/v1/me/sessions", params=window, headers=member.headers)).json()["items"]
    assert [s["id"] for s in moved] == [session["id"]]
