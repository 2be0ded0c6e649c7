"""Push notifications through the API: devices (registered, refreshed, moved, removed with
their session), preferences, the inbox, staff messages, and the notifications that group and
check-in events write in their own transaction, each with discreet lock-screen text and
times in the recipient's own time zone."""

import datetime as dt
import json
import uuid
from zoneinfo import ZoneInfo

import pytest

from tests import helpers
from tests.clock import FEW, ONCE
from tests.helpers import assert_problem, create_group

KINDS = [
    "checkin_reminder",
    "missed_checkin",
    "session_reminder",
    "session_changed",
    "waitlist_seat",
    "announcement",
    "staff_message",
    "crisis_support",
    "group_reply",
    "group_post",
    "help_now",
]
# Off until a person switches them on (PRODUCT.md section 10).
DEFAULT_OFF = {"group_post"}


# --- small steps ---------------------------------------------------------------------------


def clock_text(at: dt.datetime, zone: str) -> str:
    """ "7:00 PM" where `zone` is."""
    return at.astimezone(ZoneInfo(zone)).strftime("%-I:%M %p")


def day_text(at: dt.datetime, zone: str) -> str:
    """ "Tue, Dec 8" where `zone` is."""
    return at.astimezone(ZoneInfo(zone)).strftime("%a, %b %-d")


async def stored(conn, person_id, kind=None) -> list:
    """A person's notification rows, oldest first (all columns, data decoded)."""
    rows = await conn.fetch(
        "select * from notifications where person_id = $1 and ($2::text is null or kind = $2) order by id",
        uuid.UUID(str(person_id)),
        kind,
    )
    return [dict(r) | {"data": json.loads(r["data"])} for r in rows]


async def join(client, group, person) -> str:
    response = await client.post(f"/v1/groups/{group['id']}/membership", headers=person.headers)
    assert response.status_code in (200, 201), response.text
    return response.json()["status"]


async def member(client, staff, group, **fields) -> helpers.Actor:
    person = await helpers.graduate(client, staff, **fields)
    assert await join(client, group, person) == "member"
    return person


async def send(client, staff, **body):
    return await client.post(
        "/v1/staff/notifications",
        json={"title": "A note", "body": "Hello from the team."} | body,
        headers=staff.headers,
    )


async def register(client, person_headers, token, platform="android", app_version="2.3.1"):
    return await client.post(
        "/v1/me/devices",
        json={"token": token, "platform": platform, "app_version": app_version},
        headers=person_headers,
    )


async def sessions_of(client, group, headers, *, hours_from=-1, hours_to=24 * 28) -> list[dict]:
    now = dt.datetime.now(dt.UTC)
    response = await client.get(
        f"/v1/groups/{group['id']}/sessions",
        params={
            "from": (now + dt.timedelta(hours=hours_from)).isoformat(),
            "to": (now + dt.timedelta(hours=hours_to)).isoformat(),
        },
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def group_with_session_in(client, staff, minutes: int, **fields) -> tuple[dict, dict]:
    """A group whose next session starts `minutes` (give or take one) from now."""
    zone, slot = helpers.slot_starting_in(minutes)
    group = await create_group(client, staff, timezone=zone, schedule=[slot], **fields)
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)
    [session] = [
        s
        for s in await sessions_of(client, group, staff.headers)
        if abs(dt.datetime.fromisoformat(s["starts_at"]) - soon) < dt.timedelta(minutes=2)
    ]
    return group, session


# --- devices -------------------------------------------------------------------------------


async def test_registering_a_device_and_registering_it_again(client, conn, graduate):
    first = await register(client, graduate.headers, "fcm-token-phone-1", "ios", "1.0.0")
    assert first.status_code == 201, first.text
    device = first.json()
    assert device["platform"] == "ios" and device["app_version"] == "1.0.0" and isinstance(device["id"], int)
    assert "token" not in device

    again = await register(client, graduate.headers, "fcm-token-phone-1", "ios", "1.1.0")
    assert again.status_code == 200, again.text
    assert again.json()["id"] == device["id"] and again.json()["app_version"] == "1.1.0"
    assert again.json()["refreshed_at"] >= device["refreshed_at"]
    rows = await conn.fetch("select id, person_id, app_version from devices")
    assert [(r["id"], str(r["person_id"]), r["app_version"]) for r in rows] == [(device["id"], graduate.id, "1.1.0")]


