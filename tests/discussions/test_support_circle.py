"""The support circle and help now through the real API, the real worker and firebase-admin
against the local FCM fake (PRODUCT.md section 10): invitations, asking, the lock screen,
answers, escalation after 15 minutes, limits, leaving, blocks, deletion."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from zoneinfo import ZoneInfo

import pytest
from websockets.asyncio.client import connect

from api.worker import Worker
from db.pool import create_pool
from notifications.quiet import DEFAULT_QUIET, quiet_until
from notifications.sender import FirebaseSender
from notifications.templates import HELP_NOW_LOCK_TITLE
from tests import helpers
from tests.config import make_settings
from tests.helpers import assert_problem

ZONE = "America/Chicago"


@pytest.fixture
async def world(client, staff, conn, hasher):
    """A group with Ana, Ben, Dee and a facilitator; Cy is in another group."""
    group = await helpers.create_group(client, staff)
    other = await helpers.create_group(client, staff, name="Another Circle")
    facilitator = await helpers.account(client, conn, hasher, ["facilitator"])
    await conn.execute("insert into group_facilitators values ($1, $2)", group["id"], facilitator.id)
    people = {"staff": staff, "facilitator": facilitator, "group": group}
    for alias in ("Ana", "Ben", "Dee", "Cy"):
        who = await helpers.graduate(client, staff, alias=alias, timezone=ZONE, counselor_id=staff.id)
        joined = group if alias != "Cy" else other
        response = await client.post(f"/v1/groups/{joined['id']}/membership", headers=who.headers)
        assert response.status_code == 201, response.text
        people[alias.lower()] = who
    return people


async def invite(client, owner, person) -> dict:
    response = await client.post("/v1/me/circle/invitations", json={"person_id": person.id}, headers=owner.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def join(client, owner, *members) -> None:
    for member in members:
        invitation = await invite(client, owner, member)
        response = await client.post(f"/v1/me/circle/invitations/{invitation['id']}/accept", headers=member.headers)
        assert response.status_code == 200, response.text


async def ask(client, who, message: str | None = None):
    return await client.post("/v1/me/help-now", json={"message": message} if message else {}, headers=who.headers)


async def device(client, who, token: str) -> None:
    response = await client.post("/v1/me/devices", json={"token": token, "platform": "ios"}, headers=who.headers)
    assert response.status_code == 201, response.text


async def run_worker(database_url: str, service_account, at: dt.datetime) -> None:
    """One round of every job, with the clock at `at`, pushing through firebase-admin (a
    round closes its sender: each gets a fresh one)."""
    pool = await create_pool(database_url, max_size=2)
    try:
        sender = FirebaseSender(str(service_account))
        await Worker(make_settings(database_url), pool, sender, clock=lambda: at).run_once()
    finally:
        await pool.close()


def help_pushes(fcm, token: str) -> list[dict]:
    return [m for m in fcm.delivered_to(token) if m["data"]["kind"] in ("help_now", "crisis_support")]


# One zone per hour of offset: whatever the hour, one of them is in the middle of the night.
ZONES_AROUND_THE_WORLD = (
    "Pacific/Honolulu",
    "America/Anchorage",
    "America/Los_Angeles",
    "America/Denver",
    "America/Chicago",
    "America/New_York",
    "America/Halifax",
    "America/Sao_Paulo",
    "Atlantic/South_Georgia",
    "Atlantic/Azores",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Athens",
    "Europe/Moscow",
    "Asia/Dubai",
    "Asia/Karachi",
    "Asia/Dhaka",
    "Asia/Bangkok",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Australia/Brisbane",
    "Pacific/Noumea",
    "Pacific/Fiji",
    "Pacific/Tongatapu",
)


def zone_at_night(now: dt.datetime) -> str:
    """A zone where it is between 23:00 and 05:59 now: inside the default quiet hours."""
    return next(z for z in ZONES_AROUND_THE_WORLD if now.astimezone(ZoneInfo(z)).hour in (23, 0, 1, 2, 3, 4, 5))


# --- the circle ---------------------------------------------------------------------------------


async def test_an_invitation_accepted_puts_them_in_the_circle_both_see_it(client, world):
    ana, ben = world["ana"], world["ben"]
    invitation = await invite(client, ana, ben)
    expires = dt.datetime.fromisoformat(invitation["expires_at"])
    assert dt.timedelta(days=6, hours=23) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(days=7)
    received = (await client.get("/v1/me/circle/invitations", headers=ben.headers)).json()["items"]
    assert [(i["direction"], i["person"]) for i in received] == [("received", {"id": ana.id, "alias": "Ana"})]
    sent = (await client.get("/v1/me/circle/invitations", headers=ana.headers)).json()["items"]
    assert [(i["direction"], i["person"]["alias"]) for i in sent] == [("sent", "Ben")]
    # Before accepting, Ben is in nobody's circle as far as anyone can tell.
    assert (await client.get("/v1/me/circle", headers=ben.headers)).json()["in_circles_of"] == 0
    accepted = await client.post(f"/v1/me/circle/invitations/{invitation['id']}/accept", headers=ben.headers)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["in_circles_of"] == 1
    assert accepted.json()["in_circles"][0]["alias"] == "Ana"
    mine = (await client.get("/v1/me/circle", headers=ana.headers)).json()
    assert mine["members"] == [{"id": ben.id, "alias": "Ben"}] and mine["in_circles_of"] == 0
    assert (await client.get("/v1/me/circle/invitations", headers=ana.headers)).json()["items"] == []


async def test_only_people_sharing_a_group_can_be_invited_anyone_else_is_404(client, world, admin):
    ana = world["ana"]
    for stranger in (world["cy"].id, world["staff"].id, admin.id, str(uuid.uuid4()), ana.id):
        response = await client.post("/v1/me/circle/invitations", json={"person_id": stranger}, headers=ana.headers)
        assert_problem(response, 404, "not_found")
    # The group's facilitator can be in a graduate's circle, and accepts like anyone.
    await join(client, ana, world["facilitator"])
    circle = (await client.get("/v1/me/circle", headers=ana.headers)).json()
    assert [m["id"] for m in circle["members"]] == [world["facilitator"].id]
    # A facilitator has no circle of their own to invite to.
    response = await client.post(
        "/v1/me/circle/invitations", json={"person_id": ana.id}, headers=world["facilitator"].headers
    )
    assert_problem(response, 403, "forbidden")


async def test_a_circle_holds_five_open_invitations_included(client, world, staff):
    ana = world["ana"]
    others = [world["ben"], world["dee"], world["facilitator"]]
    for alias in ("Eve", "Fay", "Gus"):
        who = await helpers.graduate(client, staff, alias=alias)
        assert (
            await client.post(f"/v1/groups/{world['group']['id']}/membership", headers=who.headers)
        ).status_code == 201
        others.append(who)
    invitations = [await invite(client, ana, who) for who in others[:5]]
    response = await client.post("/v1/me/circle/invitations", json={"person_id": others[5].id}, headers=ana.headers)
    assert_problem(response, 409, "circle_full")
    again = await client.post("/v1/me/circle/invitations", json={"person_id": others[0].id}, headers=ana.headers)
    assert_problem(again, 409, "already_invited")
    # Withdrawing one makes room.
    withdrawn = await client.post(f"/v1/me/circle/invitations/{invitations[0]['id']}/decline", headers=ana.headers)
    assert withdrawn.status_code == 204, withdrawn.text
    await invite(client, ana, others[5])


async def test_an_invitation_lapses_after_seven_days_and_can_be_sent_again(client, world, conn):
    ana, ben = world["ana"], world["ben"]
    invitation = await invite(client, ana, ben)
    await conn.execute(
        "update circle_invitations set created_at = created_at - interval '8 days', "
        "expires_at = expires_at - interval '8 days' where id = $1",
        invitation["id"],
    )
    assert (await client.get("/v1/me/circle/invitations", headers=ben.headers)).json()["items"] == []
    lapsed = await client.post(f"/v1/me/circle/invitations/{invitation['id']}/accept", headers=ben.headers)
    assert_problem(lapsed, 404, "not_found")
    fresh = await invite(client, ana, ben)
    assert fresh["id"] != invitation["id"]
    outcomes = await conn.fetch("select outcome from circle_invitations order by id")
    assert [o["outcome"] for o in outcomes] == ["expired", None]


async def test_only_the_invitee_accepts_and_a_stranger_sees_nothing(client, world):
    ana, ben, cy = world["ana"], world["ben"], world["cy"]
    invitation = await invite(client, ana, ben)
    assert_problem(
        await client.post(f"/v1/me/circle/invitations/{invitation['id']}/accept", headers=ana.headers),
        403,
        "not_invited",
    )
    for path in ("accept", "decline"):
        response = await client.post(f"/v1/me/circle/invitations/{invitation['id']}/{path}", headers=cy.headers)
        assert_problem(response, 404, "not_found")
    declined = await client.post(f"/v1/me/circle/invitations/{invitation['id']}/decline", headers=ben.headers)
    assert declined.status_code == 204
    assert (await client.get("/v1/me/circle", headers=ana.headers)).json()["members"] == []


async def test_either_side_leaves_and_the_other_is_not_told(client, world, conn):
    ana, ben, dee = world["ana"], world["ben"], world["dee"]
    await join(client, ana, ben, dee)
    # Ben leaves Ana's circle; Ana takes Dee out of hers.
    assert (await client.delete(f"/v1/me/circle/{ana.id}", headers=ben.headers)).status_code == 204
    assert (await client.delete(f"/v1/me/circle/{dee.id}", headers=ana.headers)).status_code == 204
    assert (await client.get("/v1/me/circle", headers=ana.headers)).json()["members"] == []
    assert (await client.get("/v1/me/circle", headers=dee.headers)).json()["in_circles_of"] == 0
    assert_problem(await client.delete(f"/v1/me/circle/{ana.id}", headers=ben.headers), 404, "not_found")
    assert await conn.fetchval("select count(*) from notifications") == 0


async def test_a_block_ends_the_circle_both_ways_and_stops_new_invitations(client, world):
    ana, ben = world["ana"], world["ben"]
    await join(client, ana, ben)
    blocked = await client.post("/v1/me/blocks", json={"person_id": ana.id}, headers=ben.headers)
    assert blocked.status_code == 201, blocked.text
    assert (await client.get("/v1/me/circle", headers=ana.headers)).json()["members"] == []
    response = await client.post("/v1/me/circle/invitations", json={"person_id": ben.id}, headers=ana.headers)
    assert_problem(response, 404, "not_found")
    assert (await ask(client, ana)).json()["reached"] == 0


# --- help now -----------------------------------------------------------------------------------


async def test_help_now_reaches_the_circle_at_once_through_quiet_hours_without_names(
    client, world, conn, database_url, fcm, service_account
):
    ana, ben, dee = world["ana"], world["ben"], world["dee"]
    await join(client, ana, ben, dee)
    await device(client, ben, "ben-phone")
    await device(client, dee, "dee-phone")
    await device(client, ana, "ana-phone")
    answer = await ask(client, ana, "Craving hard after my sister's call, can someone call me?")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["reached"] == 2
    assert [r["phone"] for r in body["crisis_resources"]] == ["988", "911", "1-800-662-4357"]
    # A minute later, the middle of the night where Ben and Dee are (default quiet hours).
    at = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    night = zone_at_night(at)
    await conn.execute("update people set timezone = $1 where id = any($2::uuid[])", night, [ben.id, dee.id])
    assert quiet_until(at, night, *DEFAULT_QUIET) is not None
    await run_worker(database_url, service_account, at)
    pushed = {token: help_pushes(fcm, token) for token in ("ana-phone", "ben-phone", "dee-phone")}
    assert [len(p) for p in pushed.values()] == [0, 1, 1]
    pushed = {token: messages[0] for token, messages in pushed.items() if messages}
    for message in pushed.values():
        assert message["notification"] == {
            "title": HELP_NOW_LOCK_TITLE,
            "body": "Open the app to see how you can help.",
        }
        shown = str(message).lower()
        for secret in ("ana", "craving", "sister"):
            assert secret not in shown, secret
        assert message["data"] | {"notification_id": "-"} == {
            "kind": "help_now",
            "help_request_id": str(body["id"]),
            "notification_id": "-",
        }
    # The inbox, behind the app's sign-in, says who and what, and how to answer.
    inbox = (await client.get("/v1/me/notifications", headers=ben.headers)).json()["items"]
    [item] = [i for i in inbox if i["kind"] == "help_now"]
    assert item["title"] == "Ana asked you to reach out"
    assert "Craving hard after my sister's call" in item["body"] and "I'm reaching out" in item["body"]
    assert item["urgent"] is True
    received = await client.get(f"/v1/help-requests/{body['id']}", headers=ben.headers)
    assert received.json()["asker"] == {"id": ana.id, "alias": "Ana"} and received.json()["my_response"] is None


async def test_help_now_cannot_be_switched_off(client, world):
    response = await client.put(
        "/v1/me/notification-preferences", json={"kinds": {"help_now": False}}, headers=world["ben"].headers
    )
    assert_problem(response, 400)
    preferences = (await client.get("/v1/me/notification-preferences", headers=world["ben"].headers)).json()
    assert "help_now" in preferences["always_on"] and "help_now" in preferences["urgent_kinds"]


async def test_reaching_out_tells_the_asker_who_is_coming_once(client, world, conn):
    ana, ben, dee = world["ana"], world["ben"], world["dee"]
    await join(client, ana, ben, dee)
    request_id = (await ask(client, ana)).json()["id"]
    cannot = await client.post(
        f"/v1/help-requests/{request_id}/respond", json={"response": "cannot_now"}, headers=dee.headers
    )
    assert cannot.status_code == 200 and cannot.json()["my_response"] == "cannot_now"
    assert await conn.fetchval("select count(*) from notifications where person_id = $1", uuid.UUID(ana.id)) == 0
    for _ in range(2):
        coming = await client.post(
            f"/v1/help-requests/{request_id}/respond", json={"response": "reaching_out"}, headers=ben.headers
        )
        assert coming.status_code == 200, coming.text
    [told] = (await client.get("/v1/me/notifications", headers=ana.headers)).json()["items"]
    assert told["title"] == "Ben is reaching out" and told["urgent"] is True
    lock = await conn.fetchrow(
        "select push_title, push_body from notifications where person_id = $1", uuid.UUID(ana.id)
    )
    assert "Ben" not in lock["push_title"] + lock["push_body"]
    [mine] = (await client.get("/v1/me/help-now", headers=ana.headers)).json()["items"]
    assert mine["reaching_out"] == [{"id": ben.id, "alias": "Ben"}] and mine["reached"] == 2
    # Someone the call did not reach cannot answer it, nor read it.
    for who in (world["cy"], world["facilitator"]):
        assert_problem(await client.get(f"/v1/help-requests/{request_id}", headers=who.headers), 404, "not_found")
        response = await client.post(
            f"/v1/help-requests/{request_id}/respond", json={"response": "reaching_out"}, headers=who.headers
        )
        assert_problem(response, 404, "not_found")


async def test_nobody_reaching_out_in_15_minutes_offers_the_crisis_line_and_raises_the_alert(
    client, world, conn, database_url, fcm, service_account
):
    ana, ben = world["ana"], world["ben"]
    await join(client, ana, ben)
    await device(client, ana, "ana-phone")
    asked = (await ask(client, ana)).json()
    await client.post(f"/v1/help-requests/{asked['id']}/respond", json={"response": "cannot_now"}, headers=ben.headers)
    # 14 minutes on: nothing yet.
    await run_worker(database_url, service_account, dt.datetime.now(dt.UTC) + dt.timedelta(minutes=14))
    assert help_pushes(fcm, "ana-phone") == []
    assert await conn.fetchval("select count(*) from alerts where kind = 'help_now'") == 0
    await run_worker(database_url, service_account, dt.datetime.now(dt.UTC) + dt.timedelta(minutes=16))
    [push] = help_pushes(fcm, "ana-phone")
    assert push["notification"] == {"title": "New message", "body": "Open the app to read it."}
    [item] = [
        i
        for i in (await client.get("/v1/me/notifications", headers=ana.headers)).json()["items"]
        if i["kind"] == "crisis_support"
    ]
    assert item["kind"] == "crisis_support" and "988" in item["body"] and "reaching out yet" in item["body"]
    alert = await conn.fetchrow("select severity, status, reasons from alerts where kind = 'help_now'")
    assert alert["severity"] == 3 and alert["status"] == "open"
    assert json.loads(alert["reasons"])[0]["code"] == "help_now_unanswered"
    # Once only, however often the worker runs.
    await run_worker(database_url, service_account, dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30))
    assert len(help_pushes(fcm, "ana-phone")) == 1
    assert await conn.fetchval("select count(*) from notifications where kind = 'crisis_support'") == 1


async def test_someone_reaching_out_in_time_means_no_escalation(client, world, conn, database_url, service_account):
    ana, ben = world["ana"], world["ben"]
    await join(client, ana, ben)
    asked = (await ask(client, ana)).json()
    await client.post(
        f"/v1/help-requests/{asked['id']}/respond", json={"response": "reaching_out"}, headers=ben.headers
    )
    await run_worker(database_url, service_account, dt.datetime.now(dt.UTC) + dt.timedelta(minutes=20))
    assert await conn.fetchval("select escalated_at from help_requests") is None
    assert await conn.fetchval("select count(*) from alerts") == 0


async def test_asking_twice_in_a_day_or_after_reporting_use_raises_a_medium_alert(client, world, conn):
    ana, dee = world["ana"], world["dee"]
    assert (await ask(client, ana)).status_code == 201
    assert await conn.fetchval("select count(*) from alerts") == 0
    assert (await ask(client, ana)).status_code == 201
    [alert] = await conn.fetch("select person_id::text, kind, severity, reasons from alerts")
    assert (alert["person_id"], alert["kind"], alert["severity"]) == (ana.id, "help_now", 2)
    assert [r["code"] for r in json.loads(alert["reasons"])] == ["help_now_again"]
    # Dee reported use in today's check-in: her first call already tells her counselor.
    checkin = await client.post("/v1/checkins", json=helpers.checkin_body(used=True), headers=dee.headers)
    assert checkin.status_code == 201, checkin.text
    assert (await ask(client, dee)).status_code == 201
    codes = await conn.fetchval(
        "select reasons from alerts where person_id = $1 and kind = 'help_now'", uuid.UUID(dee.id)
    )
    assert [r["code"] for r in json.loads(codes)] == ["help_now_after_checkin"]
    # The call shows on the timeline of the alert her check-in opened.
    events = await conn.fetch(
        """
        select e.kind from alert_events e join alerts a on a.id = e.alert_id
        where a.person_id = $1 and a.kind <> 'help_now' order by e.id
        """,
        uuid.UUID(dee.id),
    )
    assert "help_now" in [e["kind"] for e in events]


async def test_three_calls_an_hour_then_429_with_retry_after(client, world):
    ana = world["ana"]
    answers = await asyncio.gather(*(ask(client, ana) for _ in range(5)))
    assert sorted(a.status_code for a in answers) == [201, 201, 201, 429, 429]
    refused = next(a for a in answers if a.status_code == 429)
    assert_problem(refused, 429, "help_now_rate_limited")
    assert 0 < int(refused.headers["retry-after"]) <= 3600
    assert "988" in refused.json()["detail"]


async def test_a_muted_circle_is_not_reached_until_the_mute_ends(client, world, conn):
    ana, ben, dee = world["ana"], world["ben"], world["dee"]
    await join(client, ana, ben, dee)
    muted = await client.post(f"/v1/me/circle/{ana.id}/mute", json={"hours": 8}, headers=ben.headers)
    assert muted.status_code == 200, muted.text
    assert muted.json()["alias"] == "Ana" and muted.json()["muted_until"]
    assert (await ask(client, ana)).json()["reached"] == 1
    assert await conn.fetchval("select count(*) from notifications where person_id = $1", uuid.UUID(ben.id)) == 0
    assert (await client.delete(f"/v1/me/circle/{ana.id}/mute", headers=ben.headers)).status_code == 204
    assert (await ask(client, ana)).json()["reached"] == 2
    for hours in (0, 24 * 7 + 1):
        response = await client.post(f"/v1/me/circle/{ana.id}/mute", json={"hours": hours}, headers=ben.headers)
        assert_problem(response, 400)
    assert_problem(
        await client.post(f"/v1/me/circle/{world['cy'].id}/mute", json={"hours": 1}, headers=ben.headers), 404
    )


@pytest.mark.parametrize("message", ["", " ", "x" * 281, "a\u202eb", "ok\x00"])
async def test_a_bad_message_is_a_400_and_nothing_is_sent(client, world, conn, message):
    response = await client.post("/v1/me/help-now", json={"message": message}, headers=world["ana"].headers)
    assert_problem(response, 400)
    assert await conn.fetchval("select count(*) from help_requests") == 0


async def test_staff_read_calls_for_help_audited_and_the_graduate_deletion_takes_them(client, world, conn):
    ana, ben, staff = world["ana"], world["ben"], world["staff"]
    await join(client, ana, ben)
    asked = (await ask(client, ana, "Please call")).json()
    await client.post(
        f"/v1/help-requests/{asked['id']}/respond", json={"response": "reaching_out"}, headers=ben.headers
    )
    listed = await client.get(f"/v1/staff/participants/{ana.id}/help-requests", headers=staff.headers)
    assert listed.status_code == 200, listed.text
    [item] = listed.json()["items"]
    assert item["message"] == "Please call" and item["reached"] == 1
    assert [(a["person"]["alias"], a["response"]) for a in item["answers"]] == [("Ben", "reaching_out")]
    assert item["answers"][0]["responded_at"].endswith("Z")  # written like every other moment
    assert (
        await conn.fetchval(
            "select count(*) from audit_log where action = 'participant.help_requests.read' and participant_id = $1",
            uuid.UUID(ana.id),
        )
        == 1
    )
    exported = (await client.get("/v1/me/export", headers=ana.headers)).json()["data"]
    assert exported["circle"]["members"][0]["person_id"] == ben.id
    assert exported["help_requests"][0]["message"] == "Please call"
    ben_export = (await client.get("/v1/me/export", headers=ben.headers)).json()["data"]
    assert ben_export["circle"]["in_circles_of"][0]["person_id"] == ana.id
    assert ben_export["help_responses"][0]["response"] == "reaching_out"
    assert (await client.delete("/v1/me", headers=ana.headers)).status_code in (200, 204)
    for table in ("circle_members", "circle_invitations", "help_requests", "help_responses"):
        assert await conn.fetchval(f"select count(*) from {table}") == 0, table
    # Her words left Ben's inbox with her.
    assert await conn.fetchval("select count(*) from notifications where kind = 'help_now'") == 0


async def test_the_askers_live_socket_hears_at_once_that_someone_is_reaching_out(client, world, api_url):
    """Against the served app (uvicorn): the answer goes through the test client's app, the
    event through PostgreSQL to the other app's socket."""
    ana, ben, dee = world["ana"], world["ben"], world["dee"]
    await join(client, ana, ben, dee)
    request_id = (await ask(client, ana)).json()["id"]
    url = api_url.replace("http://", "ws://") + f"/v1/groups/{world['group']['id']}/live"
    async with connect(url, additional_headers=ana.headers, open_timeout=10) as socket:
        assert json.loads(await asyncio.wait_for(socket.recv(), 10)) == {"type": "ready"}
        await client.post(
            f"/v1/help-requests/{request_id}/respond", json={"response": "cannot_now"}, headers=dee.headers
        )
        await client.post(
            f"/v1/help-requests/{request_id}/respond", json={"response": "reaching_out"}, headers=ben.headers
        )
        heard = json.loads(await asyncio.wait_for(socket.recv(), 5))
        assert heard == {"type": "help_response", "request_id": request_id}
    # Ben's own socket hears nothing of Ana's call (it is on her channel only).
    async with connect(url, additional_headers=ben.headers, open_timeout=10) as socket:
        assert json.loads(await asyncio.wait_for(socket.recv(), 10)) == {"type": "ready"}
        await client.post(
            f"/v1/help-requests/{request_id}/respond", json={"response": "reaching_out"}, headers=dee.headers
        )
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(socket.recv(), 1.5)


