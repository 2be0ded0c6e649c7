"""Live discussion sockets against the served app in two API processes (`aftercare serve`),
with real WebSockets: an event reaches every member on either process, leaving or
deactivation closes a socket at once, a reconnecting client loses nothing, a dropped
listening connection is healed, and Redis carries the events when REDIS_URL is set."""

from __future__ import annotations

import asyncio
import json
import os

import asyncpg
import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from bench.server import ApiServer
from tests import helpers
from tests.config import TEST_SECRET

ENV = {"AFTERCARE_REQUIRE_MFA": "none", "AFTERCARE_AUTH_RATE_LIMIT": "10000"}


def ws_url(server: ApiServer, group_id: str) -> str:
    return f"ws://127.0.0.1:{server.port}/v1/groups/{group_id}/live"


async def open_socket(server: ApiServer, group_id: str, actor: helpers.Actor):
    socket = await connect(ws_url(server, group_id), additional_headers=actor.headers)
    assert json.loads(await asyncio.wait_for(socket.recv(), 10)) == {"type": "ready"}
    return socket


async def next_event(socket, timeout: float = 10) -> dict:
    return json.loads(await asyncio.wait_for(socket.recv(), timeout))


async def closed_with(socket, timeout: float = 10) -> int:
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(socket.recv(), timeout)
    return closed.value.rcvd.code


@pytest.fixture
async def world(client, staff, conn, hasher):
    group = await helpers.create_group(client, staff)
    ana = await helpers.graduate(client, staff, alias="Ana")
    ben = await helpers.graduate(client, staff, alias="Ben")
    for member in (ana, ben):
        assert (await client.post(f"/v1/groups/{group['id']}/membership", headers=member.headers)).status_code == 201
    return group, ana, ben


@pytest.fixture(scope="module")
def two_processes(database_url):
    with (
        ApiServer(database_url, TEST_SECRET, 1, env=ENV) as first,
        ApiServer(database_url, TEST_SECRET, 1, env=ENV) as second,
    ):
        yield first, second


async def test_a_post_reaches_members_on_both_processes_and_leaving_closes_the_socket(
    world, two_processes, client, staff
):
    group, ana, ben = world
    first, second = two_processes
    ana_socket = await open_socket(first, group["id"], ana)
    ben_socket = await open_socket(second, group["id"], ben)
    async with httpx.AsyncClient(base_url=second.url) as http:
        posted = await http.post(f"/v1/groups/{group['id']}/posts", json={"body": "Hello both"}, headers=ana.headers)
        assert posted.status_code == 201, posted.text
        for socket in (ana_socket, ben_socket):
            event = await next_event(socket)
            assert event["type"] == "post" and event["post"]["id"] == posted.json()["id"]
            assert event["post"]["body"] == "Hello both" and event["post"]["author"]["alias"] == "Ana"
    async with httpx.AsyncClient(base_url=first.url) as http:
        reply = await http.post(
            f"/v1/groups/{group['id']}/posts",
            json={"body": "Hi Ana", "reply_to": posted.json()["id"]},
            headers=ben.headers,
        )
        assert reply.status_code == 201
        assert (await next_event(ana_socket))["type"] == "reply"
        assert (await next_event(ben_socket))["post"]["reply_to"] == posted.json()["id"]
        await http.put(f"/v1/posts/{posted.json()['id']}/reaction", json={"kind": "support"}, headers=ben.headers)
        event = await next_event(ana_socket)
        assert event == {
            "type": "reaction",
            "post_id": posted.json()["id"],
            "reply_to": None,
            "reactions": {"support": 1},
        }
        assert (await next_event(ben_socket))["type"] == "reaction"
        # Ben leaves on the first process; his socket on the second closes at once.
        assert (await http.delete(f"/v1/groups/{group['id']}/membership", headers=ben.headers)).status_code == 200
        assert await closed_with(ben_socket) == 4404
    # Ana is deactivated by staff (in a third process, the test's own app): closed as signed out.
    assert (await client.post(f"/v1/staff/participants/{ana.id}/deactivate", headers=staff.headers)).status_code == 200
    assert await closed_with(ana_socket) == 4401


