"""The small world each route of tests/attack/authorization_policy.py is checked in
(tests/attack/test_authorization.py): built afresh for every route, through the API where the API
can do it; and the ids that go into a route's path, the world's own or foreign ones."""

from __future__ import annotations

import datetime as dt
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from api.auth.credentials import Hasher
from api.groups import schedule as rules
from tests import helpers

_PARAM = re.compile(r"\{(\w+):\w+\}")


def path_params(template: str) -> list[str]:
    return _PARAM.findall(template)


def fill_path(template: str, values: dict[str, Any]) -> str:
    return _PARAM.sub(lambda match: str(values[match.group(1)]), template)


def foreign_ids() -> dict[str, str]:
    """Well-formed ids of nothing that exists, one for each kind of path parameter."""
    return {
        "participant_id": str(uuid.uuid4()),
        "account_id": str(uuid.uuid4()),
        "group_id": str(uuid.uuid4()),
        "sign_in_id": str(uuid.uuid4()),
        "session_id": rules.session_id(uuid.uuid4(), dt.date.today(), 1),
        "device_id": str(2**62),
        "notification_id": str(2**62),
        "alert_id": str(2**62),
        "feed": f"{secrets.token_urlsafe(32)}.ics",
        "post_id": str(2**62),
        "item_id": str(2**62),
        "person_id": str(uuid.uuid4()),
        "invitation_id": str(2**62),
        "request_id": str(2**62),
    }


@dataclass
class World:
    """Accounts, two groups (one with a session going on now), memberships, an RSVP, a check-in
    with an open alert, a device, a notification, a second sign-in, a calendar feed, and posts
    in both groups' discussions with an item in the moderation queue each and a block: enough
    for every route to have something to act on."""

    client: Any
    people: dict[str, helpers.Actor]
    """Signed-in callers by name (CALLERS but anonymous), `spare`: an account for the account
    routes and for fresh sign-ins (so no caller's own session is used up), and `peer`: a
    fellow member of the owner's group, who reported the owner's post and whom the owner blocked."""
    ids: dict[str, str]
    """Path parameter name -> the owner's object of that kind."""
    sessions: dict[str, dict[str, Any]]
    """`now` (started 10 minutes ago) and `next` (a week later) of the owner's group."""
    check_in_code: str
    secrets: list[str]
    """Texts only PRIVILEGED callers may ever be shown."""
    pending_participant: str
    """Enrolled, never activated: where fresh activation codes come from."""

    @property
    def owner(self) -> helpers.Actor:
        return self.people["owner"]

    @property
    def spare(self) -> helpers.Actor:
        return self.people["spare"]

    def headers(self, caller: str) -> dict[str, str]:
        return {} if caller == "anonymous" else self.people[caller].headers

    async def fresh_activation_code(self) -> str:
        response = await self.client.post(
            f"/v1/staff/participants/{self.pending_participant}/activation-code", headers=self.people["staff"].headers
        )
        assert response.status_code == 201, response.text
        return response.json()["activation_code"]

    async def fresh_setup_code(self) -> str:
        """A new account's set-up code (each call its own account: a code works once)."""
        body = {"email": f"setup-{uuid.uuid4().hex[:8]}@example.org", "name": "New Colleague", "roles": ["staff"]}
        response = await self.client.post("/v1/staff/accounts", json=body, headers=self.people["admin"].headers)
        assert response.status_code == 201, response.text
        return response.json()["setup_code"]

    async def fresh_mfa_challenge(self) -> tuple[str, str]:
        """(challenge, recovery code) of a new account with two-factor on, its password given:
        each call its own account, as a challenge and a recovery code work once."""
        body = {"code": await self.fresh_setup_code(), "password": helpers.PASSWORD}
        signed_in = _ok(await self.client.post("/v1/auth/setup", json=body))
        _, recovery_codes = await helpers.enrol_totp(self.client, helpers.Actor("", helpers.bearer(signed_in)))
        email = (await self.client.get("/v1/me", headers=helpers.bearer(signed_in))).json()["email"]
        answer = await self.client.post("/v1/auth/login", json={"email": email, "password": helpers.PASSWORD})
        assert answer.status_code == 401 and answer.json()["code"] == "mfa_required", answer.text
        return answer.json()["challenge"], recovery_codes[0]

    async def fresh_report(self) -> str:
        """The peer's report of the owner's post: a new item once the last one was closed."""
        response = await self.client.post(
            f"/v1/posts/{self.ids['post_id']}/report", json={"reason": "other"}, headers=self.people["peer"].headers
        )
        return str(_ok(response)["id"])

    async def fresh_refresh_token(self) -> str:
        response = await self.client.post(
            "/v1/auth/login", json={"email": self.spare.email, "password": helpers.PASSWORD}
        )
        assert response.status_code == 201, response.text
        return response.json()["refresh_token"]