async def test_a_token_registered_by_someone_else_moves_to_them(client, conn, staff, graduate):
    other = await helpers.graduate(client, staff, alias="Other")
    mine = (await register(client, graduate.headers, "shared-phone-token")).json()
    response = await register(client, other.headers, "shared-phone-token")
    assert response.status_code in (200, 201), response.text
    rows = await conn.fetch("select id, person_id from devices where token = 'shared-phone-token'")
    assert [(r["id"], str(r["person_id"])) for r in rows] == [(mine["id"], other.id)]
    assert (await client.get("/v1/me/devices", headers=graduate.headers)).json()["items"] == []
    assert [d["id"] for d in (await client.get("/v1/me/devices", headers=other.headers)).json()["items"]] == [
        mine["id"]
    ]
    # The first owner can no longer remove it: it is not theirs.
    assert_problem(await client.delete(f"/v1/me/devices/{mine['id']}", headers=graduate.headers), 404)


async def test_listing_and_removing_my_devices(client, conn, staff, graduate):
    phone = (await register(client, graduate.headers, "token-a", "ios")).json()
    tablet_headers = await helpers.second_device(client, staff, graduate)
    tablet = (await register(client, tablet_headers, "token-b", "android")).json()
    other = await helpers.graduate(client, staff, alias="Other")
    theirs = (await register(client, other.headers, "token-c")).json()

    listed = (await client.get("/v1/me/devices", headers=graduate.headers)).json()["items"]
    assert [(d["id"], d["platform"]) for d in listed] == [(phone["id"], "ios"), (tablet["id"], "android")]
    assert all("token" not in d for d in listed) and "token-a" not in json.dumps(listed)

    assert_problem(await client.delete(f"/v1/me/devices/{theirs['id']}", headers=graduate.headers), 404)
    assert await conn.fetchval("select count(*) from devices where id = $1", theirs["id"]) == 1
    response = await client.delete(f"/v1/me/devices/{phone['id']}", headers=graduate.headers)
    assert response.status_code == 204, response.text
    assert [d["id"] for d in (await client.get("/v1/me/devices", headers=graduate.headers)).json()["items"]] == [
        tablet["id"]
    ]
    assert_problem(await client.delete(f"/v1/me/devices/{phone['id']}", headers=graduate.headers), 404)


async def test_a_new_token_replaces_the_old_one_of_the_same_sign_in(client, conn, staff, graduate):
    """FCM rotates a phone's token now and then: the app registers the new one, and the phone
    must not get every push twice."""
    first = (await register(client, graduate.headers, "token-old")).json()
    second = (await register(client, graduate.headers, "token-new")).json()
    assert second["id"] != first["id"]
    assert [r["token"] for r in await conn.fetch("select token from devices")] == ["token-new"]


async def test_device_registration_validation(client, conn, graduate):
    for body in (
        {"token": "t1", "platform": "windows"},
        {"token": "", "platform": "ios"},
        {"token": "has space", "platform": "ios"},
        {"platform": "ios"},
        {"token": "t1", "platform": "ios", "app_version": "x" * 41},
        {"token": "t1", "platform": "ios", "owner": "someone"},
    ):
        assert_problem(await client.post("/v1/me/devices", json=body, headers=graduate.headers), 400)
    assert await conn.fetchval("select count(*) from devices") == 0


async def test_logout_removes_only_that_sessions_devices(client, conn, staff):
    enrolled = await helpers.enroll(client, staff)
    phone_tokens = await helpers.activate(client, enrolled["activation_code"])
    code = (
        await client.post(f"/v1/staff/participants/{enrolled['id']}/activation-code", headers=staff.headers)
    ).json()["activation_code"]
    tablet_tokens = await helpers.activate(client, code)
    await register(client, helpers.bearer(phone_tokens), "phone-token")
    await register(client, helpers.bearer(tablet_tokens), "tablet-token")

    response = await client.post("/v1/auth/logout", json={"refresh_token": phone_tokens["refresh_token"]})
    assert response.status_code == 204, response.text
    assert [r["token"] for r in await conn.fetch("select token from devices")] == ["tablet-token"]


async def test_deactivation_removes_the_graduates_devices(client, conn, staff, graduate):
    await register(client, graduate.headers, "token-1")
    await register(client, graduate.headers, "token-2", "ios")
    response = await client.post(f"/v1/staff/participants/{graduate.id}/deactivate", headers=staff.headers)
    assert response.status_code == 200, response.text
    assert await conn.fetchval("select count(*) from devices") == 0