# --- what the review found ---------------------------------------------------------------------


async def test_a_call_once_answered_is_never_escalated_even_if_the_answer_changes_or_its_author_leaves(
    client, world, conn, database_url, service_account
):
    ana, ben = world["ana"], world["ben"]
    await join(client, ana, ben)
    asked = (await ask(client, ana)).json()
    for response in ("reaching_out", "cannot_now"):
        answer = await client.post(
            f"/v1/help-requests/{asked['id']}/respond", json={"response": response}, headers=ben.headers
        )
        assert answer.status_code == 200, answer.text
    assert (await client.delete("/v1/me", headers=ben.headers)).status_code in (200, 204)
    await run_worker(database_url, service_account, dt.datetime.now(dt.UTC) + dt.timedelta(days=3))
    assert await conn.fetchval("select escalated_at from help_requests") is None
    assert await conn.fetchval("select count(*) from alerts where kind = 'help_now'") == 0
    # Ben's alias left Ana's inbox with his account.
    left = await conn.fetch("select person_id::text, title, data::text from notifications where kind = 'help_now'")
    assert [dict(r) for r in left] == []


async def test_someone_blocked_or_taken_out_of_the_circle_can_no_longer_read_or_answer(client, world, conn):
    ana, ben, dee = world["ana"], world["ben"], world["dee"]
    await join(client, ana, ben, dee)
    request_id = (await ask(client, ana, "Please call")).json()["id"]
    assert (await client.post("/v1/me/blocks", json={"person_id": ben.id}, headers=ana.headers)).status_code == 201
    assert (await client.delete(f"/v1/me/circle/{dee.id}", headers=ana.headers)).status_code == 204
    for who in (ben, dee):
        assert_problem(await client.get(f"/v1/help-requests/{request_id}", headers=who.headers), 404, "not_found")
        response = await client.post(
            f"/v1/help-requests/{request_id}/respond", json={"response": "reaching_out"}, headers=who.headers
        )
        assert_problem(response, 404, "not_found")
    assert await conn.fetchval("select count(*) from notifications where person_id = $1", uuid.UUID(ana.id)) == 0


