"""Who may open a group's live socket (`/v1/groups/{id}/live`, api/discussions/live.py), against
the served app (a real uvicorn): the socket is accepted, then closed with 4401 when no valid
session stands behind it (no credentials, a made-up token, a used or expired ticket, a
deactivated graduate) and 4404 when the caller may not read the group's discussion; whoever
may read it first hears `{"type": "ready"}`."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests import helpers


@pytest.fixture
async def circle(client, conn, hasher, staff):
    """A group with a member and its facilitator; a graduate and a facilitator of elsewhere."""
    facilitator = await helpers.account(client, conn, hasher, ["facilitator"])
    other_facilitator = await helpers.account(client, conn, hasher, ["facilitator"])
    group = await helpers.create_group(client, staff, facilitator_ids=[facilitator.id])
    await helpers.create_group(client, staff, name="Another Circle", facilitator_ids=[other_facilitator.id])
    member = await helpers.graduate(client, staff, alias="Ana")
    outsider = await helpers.graduate(client, staff, alias="Cy")
    joined = await client.post(f"/v1/groups/{group['id']}/membership", headers=member.headers)
    assert joined.status_code == 201, joined.text
    return {
        "group": group,
        "member": member,
        "outsider": outsider,
        "facilitator": facilitator,
        "other_facilitator": other_facilitator,
        "staff": staff,
    }


def live(api_url: str, group_id: str, ticket: str | None = None) -> str:
    url = api_url.replace("http://", "ws://") + f"/v1/groups/{group_id}/live"
    return url + (f"?ticket={ticket}" if ticket else "")


async def first_word(url: str, headers: dict | None = None) -> dict | int:
    """What the socket says first: its first message, or the code it was closed with."""
    async with connect(url, additional_headers=headers or {}, open_timeout=10) as socket:
        try:
            return json.loads(await asyncio.wait_for(socket.recv(), 10))
        except ConnectionClosed as closed:
            assert closed.rcvd is not None, "closed without a close frame"
            return closed.rcvd.code


async def ticket(client, who: helpers.Actor) -> str:
    response = await client.post("/v1/live-tickets", headers=who.headers)
    assert response.status_code == 201, response.text
    assert response.json()["expires_in"] == 30
    return response.json()["ticket"]


READY = {"type": "ready"}


async def closed_within(socket, seconds: float = 5) -> int:
    """The code the socket is closed with, well before the 30-second check every socket gets."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(socket.recv(), seconds)
    return closed.value.rcvd.code


async def test_without_a_valid_session_the_socket_closes_with_4401(circle, api_url):
    url = live(api_url, circle["group"]["id"])
    assert await first_word(url) == 4401
    assert await first_word(url, {"Authorization": "Bearer not-a-token"}) == 4401
    assert await first_word(url, {"Authorization": "Basic YW5hOnNlY3JldA=="}) == 4401
    assert await first_word(live(api_url, circle["group"]["id"], ticket="made-up-ticket")) == 4401
    # Refused before the group is looked at: an unknown group gives a stranger nothing more.
    assert await first_word(live(api_url, str(uuid.uuid4()))) == 4401


async def test_the_groups_readers_hear_ready_and_everyone_else_4404(circle, api_url):
    url = live(api_url, circle["group"]["id"])
    for reader in ("member", "facilitator", "staff"):
        assert await first_word(url, circle[reader].headers) == READY, reader
    for stranger in ("outsider", "other_facilitator"):
        assert await first_word(url, circle[stranger].headers) == 4404, stranger
    # An unknown group answers a member exactly as a group they are not in.
    assert await first_word(live(api_url, str(uuid.uuid4())), circle["member"].headers) == 4404


async def test_a_ticket_opens_one_socket_once(client, circle, api_url):
    group_id = circle["group"]["id"]
    once = await ticket(client, circle["member"])
    assert await first_word(live(api_url, group_id, once)) == READY
    assert await first_word(live(api_url, group_id, once)) == 4401
    # A ticket is its holder's session: an outsider's opens nothing of the group.
    assert await first_word(live(api_url, group_id, await ticket(client, circle["outsider"]))) == 4404