async def test_a_client_that_reconnects_catches_up_with_after_and_loses_nothing(world, two_processes):
    group, ana, ben = world
    first, second = two_processes
    ben_socket = await open_socket(second, group["id"], ben)
    async with httpx.AsyncClient(base_url=first.url) as http:
        ids = []
        for i in range(3):
            answer = await http.post(f"/v1/groups/{group['id']}/posts", json={"body": f"one {i}"}, headers=ana.headers)
            ids.append(answer.json()["id"])
        seen = [(await next_event(ben_socket))["post"]["id"] for _ in ids]
        assert seen == ids
        await ben_socket.close()
        for i in range(4):
            answer = await http.post(f"/v1/groups/{group['id']}/posts", json={"body": f"two {i}"}, headers=ana.headers)
            ids.append(answer.json()["id"])
        missed = await http.get(f"/v1/groups/{group['id']}/posts", params={"after": seen[-1]}, headers=ben.headers)
        assert [p["id"] for p in missed.json()["items"]] == ids[3:]


async def test_the_blocked_authors_posts_never_reach_the_blocker_live(world, two_processes, client, staff):
    group, ana, ben = world
    first, second = two_processes
    cal = await helpers.graduate(client, staff, alias="Cal")
    assert (await client.post(f"/v1/groups/{group['id']}/membership", headers=cal.headers)).status_code == 201
    ana_socket = await open_socket(first, group["id"], ana)
    async with httpx.AsyncClient(base_url=second.url) as http:
        assert (await http.post("/v1/me/blocks", json={"person_id": ben.id}, headers=ana.headers)).status_code == 201
        await asyncio.sleep(0.5)  # the block event reaches Ana's socket on the other process
        by_ben = await http.post(f"/v1/groups/{group['id']}/posts", json={"body": "from Ben"}, headers=ben.headers)
        # Nor a reply under his post by someone else, as the lists leave it out.
        reply = {"body": "Cal replies to Ben", "reply_to": by_ben.json()["id"]}
        assert (await http.post(f"/v1/groups/{group['id']}/posts", json=reply, headers=cal.headers)).status_code == 201
        after = await http.post(f"/v1/groups/{group['id']}/posts", json={"body": "from Ana"}, headers=ana.headers)
        event = await next_event(ana_socket)
        assert event["post"]["id"] == after.json()["id"]


async def test_a_dropped_listening_connection_is_healed_and_sockets_told_to_catch_up(
    world, two_processes, database_url
):
    group, ana, ben = world
    first, _ = two_processes
    ben_socket = await open_socket(first, group["id"], ben)
    admin = await asyncpg.connect(database_url)
    try:
        killed = await admin.fetchval(
            """
            select count(pg_terminate_backend(pid)) from pg_stat_activity
            where datname = current_database() and query ilike 'listen%' and pid <> pg_backend_pid()
            """
        )
        assert killed >= 1
    finally:
        await admin.close()
    assert await next_event(ben_socket) == {"type": "resync"}
    async with httpx.AsyncClient(base_url=first.url) as http:
        posted = await http.post(f"/v1/groups/{group['id']}/posts", json={"body": "still here"}, headers=ana.headers)
    assert (await next_event(ben_socket))["post"]["id"] == posted.json()["id"]


def _redis_up() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_timeout=1).ping())
    except Exception:
        return False


@pytest.mark.skipif(not _redis_up() and not os.environ.get("CI"), reason="no Redis at 127.0.0.1:6379")
async def test_with_redis_events_travel_through_redis_between_processes(world, database_url):
    group, ana, ben = world
    env = ENV | {"REDIS_URL": "redis://127.0.0.1:6379/5"}
    with (
        ApiServer(database_url, TEST_SECRET, 1, env=env) as first,
        ApiServer(database_url, TEST_SECRET, 1, env=env) as second,
    ):
        ben_socket = await open_socket(second, group["id"], ben)
        async with httpx.AsyncClient(base_url=first.url) as http:
            posted = await http.post(f"/v1/groups/{group['id']}/posts", json={"body": "via redis"}, headers=ana.headers)
        assert (await next_event(ben_socket))["post"]["id"] == posted.json()["id"]
        await ben_socket.close()