async def test_accepting_after_leaving_the_group_closes_the_invitation_and_frees_the_place(client, world, conn):
    ana, ben = world["ana"], world["ben"]
    invitation = await invite(client, ana, ben)
    left = await client.delete(f"/v1/groups/{world['group']['id']}/membership", headers=ben.headers)
    assert left.status_code in (200, 204), left.text
    accepted = await client.post(f"/v1/me/circle/invitations/{invitation['id']}/accept", headers=ben.headers)
    assert_problem(accepted, 404, "not_found")
    assert await conn.fetchval("select outcome from circle_invitations") == "declined"
    assert (await client.get("/v1/me/circle/invitations", headers=ana.headers)).json()["items"] == []


async def test_one_call_that_cannot_be_escalated_is_skipped_shown_and_tried_again_later(
    client, world, conn, database_url, service_account
):
    ana, dee = world["ana"], world["dee"]
    asked = [(await ask(client, who)).json()["id"] for who in (ana, dee)]
    # Ana's alert cannot be written (a fault planted in the database), Dee's can.
    await conn.execute(
        f"""
        create function refuse_ana() returns trigger language plpgsql as $$
        begin
            if new.person_id = '{ana.id}' then raise exception 'planted fault'; end if;
            return new;
        end $$;
        create trigger refuse_ana before insert on alerts for each row execute function refuse_ana();
        """
    )
    try:
        at = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=16)
        await run_worker(database_url, service_account, at)
        states = dict(await conn.fetch("select id, escalated_at is not null from help_requests order by id"))
        assert states == {asked[0]: False, asked[1]: True}
        skipped = await conn.fetch("select person_id::text from job_skips where job = 'help_now'")
        assert [s["person_id"] for s in skipped] == [ana.id]
        assert await conn.fetchval("select last_failure_at from job_runs where job = 'help_now'") is None
    finally:
        await conn.execute("drop trigger refuse_ana on alerts; drop function refuse_ana()")
    await run_worker(database_url, service_account, at + dt.timedelta(minutes=1))  # not yet: its retry waits
    assert await conn.fetchval("select escalated_at from help_requests where id = $1", asked[0]) is None
    await run_worker(database_url, service_account, at + dt.timedelta(minutes=3))
    assert await conn.fetchval("select escalated_at from help_requests where id = $1", asked[0]) is not None
    assert await conn.fetchval("select count(*) from job_skips where job = 'help_now'") == 0