async def test_an_expired_ticket_closes_with_4401(client, conn, circle, api_url):
    late = await ticket(client, circle["member"])
    changed = await conn.execute("update live_tickets set expires_at = now() - interval '1 second'")
    assert changed == "UPDATE 1"
    assert await first_word(live(api_url, circle["group"]["id"], late)) == 4401


async def test_a_deactivated_graduate_is_closed_with_4401(client, circle, api_url):
    member, url = circle["member"], live(api_url, circle["group"]["id"])
    unused = await ticket(client, member)
    assert await first_word(url, member.headers) == READY
    deactivated = await client.post(f"/v1/staff/participants/{member.id}/deactivate", headers=circle["staff"].headers)
    assert deactivated.status_code in (200, 204), deactivated.text
    # The access token is still unexpired and well signed; the session behind it is not.
    assert await first_word(url, member.headers) == 4401
    assert await first_word(live(api_url, circle["group"]["id"], unused)) == 4401


async def test_a_facilitator_taken_off_the_group_is_closed_at_once(client, circle, api_url):
    group_id, staff = circle["group"]["id"], circle["staff"]
    async with connect(live(api_url, group_id), additional_headers=circle["facilitator"].headers) as socket:
        assert json.loads(await asyncio.wait_for(socket.recv(), 10)) == READY
        changed = await client.patch(
            f"/v1/staff/groups/{group_id}",
            json={"facilitator_ids": [circle["other_facilitator"].id]},
            headers=staff.headers,
        )
        assert changed.status_code == 200, changed.text
        assert await closed_within(socket) == 4404
    # The facilitator who stays keeps the group.
    assert await first_word(live(api_url, group_id), circle["other_facilitator"].headers) == READY


async def test_a_graduate_who_deletes_their_account_is_closed_at_once(client, circle, api_url):
    member = circle["member"]
    async with connect(live(api_url, circle["group"]["id"]), additional_headers=member.headers) as socket:
        assert json.loads(await asyncio.wait_for(socket.recv(), 10)) == READY
        assert (await client.delete("/v1/me", headers=member.headers)).status_code == 200
        assert await closed_within(socket) == 4401


async def test_signing_out_closes_that_sessions_sockets_at_once(client, circle, api_url):
    member, url = circle["member"], live(api_url, circle["group"]["id"])
    async with connect(url, additional_headers=member.headers) as socket:
        assert json.loads(await asyncio.wait_for(socket.recv(), 10)) == READY
        out = await client.post("/v1/auth/logout", json={"refresh_token": member.tokens["refresh_token"]})
        assert out.status_code == 204
        assert await closed_within(socket) == 4401


async def test_a_lost_phone_signed_out_from_another_device_loses_its_socket_at_once(client, circle, api_url):
    member, url = circle["member"], live(api_url, circle["group"]["id"])
    lost_phone = await helpers.second_device(client, circle["staff"], member)
    async with (
        connect(url, additional_headers=lost_phone) as lost,
        connect(url, additional_headers=member.headers) as kept,
    ):
        for socket in (lost, kept):
            assert json.loads(await asyncio.wait_for(socket.recv(), 10)) == READY
        sign_ins = (await client.get("/v1/me/sign-ins", headers=member.headers)).json()["items"]
        [other] = [s for s in sign_ins if not s["current"]]
        assert (await client.delete(f"/v1/me/sign-ins/{other['id']}", headers=member.headers)).status_code in (200, 204)
        assert await closed_within(lost) == 4401
        # The device that signed the other out stays.
        posted = await client.post(
            f"/v1/groups/{circle['group']['id']}/posts", json={"body": "hi"}, headers=member.headers
        )
        assert json.loads(await asyncio.wait_for(kept.recv(), 10))["post"]["id"] == posted.json()["id"]


async def test_archiving_the_group_closes_its_members_sockets_at_once(client, circle, api_url):
    group_id = circle["group"]["id"]
    async with connect(live(api_url, group_id), additional_headers=circle["member"].headers) as socket:
        assert json.loads(await asyncio.wait_for(socket.recv(), 10)) == READY
        archived = await client.post(f"/v1/staff/groups/{group_id}/archive", headers=circle["staff"].headers)
        assert archived.status_code == 200, archived.text
        assert await closed_within(socket) == 4404