async def test_deleting_my_account_removes_devices_preferences_and_notifications(client, conn, staff, graduate):
    other = await helpers.graduate(client, staff, alias="Other")
    await register(client, graduate.headers, "token-mine")
    await register(client, other.headers, "token-theirs")
    await client.put("/v1/me/notification-preferences", json={"quiet_hours": None}, headers=graduate.headers)
    assert (await send(client, staff, participant_id=graduate.id)).status_code == 201
    assert (await send(client, staff, participant_id=other.id)).status_code == 201

    response = await client.delete("/v1/me", headers=graduate.headers)
    assert response.status_code == 200, response.text
    deleted = response.json()["deleted"]
    assert (deleted["devices"], deleted["notification_preferences"], deleted["notifications"]) == (1, 1, 1)
    person = uuid.UUID(graduate.id)
    for table in ("devices", "notifications", "notification_preferences"):
        assert await conn.fetchval(f"select count(*) from {table} where person_id = $1", person) == 0, table
    # Someone else's are untouched.
    assert [r["token"] for r in await conn.fetch("select token from devices")] == ["token-theirs"]
    assert await conn.fetchval("select count(*) from notifications") == 1


async def test_my_export_holds_my_notifications_and_devices_but_no_token(client, staff, graduate):
    """The export promises every record about the caller: the inbox and the devices are too."""
    await register(client, graduate.headers, "secret-fcm-token", "ios", "9.8.7")
    await send(client, staff, participant_id=graduate.id, title="About Tuesday", body="We will call you at noon.")
    export = (await client.get("/v1/me/export", headers=graduate.headers)).json()
    text = json.dumps(export)
    assert "We will call you at noon." in text
    assert "9.8.7" in text
    assert "secret-fcm-token" not in text


# --- preferences ---------------------------------------------------------------------------


