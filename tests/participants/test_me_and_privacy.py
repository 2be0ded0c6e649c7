"""The graduate's own profile, their data export, and account deletion."""

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import pytest

from tests import helpers
from tests.clock import ONCE
from tests.helpers import assert_problem


@pytest.mark.clock_instants
async def test_read_and_change_my_profile(client, graduate):
    response = await client.patch(
        "/v1/me",
        json={"alias": "Sammy", "timezone": "Europe/Lisbon", "sobriety_date": "2026-01-01"},
        headers=graduate.headers,
    )
    assert response.status_code == 200, response.text
    me = response.json()
    assert (me["alias"], me["timezone"], me["sobriety_date"]) == ("Sammy", "Europe/Lisbon", "2026-01-01")
    today_in_lisbon = dt.datetime.now(ZoneInfo("Europe/Lisbon")).date()
    assert me["days_sober"] == (today_in_lisbon - dt.date(2026, 1, 1)).days
    cleared = await client.patch("/v1/me", json={"sobriety_date": None}, headers=graduate.headers)
    assert cleared.json()["sobriety_date"] is None and cleared.json()["days_sober"] is None


async def test_profile_validation(client, graduate, staff):
    assert_problem(await client.patch("/v1/me", json={"timezone": "Nowhere/Land"}, headers=graduate.headers), 400)
    assert_problem(await client.patch("/v1/me", json={"roles": ["admin"]}, headers=graduate.headers), 400)
    body = assert_problem(
        await client.patch("/v1/me", json={"sobriety_date": "2026-01-01"}, headers=staff.headers), 400
    )
    assert body["errors"][0]["field"] == "sobriety_date"


def test_days_sober_counts_in_the_persons_own_zone():
    from api.checkins.plan import days_sober

    # 03:00 UTC on 2 March is still 1 March in Chicago.
    now = dt.datetime(2026, 3, 2, 3, 0, tzinfo=dt.UTC)
    assert days_sober(dt.date(2026, 2, 28), "America/Chicago", now) == 1
    assert days_sober(dt.date(2026, 2, 28), "Europe/Berlin", now) == 2
    assert days_sober(None, "UTC", now) is None


async def test_export_holds_my_records_and_no_secrets(client, staff):
    graduate = await helpers.graduate(client, staff, email="sam@example.org", phone="555 0100")
    export = (await client.get("/v1/me/export", headers=graduate.headers)).json()
    data = export["data"]
    assert data["person"]["id"] == graduate.id and data["person"]["name"] == "Sam"
    assert data["participant_profile"]["contact_email"] == "sam@example.org"
    assert len(data["sessions"]) == 1 and len(data["activation_codes"]) == 1
    text = str(export)
    assert "password_hash" not in text and "verifier_hash" not in text and "token_hash" not in text


async def test_delete_my_account_removes_my_rows(client, conn, staff):
    graduate = await helpers.graduate(client, staff)
    await client.get(f"/v1/staff/participants/{graduate.id}", headers=staff.headers)  # an audit row
    response = await client.delete("/v1/me", headers=graduate.headers)
    assert response.status_code == 200, response.text
    deleted = response.json()["deleted"]
    assert deleted == {
        "people": 1,
        "participant_profiles": 1,
        "auth_sessions": 1,
        "refresh_tokens": 1,
        "activation_codes": 1,
        "group_members": 0,
        "session_rsvps": 0,
        "session_attendance": 0,
        "calendar_feeds": 0,
        "alerts": 0,
        "missed_checkins": 0,
        "checkin_plans": 0,
        "checkins": 0,
        "devices": 0,
        "notification_preferences": 0,
        "notifications": 0,
        "posts_removed": 0,
        "report_notes": 0,
        "help_now_told": 0,
        "circle_members": 0,
        "circle_invitations": 0,
        "help_responses": 0,
        "help_requests": 0,
    }
    for table, column in [
        ("people", "id"),
        ("participant_profiles", "person_id"),
        ("auth_sessions", "person_id"),
        ("group_members", "person_id"),
        ("session_rsvps", "person_id"),
        ("activation_codes", "person_id"),
    ]:
        assert await conn.fetchval(f"select count(*) from {table} where {column} = $1", graduate.id) == 0
    assert await conn.fetchval("select count(*) from refresh_tokens") == 1  # the staff member's
    # The trail of who looked at the record stays, holding only the opaque id.
    assert await conn.fetchval("select count(*) from audit_log where participant_id = $1", graduate.id) >= 1
    assert_problem(await client.get("/v1/me", headers=graduate.headers), 401)
    assert_problem(await client.get(f"/v1/staff/participants/{graduate.id}", headers=staff.headers), 404)


async def test_staff_cannot_delete_themselves_from_the_app(client, staff):
    assert_problem(await client.delete("/v1/me", headers=staff.headers), 403)


async def test_audit_log_refuses_changes(conn, client, staff):
    import asyncpg
    import pytest

    await helpers.enroll(client, staff)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await conn.execute("update audit_log set action = 'nothing'")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await conn.execute("delete from audit_log")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await conn.execute("truncate audit_log")
    assert await conn.fetchval("select count(*) from audit_log") == 1