def _ok(response, *statuses: int) -> Any:
    assert response.status_code in (statuses or (200, 201)), response.text
    return response.json() if response.content else None


async def build_world(client, conn: asyncpg.Connection, hasher: Hasher, secret_key: str) -> World:
    """An empty database, then the world, through the API where the API can do it."""
    await helpers.empty_database(conn)
    people: dict[str, helpers.Actor] = {}
    for name, roles in (
        ("staff", ["staff"]),
        ("admin", ["admin", "staff"]),
        ("facilitator", ["facilitator"]),
        ("other_facilitator", ["facilitator"]),
        ("spare", ["facilitator"]),
    ):
        people[name] = await helpers.account(client, conn, hasher, roles)
    staff = people["staff"]
    marker = uuid.uuid4().hex[:8]
    owner_email, owner_phone = f"owner-{marker}@example.org", f"+1 555 {secrets.randbelow(10**7):07d}"
    people["owner"] = owner = await helpers.graduate(
        client, staff, alias="Owner", email=owner_email, phone=owner_phone, counselor_id=staff.id
    )
    people["other_graduate"] = other = await helpers.graduate(client, staff, alias="Other")
    pending = await helpers.enroll(client, staff, alias="Pending")

    # The owner's group has a session that started 10 minutes ago (weekly, so the next is
    # a week later); it is public, for the public calendar.
    zone, slot = helpers.slot_starting_in(-10, 60)
    group = await helpers.create_group(
        client, staff, timezone=zone, schedule=[slot], facilitator_ids=[people["facilitator"].id], public=True
    )
    other_group = await helpers.create_group(
        client, staff, name="Another Circle", facilitator_ids=[people["other_facilitator"].id]
    )
    _ok(await client.post(f"/v1/groups/{group['id']}/membership", headers=owner.headers))
    _ok(await client.post(f"/v1/groups/{other_group['id']}/membership", headers=other.headers))
    now = dt.datetime.now(dt.UTC)
    listed = _ok(
        await client.get(
            f"/v1/groups/{group['id']}/sessions",
            params={"from": (now - dt.timedelta(hours=2)).isoformat(), "to": (now + dt.timedelta(days=8)).isoformat()},
            headers=owner.headers,
        )
    )
    session_now, session_next = listed["items"][:2]
    _ok(await client.put(f"/v1/sessions/{session_now['id']}/rsvp", json={"status": "going"}, headers=owner.headers))

    # A second sign-in of the owner (a lost phone to sign out), their device, a check-in whose
    # note only they and staff may see (it opens an alert), a message, a calendar feed.
    await helpers.second_device(client, staff, owner)
    sign_ins = _ok(await client.get("/v1/me/sign-ins", headers=owner.headers))
    second_sign_in = next(s["id"] for s in sign_ins["items"] if not s["current"])
    device = _ok(
        await client.post("/v1/me/devices", json={"token": f"fcm-{marker}", "platform": "ios"}, headers=owner.headers)
    )
    note = f"private note {marker}: hard week"
    _ok(
        await client.post(
            "/v1/checkins", json=helpers.checkin_body(need_support="talk_soon", note=note), headers=owner.headers
        )
    )
    alert_id = await conn.fetchval("select id from alerts where person_id = $1", uuid.UUID(owner.id))
    sent = _ok(await client.post("/v1/staff/notifications", json=_staff_message_to(owner), headers=staff.headers))
    # A graduate who deleted their account while their alert was open: what staff keep of them.
    gone = await helpers.graduate(client, staff, alias="Gone", counselor_id=staff.id)
    _ok(await client.post("/v1/checkins", json=helpers.checkin_body(need_support="talk_soon"), headers=gone.headers))
    _ok(await client.delete("/v1/me", headers=gone.headers))
    feed = _ok(await client.post("/v1/me/calendar-feed", headers=owner.headers))

    # The discussions: the owner's post, with a reply of theirs the facilitator hid; a fellow
    # member reported the post, and the owner blocked them. In the other group, a crisis post
    # (its flag: the other group's moderation item).
    people["peer"] = peer = await helpers.graduate(client, staff, alias="Peer")
    _ok(await client.post(f"/v1/groups/{group['id']}/membership", headers=peer.headers))
    post = _ok(await _post(client, group, owner, "Ninety days today. Thank you all."))
    hidden = _ok(await _post(client, group, owner, "Thanks to my sponsor, Jo Smith.", reply_to=post["id"]))
    hide = {"reason": "It names someone outside the group."}
    _ok(await client.post(f"/v1/posts/{hidden['id']}/hide", json=hide, headers=people["facilitator"].headers))
    report = _ok(await client.post(f"/v1/posts/{post['id']}/report", json={"reason": "other"}, headers=peer.headers))
    _ok(await client.post("/v1/me/blocks", json={"person_id": peer.id}, headers=owner.headers))
    # The support circle: the facilitator accepted a place in the owner's circle, and the owner
    # asked it for help; a fellow member invited the owner into theirs (not answered yet).
    people["friend"] = friend = await helpers.graduate(client, staff, alias="Friend")
    _ok(await client.post(f"/v1/groups/{group['id']}/membership", headers=friend.headers))
    facilitator = people["facilitator"]
    invited = _ok(await _invite(client, owner, facilitator))
    _ok(await client.post(f"/v1/me/circle/invitations/{invited['id']}/accept", headers=facilitator.headers))
    invitation = _ok(await _invite(client, friend, owner))
    help_request = _ok(await client.post("/v1/me/help-now", json={"message": "Bad night."}, headers=owner.headers))
    other_post = _ok(await _post(client, other_group, other, "I want to die tonight"))
    other_item = await conn.fetchval("select id from moderation_items where post_id = $1", other_post["id"])

    return World(
        client=client,
        people=people,
        ids={
            "participant_id": owner.id,
            "account_id": people["spare"].id,
            "group_id": group["id"],
            "session_id": session_now["id"],
            "next_session_id": session_next["id"],
            "sign_in_id": second_sign_in,
            "device_id": str(device["id"]),
            "notification_id": str(sent["notification_ids"][0]),
            "alert_id": str(alert_id),
            "deleted_participant_id": gone.id,
            "feed": feed["url"].rsplit("/", 1)[1],
            "post_id": str(post["id"]),
            "hidden_post_id": str(hidden["id"]),
            "item_id": str(report["id"]),
            "person_id": peer.id,
            # Real objects of the wrong kind (WRONG_KIND).
            "staff_person_id": staff.id,
            "graduate_person_id": owner.id,
            "private_group_id": other_group["id"],
            "other_post_id": str(other_post["id"]),
            "other_item_id": str(other_item),
            "invitation_id": str(invitation["id"]),
            "request_id": str(help_request["id"]),
            "circle_member_id": facilitator.id,
            "friend_id": friend.id,
        },
        sessions={"now": session_now, "next": session_next},
        check_in_code=rules.check_in_code(secret_key, session_now["id"]),
        secrets=[note, owner_email, owner_phone],
        pending_participant=pending["id"],
    )


async def _invite(client, owner: helpers.Actor, person: helpers.Actor):
    return await client.post("/v1/me/circle/invitations", json={"person_id": person.id}, headers=owner.headers)


async def _post(client, group: dict, author: helpers.Actor, body: str, **extra: Any):
    return await client.post(f"/v1/groups/{group['id']}/posts", json={"body": body, **extra}, headers=author.headers)


def _staff_message_to(owner: helpers.Actor) -> dict[str, Any]:
    return {"participant_id": owner.id, "title": "Welcome", "body": "Your counselor will call on Monday."}
