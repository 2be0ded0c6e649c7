"""The live socket's own limits, against the served app (a real uvicorn): sockets per
person, a client that talks instead of listening, and the periodic re-check that catches
what no event announces (a session signed out elsewhere)."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from api.discussions.live import CLIENT_MESSAGES_PER_WINDOW, LiveHub
from tests import helpers


@pytest.fixture
async def member(client, staff):
    group = await helpers.create_group(client, staff)
    ana = await helpers.graduate(client, staff, alias="Ana")
    assert (await client.post(f"/v1/groups/{group['id']}/membership", headers=ana.headers)).status_code == 201
    return group, ana


def live(api_url: str, group_id: str) -> str:
    return api_url.replace("http://", "ws://") + f"/v1/groups/{group_id}/live"


async def ready(url: str, headers: dict):
    socket = await connect(url, additional_headers=headers)
    assert json.loads(await asyncio.wait_for(socket.recv(), 10)) == {"type": "ready"}
    return socket


async def close_code(socket) -> int:
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(socket.recv(), 10)
    return closed.value.rcvd.code


async def test_one_person_holds_at_most_ten_sockets(member, api_url):
    group, ana = member
    url = live(api_url, group["id"])
    sockets = [await ready(url, ana.headers) for _ in range(10)]
    extra = await connect(url, additional_headers=ana.headers)
    assert await close_code(extra) == 4429
    await sockets[0].close()
    await asyncio.sleep(0.2)
    again = await ready(url, ana.headers)  # a freed place can be taken again
    for socket in [again, *sockets[1:]]:
        await socket.close()


async def test_a_client_that_floods_the_socket_is_closed(member, api_url):
    group, ana = member
    socket = await ready(live(api_url, group["id"]), ana.headers)
    for _ in range(CLIENT_MESSAGES_PER_WINDOW + 1):
        await socket.send("ping")
    assert await close_code(socket) == 4429


@pytest.mark.parametrize("settings", [{"live_recheck_s": 0.3}], indirect=True)
async def test_a_session_signed_out_elsewhere_closes_its_socket_at_the_next_check(member, api_url, client):
    group, ana = member
    socket = await ready(live(api_url, group["id"]), ana.headers)
    assert (
        await client.post("/v1/auth/logout", json={"refresh_token": ana.tokens["refresh_token"]})
    ).status_code == 204
    assert await close_code(socket) == 4401


async def test_a_post_the_hub_could_not_load_is_tried_again_by_the_next_socket(database_url):
    """A load that failed (the database busy or gone) is not kept for the event's other
    sockets: each asks again (a socket that cannot get it tells its client to resync)."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    hub = LiveHub(pool)
    await pool.close()
    event = {"event_id": "e-1", "post_id": 1}
    for _ in range(2):
        with pytest.raises(asyncpg.InterfaceError):
            await hub.post_of(event)
    assert hub._loaded == {}
    hub._pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        assert await hub.post_of(event) is None  # no such post: now a real answer, kept
        assert list(hub._loaded) == ["e-1"]
    finally:
        await hub._pool.close()