async def test_export_includes_who_accessed_my_record(client, staff):
    graduate = await helpers.graduate(client, staff)
    await client.get(f"/v1/staff/participants/{graduate.id}", headers=staff.headers)
    data = (await client.get("/v1/me/export", headers=graduate.headers)).json()["data"]
    actions = [(a["actor_id"], a["action"]) for a in data["access_to_my_record"]]
    assert (staff.id, "participant.read") in actions and (staff.id, "participant.create") in actions
    staff_data = (await client.get("/v1/me/export", headers=staff.headers)).json()["data"]
    assert {a["participant_id"] for a in staff_data["my_staff_actions"]} == {graduate.id}


async def test_my_sign_ins_and_signing_out_one_device(client, staff):
    enrolled = await helpers.enroll(client, staff)
    phone = helpers.bearer(await helpers.activate(client, enrolled["activation_code"]))
    reissued = await client.post(f"/v1/staff/participants/{enrolled['id']}/activation-code", headers=staff.headers)
    tablet = helpers.bearer(await helpers.activate(client, reissued.json()["activation_code"]))

    listed = (await client.get("/v1/me/sign-ins", headers=phone)).json()["items"]
    assert len(listed) == 2 and sum(s["current"] for s in listed) == 1
    tablet_id = next(s["id"] for s in listed if not s["current"])
    assert (await client.delete(f"/v1/me/sign-ins/{tablet_id}", headers=phone)).status_code == 204
    assert_problem(await client.get("/v1/me", headers=tablet), 401)
    assert (await client.get("/v1/me", headers=phone)).status_code == 200
    assert_problem(await client.delete(f"/v1/me/sign-ins/{tablet_id}", headers=phone), 404)  # already ended


async def test_another_graduates_sign_in_is_a_404(client, staff, graduate):
    other = await helpers.graduate(client, staff, alias="Other")
    [theirs] = (await client.get("/v1/me/sign-ins", headers=other.headers)).json()["items"]
    response = await client.delete(f"/v1/me/sign-ins/{theirs['id']}", headers=graduate.headers)
    unknown = await client.delete(f"/v1/me/sign-ins/{uuid.uuid4()}", headers=graduate.headers)
    assert assert_problem(response, 404) == assert_problem(unknown, 404)  # indistinguishable
    assert (await client.get("/v1/me", headers=other.headers)).status_code == 200


@pytest.mark.clock_instants(*ONCE)
async def test_deleting_an_account_gives_up_seats_and_group_data(client, conn, staff):
    from tests.helpers import create_group

    group = await create_group(client, staff, capacity=1)
    leaving = await helpers.graduate(client, staff, alias="Leaving")
    waiting = await helpers.graduate(client, staff, alias="Waiting")
    url = f"/v1/groups/{group['id']}/membership"
    await client.post(url, headers=leaving.headers)
    await client.post(url, headers=waiting.headers)
    sid = (await client.get(f"/v1/groups/{group['id']}/sessions", headers=leaving.headers)).json()["items"][0]["id"]
    await client.put(f"/v1/sessions/{sid}/rsvp", json={"status": "going"}, headers=leaving.headers)
    await client.post("/v1/me/calendar-feed", headers=leaving.headers)
    export = (await client.get("/v1/me/export", headers=leaving.headers)).json()["data"]
    assert [m["status"] for m in export["group_memberships"]] == ["member"] and export["rsvps"][0]["session_id"] == sid

    deleted = (await client.delete("/v1/me", headers=leaving.headers)).json()["deleted"]
    assert (deleted["group_members"], deleted["session_rsvps"], deleted["calendar_feeds"]) == (1, 1, 1)
    detail = (await client.get(f"/v1/groups/{group['id']}", headers=waiting.headers)).json()
    assert detail["my_status"] == "member" and detail["member_count"] == 1


@pytest.mark.clock_instants(*ONCE)
async def test_export_and_deletion_cover_check_ins_and_alerts(client, conn, staff):

    graduate = await helpers.graduate(client, staff)
    body = helpers.checkin_body(mood=2, craving=9, used=True, sleep=2, need_support="talk_soon", note="rough day")
    await client.post("/v1/checkins", json=body, headers=graduate.headers)
    alert_id = (await client.get("/v1/staff/alerts", headers=staff.headers)).json()["items"][0]["id"]
    await client.post(
        f"/v1/staff/alerts/{alert_id}/outreach", json={"channel": "call", "reached": True}, headers=staff.headers
    )
    data = (await client.get("/v1/me/export", headers=graduate.headers)).json()["data"]
    assert [c["note"] for c in data["checkins"]] == ["rough day"]
    assert {a["kind"] for a in data["alerts"]} == {"talk_soon", "reported_use", "craving"}
    assert any(e["kind"] == "outreach" for a in data["alerts"] for e in a["events"])
    deleted = (await client.delete("/v1/me", headers=graduate.headers)).json()["deleted"]
    assert (deleted["checkins"], deleted["alerts"]) == (1, 3)
    for table in ("checkins", "alerts"):
        assert await conn.fetchval(f"select count(*) from {table} where person_id = $1", uuid.UUID(graduate.id)) == 0
    assert await conn.fetchval("select count(*) from alert_events") == 0