async def test_preferences_default_to_everything_on_and_quiet_nights(client, staff):
    person = await helpers.graduate(client, staff, timezone="Europe/Berlin")
    response = await client.get("/v1/me/notification-preferences", headers=person.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    # Every kind on, but those that start off (new posts in your groups: PRODUCT.md section 10).
    assert body["kinds"] == {kind: kind not in DEFAULT_OFF for kind in KINDS}
    assert body["quiet_hours"] == {"start": "22:00", "end": "08:00"}
    assert body["timezone"] == "Europe/Berlin"


async def test_turning_one_kind_off_keeps_the_rest(client, conn, graduate):
    url = "/v1/me/notification-preferences"
    response = await client.put(url, json={"kinds": {"announcement": False}}, headers=graduate.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["kinds"] == {kind: kind != "announcement" and kind not in DEFAULT_OFF for kind in KINDS}
    assert body["quiet_hours"] == {"start": "22:00", "end": "08:00"}
    assert (await client.get(url, headers=graduate.headers)).json() == body
    row = await conn.fetchrow("select disabled_kinds, quiet_start, quiet_end from notification_preferences")
    assert (row["disabled_kinds"], row["quiet_start"], row["quiet_end"]) == (
        ["announcement"],
        dt.time(22),
        dt.time(8),
    )
    # Another change leaves the first one alone.
    again = await client.put(url, json={"kinds": {"session_reminder": False}}, headers=graduate.headers)
    assert {k for k, on in again.json()["kinds"].items() if not on} == {
        "announcement",
        "session_reminder",
        *DEFAULT_OFF,
    }


async def test_quiet_hours_off_and_changed(client, graduate):
    url = "/v1/me/notification-preferences"
    off = await client.put(url, json={"quiet_hours": None}, headers=graduate.headers)
    assert off.status_code == 200, off.text
    assert off.json()["quiet_hours"] is None
    assert all(on for kind, on in off.json()["kinds"].items() if kind not in DEFAULT_OFF)
    assert (await client.get(url, headers=graduate.headers)).json()["quiet_hours"] is None

    changed = await client.put(url, json={"quiet_hours": {"start": "23:00", "end": "07:00"}}, headers=graduate.headers)
    assert changed.json()["quiet_hours"] == {"start": "23:00", "end": "07:00"}
    midnight = await client.put(url, json={"quiet_hours": {"start": "00:00", "end": "06:30"}}, headers=graduate.headers)
    assert midnight.json()["quiet_hours"] == {"start": "00:00", "end": "06:30"}
    # Changing kinds alone keeps the quiet hours.
    kinds_only = await client.put(url, json={"kinds": {"staff_message": False}}, headers=graduate.headers)
    assert kinds_only.json()["quiet_hours"] == {"start": "00:00", "end": "06:30"}


async def test_preference_validation(client, conn, graduate):
    url = "/v1/me/notification-preferences"
    for body in (
        {"kinds": {"horoscope": False}},
        {"kinds": {"announcement": "no"}},
        {"quiet_hours": {"start": "25:00", "end": "07:00"}},
        {"quiet_hours": {"start": "7pm", "end": "07:00"}},
        {"quiet_hours": {"start": "22:00", "end": "22:00"}},
        {"quiet_hours": {"start": "22:00"}},
        {"sound": "loud"},
    ):
        assert_problem(await client.put(url, json=body, headers=graduate.headers), 400)
    assert await conn.fetchval("select count(*) from notification_preferences") == 0


# --- the inbox -----------------------------------------------------------------------------


async def test_inbox_is_newest_first_with_pages_and_an_unread_count(client, staff, graduate):
    ids = []
    for n in range(3):
        response = await send(client, staff, participant_id=graduate.id, title=f"Note {n}", body=f"Body {n}")
        ids += response.json()["notification_ids"]
    url = "/v1/me/notifications"
    first = (await client.get(url, params={"limit": 2}, headers=graduate.headers)).json()
    assert [i["id"] for i in first["items"]] == [ids[2], ids[1]]
    assert [(i["title"], i["body"], i["kind"], i["read_at"]) for i in first["items"]] == [
        ("Note 2", "Body 2", "staff_message", None),
        ("Note 1", "Body 1", "staff_message", None),
    ]
    assert first["unread_count"] == 3 and first["next_cursor"]
    rest = (await client.get(url, params={"limit": 2, "cursor": first["next_cursor"]}, headers=graduate.headers)).json()
    assert [i["id"] for i in rest["items"]] == [ids[0]] and rest["next_cursor"] is None
    whole = (await client.get(url, headers=graduate.headers)).json()
    assert [i["id"] for i in whole["items"]] == ids[::-1] and whole["next_cursor"] is None


async def test_reading_one_and_the_unread_filter(client, staff, graduate):
    ids = (await send(client, staff, participant_id=graduate.id)).json()["notification_ids"]
    ids += (await send(client, staff, participant_id=graduate.id)).json()["notification_ids"]
    response = await client.post(f"/v1/me/notifications/{ids[0]}/read", headers=graduate.headers)
    assert response.status_code == 200, response.text
    read_at = response.json()["read_at"]
    assert response.json()["id"] == ids[0] and read_at is not None

    unread = (await client.get("/v1/me/notifications", params={"unread": "true"}, headers=graduate.headers)).json()
    assert [i["id"] for i in unread["items"]] == [ids[1]] and unread["unread_count"] == 1
    everything = (await client.get("/v1/me/notifications", headers=graduate.headers)).json()
    assert {i["id"]: i["read_at"] for i in everything["items"]} == {ids[1]: None, ids[0]: read_at}

    again = await client.post(f"/v1/me/notifications/{ids[0]}/read", headers=graduate.headers)
    assert again.status_code == 200 and again.json()["read_at"] == read_at  # the first reading stands


async def test_someone_elses_notification_is_not_found(client, conn, staff, graduate):
    other = await helpers.graduate(client, staff, alias="Other")
    [theirs] = (await send(client, staff, participant_id=other.id)).json()["notification_ids"]
    assert_problem(await client.post(f"/v1/me/notifications/{theirs}/read", headers=graduate.headers), 404)
    assert_problem(await client.post(f"/v1/me/notifications/{theirs + 1000}/read", headers=graduate.headers), 404)
    assert await conn.fetchval("select read_at from notifications where id = $1", theirs) is None
    assert (await client.get("/v1/me/notifications", headers=graduate.headers)).json() == {
        "items": [],
        "next_cursor": None,
        "unread_count": 0,
    }


async def test_read_all(client, conn, staff, graduate):
    other = await helpers.graduate(client, staff, alias="Other")
    for _ in range(3):
        await send(client, staff, participant_id=graduate.id)
    await send(client, staff, participant_id=other.id)
    response = await client.post("/v1/me/notifications/read-all", headers=graduate.headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"marked": 3, "unread_count": 0}
    assert (await client.get("/v1/me/notifications", headers=graduate.headers)).json()["unread_count"] == 0
    assert (await client.post("/v1/me/notifications/read-all", headers=graduate.headers)).json() == {
        "marked": 0,
        "unread_count": 0,
    }
    assert (await client.get("/v1/me/notifications", headers=other.headers)).json()["unread_count"] == 1


# --- staff messages ------------------------------------------------------------------------


async def test_staff_message_to_a_graduate_is_discreet_on_the_lock_screen_and_audited(client, conn, staff, graduate):
    title, body = "About your relapse plan", "Your counselor wants to talk about cravings this week."
    response = await send(client, staff, participant_id=graduate.id, title=title, body=body)
    assert response.status_code == 201, response.text
    sent = response.json()
    assert sent["recipients"] == 1 and len(sent["notification_ids"]) == 1

    [item] = (await client.get("/v1/me/notifications", headers=graduate.headers)).json()["items"]
    assert (item["id"], item["kind"], item["title"], item["body"], item["urgent"]) == (
        sent["notification_ids"][0],
        "staff_message",
        title,
        body,
        False,
    )
    [row] = await stored(conn, graduate.id)
    assert (row["push_title"], row["push_body"]) == ("New message", "Open the app to read it.")
    for word in ("relapse", "craving", "counselor"):
        assert word not in (row["push_title"] + row["push_body"]).lower()
    [entry] = await conn.fetch("select actor_id, participant_id from audit_log where action = 'notification.send'")
    assert (str(entry["actor_id"]), str(entry["participant_id"])) == (staff.id, graduate.id)


async def test_an_urgent_staff_message_is_stored_as_urgent(client, conn, staff, graduate):
    response = await send(client, staff, participant_id=graduate.id, urgent=True)
    assert response.status_code == 201, response.text
    [row] = await stored(conn, graduate.id)
    assert row["urgent"] is True and row["kind"] == "staff_message"


async def test_staff_message_to_a_group_reaches_its_members_only(client, conn, staff):
    group = await create_group(client, staff, capacity=2)
    ann = await member(client, staff, group, alias="Ann")
    bo = await member(client, staff, group, alias="Bo")
    waiting = await helpers.graduate(client, staff, alias="Waiting")
    assert await join(client, group, waiting) == "waitlisted"
    outsider = await helpers.graduate(client, staff, alias="Outsider")

    response = await send(client, staff, group_id=group["id"], title="Room change", body="Room 4 from now on.")
    assert response.status_code == 201, response.text
    assert response.json()["recipients"] == 2
    got = {
        str(r["person_id"]): r["id"]
        for r in await conn.fetch("select person_id, id from notifications where kind = 'staff_message'")
    }
    assert set(got) == {ann.id, bo.id}
    assert sorted(response.json()["notification_ids"]) == sorted(got.values())
    for person in (ann, bo):
        [item] = (await client.get("/v1/me/notifications", headers=person.headers)).json()["items"]
        assert (item["title"], item["body"]) == ("Room change", "Room 4 from now on.")
    for person in (waiting, outsider):
        assert (await client.get("/v1/me/notifications", headers=person.headers)).json()["items"] == []
    [audited] = await conn.fetch("select participant_ids, details from audit_log where action = 'notification.send'")
    assert sorted(map(str, audited["participant_ids"])) == sorted([ann.id, bo.id])  # one row naming both
    assert json.loads(audited["details"])["group_id"] == group["id"]


async def test_a_group_message_skips_deactivated_members_and_audits_only_who_got_it(client, conn, staff):
    group = await create_group(client, staff)
    ann = await member(client, staff, group, alias="Ann")
    gone = await member(client, staff, group, alias="Gone")
    await client.post(f"/v1/staff/participants/{gone.id}/deactivate", headers=staff.headers)

    response = await send(client, staff, group_id=group["id"])
    assert response.status_code == 201, response.text
    assert response.json()["recipients"] == 1
    assert [str(r["person_id"]) for r in await conn.fetch("select person_id from notifications")] == [ann.id]
    # The audit trail names the people who were sent something, not a deactivated member who was not.
    audited = await conn.fetch("select participant_id from audit_log where action = 'notification.send'")
    assert [str(a["participant_id"]) for a in audited] == [ann.id]


async def test_staff_message_refusals(client, conn, hasher, staff, graduate):
    group = await create_group(client, staff)
    assert_problem(await send(client, staff), 400)
    assert_problem(await send(client, staff, participant_id=graduate.id, group_id=group["id"]), 400)
    assert_problem(await send(client, staff, participant_id=graduate.id, title=" "), 400)
    assert_problem(await send(client, staff, participant_id=graduate.id, body=""), 400)
    assert_problem(await send(client, staff, participant_id=graduate.id, colour="red"), 400)
    assert_problem(await send(client, staff, participant_id=str(uuid.uuid4())), 404)
    assert_problem(await send(client, staff, participant_id=staff.id), 404)  # staff are not graduates
    assert_problem(await send(client, staff, group_id=str(uuid.uuid4())), 404)
    facilitator = await helpers.account(client, conn, hasher, ["facilitator"])
    for caller in (graduate, facilitator):
        assert_problem(await send(client, caller, participant_id=graduate.id), 403)
    await client.post(f"/v1/staff/participants/{graduate.id}/deactivate", headers=staff.headers)
    assert_problem(await send(client, staff, participant_id=graduate.id), 409)
    await client.post(f"/v1/staff/groups/{group['id']}/archive", headers=staff.headers)
    assert_problem(await send(client, staff, group_id=group["id"]), 409)
    assert await conn.fetchval("select count(*) from notifications") == 0
    assert await conn.fetchval("select count(*) from audit_log where action = 'notification.send'") == 0


# --- group events --------------------------------------------------------------------------


async def test_an_announcement_reaches_each_member_but_not_the_waitlist_or_the_author(client, conn, hasher, staff):
    facilitator = await helpers.account(client, conn, hasher, ["facilitator"])
    group = await create_group(client, staff, capacity=2, facilitator_ids=[facilitator.id])
    ann, bo = await member(client, staff, group, alias="Ann"), await member(client, staff, group, alias="Bo")
    waiting = await helpers.graduate(client, staff, alias="Waiting")
    assert await join(client, group, waiting) == "waitlisted"

    body = {"title": "Potluck next week", "body": "Bring a dish; the relapse-prevention talk moves to 8 PM."}
    response = await client.post(f"/v1/groups/{group['id']}/announcements", json=body, headers=facilitator.headers)
    assert response.status_code == 201, response.text
    announcement = response.json()
    for person in (ann, bo):
        [item] = (await client.get("/v1/me/notifications", headers=person.headers)).json()["items"]
        assert (item["kind"], item["title"], item["body"]) == ("announcement", body["title"], body["body"])
        assert item["data"] == {
            "kind": "announcement",
            "group_id": group["id"],
            "announcement_id": str(announcement["id"]),
        }
        [row] = await stored(conn, person.id)
        assert (row["push_title"], row["push_body"]) == ("New message from your group", "Open the app to read it.")
    assert await stored(conn, waiting.id) == []
    assert await stored(conn, facilitator.id) == []
    # Staff announce the same way.
    await client.post(
        f"/v1/groups/{group['id']}/announcements", json={"title": "Hi", "body": "From staff."}, headers=staff.headers
    )
    assert len(await stored(conn, ann.id, "announcement")) == 2


@pytest.mark.clock_instants
async def test_a_cancelled_session_is_told_in_each_members_own_time_zone(client, conn, staff):
    group = await create_group(client, staff)  # Tuesdays 19:00-20:30, America/Chicago
    chicago = await member(client, staff, group, alias="Chi", timezone="America/Chicago")
    berlin = await member(client, staff, group, alias="Ber", timezone="Europe/Berlin")
    session = (await sessions_of(client, group, staff.headers, hours_from=24))[0]  # more than 2 hours away
    starts_at = dt.datetime.fromisoformat(session["starts_at"])

    response = await client.post(f"/v1/sessions/{session['id']}/cancel", json={"reason": "Snow"}, headers=staff.headers)
    assert response.status_code == 200, response.text
    [at_chicago] = await stored(conn, chicago.id)
    [at_berlin] = await stored(conn, berlin.id)
    assert clock_text(starts_at, "America/Chicago") == "7:00 PM"
    assert clock_text(starts_at, "Europe/Berlin") in ("1:00 AM", "2:00 AM")  # the next morning there
    for row, zone in ((at_chicago, "America/Chicago"), (at_berlin, "Europe/Berlin")):
        when = f"{day_text(starts_at, zone)} at {clock_text(starts_at, zone)}"
        assert row["kind"] == "session_changed" and row["urgent"] is False
        assert (row["push_title"], row["push_body"]) == (
            "A session was cancelled",
            f"The session on {when} will not take place.",
        )
        assert row["data"] == {
            "kind": "session_changed",
            "session_id": session["id"],
            "group_id": group["id"],
            "change": "cancelled",
        }
        assert row["expires_at"] == starts_at
        assert "Snow" in row["body"] and "Tuesday Evening Circle" in row["title"]
        assert "Tuesday Evening Circle" not in row["push_title"] + row["push_body"]
    assert day_text(starts_at, "America/Chicago").startswith("Tue")
    assert day_text(starts_at, "Europe/Berlin").startswith("Wed")


@pytest.mark.clock_instants(*FEW)
async def test_a_cancellation_within_two_hours_is_urgent_and_told_once(client, conn, staff):
    group, session = await group_with_session_in(client, staff, 60)
    person = await member(client, staff, group)
    url = f"/v1/sessions/{session['id']}/cancel"
    assert (await client.post(url, json={"reason": "Facilitator ill"}, headers=staff.headers)).status_code == 200
    assert (await client.post(url, json={"reason": "Still ill"}, headers=staff.headers)).status_code == 200
    [row] = await stored(conn, person.id)
    assert (row["kind"], row["urgent"]) == ("session_changed", True)
    assert "Facilitator ill" in row["body"]


@pytest.mark.clock_instants
async def test_a_rescheduled_session_tells_members_where_it_moved(client, conn, staff):
    group = await create_group(client, staff)  # Tuesdays 19:00, America/Chicago
    person = await member(client, staff, group, timezone="Asia/Kolkata")
    session = (await sessions_of(client, group, staff.headers, hours_from=24))[0]
    new_start = dt.datetime.fromisoformat(session["starts_at"]) + dt.timedelta(days=1, hours=-1)
    body = {
        "starts_at": new_start.isoformat(),
        "ends_at": (new_start + dt.timedelta(hours=1)).isoformat(),
        "reason": "Room booked",
    }
    response = await client.post(f"/v1/sessions/{session['id']}/reschedule", json=body, headers=staff.headers)
    assert response.status_code == 200, response.text
    [row] = await stored(conn, person.id)
    when = f"{day_text(new_start, 'Asia/Kolkata')} at {clock_text(new_start, 'Asia/Kolkata')}"
    assert row["kind"] == "session_changed" and row["data"]["change"] == "moved"
    assert (row["push_title"], row["push_body"]) == ("A session was moved", f"It now starts {when}.")
    assert row["urgent"] is False and "Room booked" in row["body"]
    assert clock_text(new_start, "Asia/Kolkata").endswith(("30 AM", "30 PM"))  # India's half-hour offset shows


@pytest.mark.clock_instants
async def test_a_schedule_edit_tells_members_of_moved_and_dropped_sessions(client, conn, staff):
    group = await create_group(client, staff)  # Tuesdays 19:00-20:30, America/Chicago
    person = await member(client, staff, group, timezone="America/New_York")
    session = (await sessions_of(client, group, staff.headers, hours_from=24))[0]
    await client.put(f"/v1/sessions/{session['id']}/rsvp", json={"status": "going"}, headers=person.headers)
    url = f"/v1/staff/groups/{group['id']}"

    earlier = [{"weekday": "tuesday", "start": "18:00", "end": "19:30"}]
    assert (await client.patch(url, json={"schedule": earlier}, headers=staff.headers)).status_code == 200
    [moved] = await stored(conn, person.id)
    new_start = dt.datetime.fromisoformat(session["starts_at"]) - dt.timedelta(hours=1)
    when = f"{day_text(new_start, 'America/New_York')} at {clock_text(new_start, 'America/New_York')}"
    assert clock_text(new_start, "America/New_York") == "7:00 PM"  # 18:00 in Chicago
    assert (moved["kind"], moved["data"]["change"], moved["push_body"]) == (
        "session_changed",
        "moved",
        f"It now starts {when}.",
    )

    thursdays = [{"weekday": "thursday", "start": "19:00", "end": "20:00"}]
    assert (await client.patch(url, json={"schedule": thursdays}, headers=staff.headers)).status_code == 200
    rows = await stored(conn, person.id)
    assert [r["data"].get("change") for r in rows] == ["moved", "cancelled"]
    assert rows[1]["data"]["session_id"] == session["id"]
    assert rows[1]["push_body"] == f"The session on {when} will not take place."
    assert "The group's schedule changed." in rows[1]["body"]


async def test_leaving_a_full_group_seats_the_first_waiting_and_tells_them(client, conn, staff):
    group = await create_group(client, staff, capacity=1)
    leaving = await member(client, staff, group, alias="Leaving")
    first = await helpers.graduate(client, staff, alias="First")
    second = await helpers.graduate(client, staff, alias="Second")
    assert await join(client, group, first) == "waitlisted"
    assert await join(client, group, second) == "waitlisted"

    response = await client.delete(f"/v1/groups/{group['id']}/membership", headers=leaving.headers)
    assert response.status_code in (200, 204), response.text
    [item] = (await client.get("/v1/me/notifications", headers=first.headers)).json()["items"]
    assert item["kind"] == "waitlist_seat" and item["data"] == {"kind": "waitlist_seat", "group_id": group["id"]}
    assert "Tuesday Evening Circle" in item["title"]
    [row] = await stored(conn, first.id)
    assert (row["push_title"], row["push_body"]) == ("A seat opened for you", "Open the app for the details.")
    assert await stored(conn, second.id) == [] and await stored(conn, leaving.id) == []


async def test_raising_capacity_seats_and_tells_the_waitlist(client, conn, staff):
    group = await create_group(client, staff, capacity=1)
    await member(client, staff, group, alias="Seated")
    first = await helpers.graduate(client, staff, alias="First")
    second = await helpers.graduate(client, staff, alias="Second")
    third = await helpers.graduate(client, staff, alias="Third")
    for person in (first, second, third):
        assert await join(client, group, person) == "waitlisted"
    response = await client.patch(f"/v1/staff/groups/{group['id']}", json={"capacity": 3}, headers=staff.headers)
    assert response.status_code == 200, response.text
    assert [len(await stored(conn, p.id, "waitlist_seat")) for p in (first, second, third)] == [1, 1, 0]


async def test_deleting_an_account_gives_its_seat_to_the_first_waiting_and_tells_them(client, conn, staff):
    group = await create_group(client, staff, capacity=1)
    leaving = await member(client, staff, group, alias="Leaving")
    waiting = await helpers.graduate(client, staff, alias="Waiting")
    assert await join(client, group, waiting) == "waitlisted"
    assert (await client.delete("/v1/me", headers=leaving.headers)).status_code == 200
    [row] = await stored(conn, waiting.id)
    assert row["kind"] == "waitlist_seat" and row["data"]["group_id"] == group["id"]


@pytest.mark.clock_instants(*ONCE)
async def test_a_crisis_check_in_leaves_help_in_the_inbox_once(client, conn, graduate):
    body = helpers.checkin_body(need_support="crisis_now", mood=1)
    first = await client.post("/v1/checkins", json=body, headers=graduate.headers)
    assert first.status_code == 201, first.text
    repeat = await client.post("/v1/checkins", json=body, headers=graduate.headers)
    assert repeat.status_code == 200, repeat.text

    [row] = await stored(conn, graduate.id)
    assert (row["kind"], row["urgent"]) == ("crisis_support", True)
    assert "988" in row["body"]
    assert (row["push_title"], row["push_body"]) == ("New message", "Open the app to read it.")
    [item] = (await client.get("/v1/me/notifications", headers=graduate.headers)).json()["items"]
    assert item["id"] == row["id"] and "988" in item["body"]
    # A calm check-in writes none.
    calm = await client.post("/v1/checkins", json=helpers.checkin_body(), headers=graduate.headers)
    assert calm.status_code == 201 and len(await stored(conn, graduate.id)) == 1


# --- the staff message preview ----------------------------------------------------------------


async def test_the_preview_shows_what_the_lock_screen_and_the_inbox_will_say(client, conn, staff, graduate):
    draft = {"title": " From your counselor ", "body": "Call me about the relapse you told me about"}
    response = await client.post("/v1/staff/notifications/preview", json=draft, headers=staff.headers)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "lock_screen": {"title": "New message", "body": "Open the app to read it."},
        "inbox": {"title": "From your counselor", "body": "Call me about the relapse you told me about"},
    }
    # A draft being typed: either part may be empty. Nothing is sent or stored.
    empty = await client.post("/v1/staff/notifications/preview", json={}, headers=staff.headers)
    assert empty.json()["inbox"] == {"title": "", "body": ""}
    assert await conn.fetchval("select count(*) from notifications") == 0
    refused = await client.post("/v1/staff/notifications/preview", json=draft, headers=graduate.headers)
    assert_problem(refused, 403)


@pytest.mark.parametrize(
    "draft, field",
    [({"title": "x" * 121}, "title"), ({"body": "x" * 4001}, "body"), ({"title": 5}, "title"), ({"to": "x"}, "to")],
)
async def test_a_bad_preview_draft_is_a_400_naming_the_field(client, staff, draft, field):
    response = await client.post("/v1/staff/notifications/preview", json=draft, headers=staff.headers)
    assert_problem(response, 400)
    assert field in response.text
