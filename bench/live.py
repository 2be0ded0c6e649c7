"""Live discussions under load: many open sockets on two API processes while posts arrive.

    python -m bench.live [--quick] [--groups 20] [--per-group 50] [--rate 50] [--seconds 30]

Seeds a scratch database with groups and their graduates (set-based SQL; access tokens minted
as the API mints them, no sign-in), starts two `aftercare serve` processes (one worker each,
events between them over PostgreSQL's LISTEN/NOTIFY), and opens one socket per graduate,
each group's members split across both processes. Then posts arrive at `--rate` a second
for `--seconds`, through both processes in turn, each from the next member of the next group.
Measured: delivery latency from the moment a post was sent to the moment each member's
socket received it, over every (post, socket), and the part of it after the POST's answer
(fan-out); events lost (a post of the socket's group it never received, by id, after a 10 s
drain) and duplicates; the servers' memory a socket (their resident size before and after
the last nine in ten sockets opened).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import secrets
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from uuid import UUID

import asyncpg
import httpx
import psutil
from websockets.asyncio.client import ClientConnection, connect

from api.security import build_jwt_auth, issue_access_token
from api.settings import Settings
from bench.scratch import database_server, scratch_database
from bench.server import ApiServer

DRAIN_S = 10.0
OPENING_AT_ONCE = 25  # handshakes in flight; each costs the server a few queries
ENV = {"AFTERCARE_POST_RATE_PER_HOUR": "1000000", "AFTERCARE_REQUIRE_MFA": "none"}

SEED = [
    """
    insert into groups (slug, name, format, timezone)
    select 'live-' || n, 'Live group ' || n, 'online', 'America/Chicago' from generate_series(1, $1::int) as n
    """,
    """
    create temp table live_members as
    select g.id as group_id, gen_random_uuid() as person_id, gen_random_uuid() as session_id, g.r, k
    from (select id, row_number() over (order by slug) as r from groups) g
    cross join generate_series(1, $1::int) as k
    """,
    """
    insert into people (id, roles, name, timezone)
    select person_id, array['participant'], 'Graduate ' || r || '-' || k, 'America/Chicago' from live_members
    """,
    """
    insert into participant_profiles (person_id, iop_completed_on, activated_at)
    select person_id, current_date - 30, now() from live_members
    """,
    "insert into auth_sessions (id, person_id, method) select session_id, person_id, 'activation' from live_members",
    "insert into group_members (group_id, person_id, status) select group_id, person_id, 'member' from live_members",
]


@dataclass
class Member:
    group_id: UUID
    token: str
    socket: ClientConnection | None = None
    received: list[tuple[int, float]] = field(default_factory=list)  # (post id, monotonic time)
    reader: asyncio.Task | None = None


def progress(message: str) -> None:
    print(message, flush=True)


async def seed(conn: asyncpg.Connection, settings: Settings, groups: int, per_group: int) -> dict[UUID, list[Member]]:
    """Each group's members, in the order they post, with their access tokens."""
    jwt_auth = build_jwt_auth(dataclasses.replace(settings, access_token_ttl_s=3600))
    async with conn.transaction():
        await conn.execute(SEED[0], groups)
        await conn.execute(SEED[1], per_group)
        for statement in SEED[2:]:
            await conn.execute(statement)
    rows = await conn.fetch("select group_id, person_id, session_id from live_members order by r, k")
    await conn.execute("analyze")
    members: dict[UUID, list[Member]] = {}
    for row in rows:
        token = issue_access_token(jwt_auth, row["person_id"], row["session_id"])
        members.setdefault(row["group_id"], []).append(Member(row["group_id"], token))
    return members


async def _read(member: Member) -> None:
    async for message in member.socket:
        at = time.monotonic()
        event = json.loads(message)
        if event.get("type") in ("post", "reply"):
            member.received.append((event["post"]["id"], at))


async def open_sockets(servers: list[ApiServer], members: list[Member], first: int, total: int) -> None:
    """The members' sockets (numbered from `first` of `total`), alternately on each server,
    each open once it said `ready`."""
    limit, opened = asyncio.Semaphore(OPENING_AT_ONCE), first
    step = max(1, total // 4)

    async def open_one(index: int, member: Member) -> None:
        nonlocal opened
        server = servers[index % len(servers)]
        url = f"ws://127.0.0.1:{server.port}/v1/groups/{member.group_id}/live"
        async with limit:
            socket = await connect(url, additional_headers={"Authorization": f"Bearer {member.token}"}, open_timeout=30)
            hello = json.loads(await asyncio.wait_for(socket.recv(), 30))
            if hello != {"type": "ready"}:
                raise RuntimeError(f"a socket opened with {hello} instead of ready")
        member.socket, member.reader = socket, asyncio.create_task(_read(member))
        opened += 1
        if opened % step == 0 or opened == total:
            progress(f"  opened {opened:,}/{total:,} sockets")

    await asyncio.gather(*(open_one(first + i, m) for i, m in enumerate(members)))


def percentile(ordered: list[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def cpu_seconds(processes: list[psutil.Process]) -> float:
    return sum(sum(p.cpu_times()[:2]) for p in processes)


async def post_for(
    servers: list[ApiServer], groups: list[list[Member]], rate: float, seconds: float
) -> tuple[dict[int, tuple[float, float, UUID]], list[float], Counter, float]:
    """Posts at `rate` a second: ((time sent, time answered, group) by post id, answer times,
    statuses, seconds from the first post sent to the last answer)."""
    clients = [httpx.AsyncClient(base_url=s.url, timeout=30) for s in servers]
    sent: dict[int, tuple[float, float, UUID]] = {}
    answer_s: list[float] = []
    statuses: Counter = Counter()
    run = secrets.token_hex(3)

    async def one(i: int) -> None:
        group = groups[i % len(groups)]
        author = group[(i // len(groups)) % len(group)]
        client = clients[(i + i // len(groups)) % len(clients)]
        body = f"Bench post {i} ({run}): thank you all for the meeting today."
        started = time.monotonic()
        try:
            answer = await client.post(
                f"/v1/groups/{author.group_id}/posts",
                json={"body": body},
                headers={"Authorization": f"Bearer {author.token}"},
            )
        except httpx.HTTPError as error:
            statuses[type(error).__name__] += 1
            return
        answered = time.monotonic()
        answer_s.append(answered - started)
        statuses[answer.status_code] += 1
        if answer.status_code != 201 and statuses[answer.status_code] == 1:
            progress(f"  a post answered {answer.status_code}: {answer.text[:300]}")
        if answer.status_code == 201:
            sent[answer.json()["id"]] = (started, answered, author.group_id)

    total = round(rate * seconds)
    began = time.monotonic()
    tasks = []
    try:
        for i in range(total):
            await asyncio.sleep(max(0.0, began + i / rate - time.monotonic()))
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    finally:
        for client in clients:
            await client.aclose()
    return sent, answer_s, statuses, time.monotonic() - began


async def measure(
    servers: list[ApiServer], members: dict[UUID, list[Member]], rate: float, seconds: float
) -> dict[str, object]:
    everyone = [m for group in members.values() for m in group]
    rss = lambda: sum(s.memory.rss() for s in servers)  # noqa: E731
    # The first sockets also pay for what each process loads and caches once (code paths,
    # prepared statements): memory a socket is measured over the rest.
    warm = max(2 * len(servers), len(everyone) // 10)
    progress(f"Opening {len(everyone):,} sockets on {len(servers)} processes:")
    started = time.monotonic()
    await open_sockets(servers, everyone[:warm], 0, len(everyone))
    await asyncio.sleep(1)
    before = rss()
    await open_sockets(servers, everyone[warm:], warm, len(everyone))
    opening_s = time.monotonic() - started
    await asyncio.sleep(1)
    after = rss()
    progress(
        f"  all ready in {opening_s:.1f} s; the servers grew {(after - before) / 2**20:.1f} MiB "
        f"for the last {len(everyone) - warm:,}"
    )

    # The measuring client must not pause to collect garbage mid-run (a full collection over
    # 1,000 connections stalled its loop for 100 ms, counted as delivery latency): what exists
    # now is frozen out of the collector, and collection waits until the drain is over.
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        return await _post_and_count(servers, members, everyone, rate, seconds) | {
            "opening_s": opening_s,
            "kib_per_socket": (after - before) / (len(everyone) - warm) / 1024,
            "rss_mb": after / 2**20,
        }
    finally:
        gc.enable()
        gc.unfreeze()


async def _post_and_count(
    servers: list[ApiServer], members: dict[UUID, list[Member]], everyone: list[Member], rate: float, seconds: float
) -> dict[str, object]:
    processes = [psutil.Process(s.process.pid) for s in servers]
    me = psutil.Process()
    cpu_before, mine_before = cpu_seconds(processes), cpu_seconds([me])
    progress(f"Posting {rate:g} a second for {seconds:g} s:")
    sent, answer_s, statuses, posting_s = await post_for(servers, list(members.values()), rate, seconds)
    cpu_servers = (cpu_seconds(processes) - cpu_before) / posting_s
    cpu_mine = (cpu_seconds([me]) - mine_before) / posting_s
    progress(f"  {len(sent):,} posts in {posting_s:.1f} s, answers {dict(statuses)}")

    posted: dict[UUID, set[int]] = {group_id: set() for group_id in members}
    for post_id, (_, _, group_id) in sent.items():
        posted[group_id].add(post_id)
    expected_total = sum(len(posted[group_id]) * len(group) for group_id, group in members.items())
    deadline = time.monotonic() + DRAIN_S
    while time.monotonic() < deadline and sum(len(m.received) for m in everyone) < expected_total:
        await asyncio.sleep(0.05)
    closed_early = sum(1 for m in everyone if m.reader.done())

    # After the answer: what fan-out adds once the post is stored (the event is published
    # after the commit, before the answer leaves, so this can be below zero).
    latencies, after_answer, lost, duplicates = [], [], 0, 0
    for member in everyone:
        ids = [post_id for post_id, _ in member.received]
        duplicates += len(ids) - len(set(ids))
        lost += len(posted[member.group_id] - set(ids))
        latencies += [at - sent[post_id][0] for post_id, at in member.received if post_id in sent]
        after_answer += [at - sent[post_id][1] for post_id, at in member.received if post_id in sent]
    latencies.sort()
    after_answer.sort()
    answer_s.sort()
    return {
        "sockets": len(everyone),
        "processes": len(servers),
        "groups": len(members),
        "rate": rate,
        "seconds": seconds,
        "posts": len(sent),
        "achieved": len(sent) / posting_s,
        "not_201": {str(k): v for k, v in statuses.items() if k != 201},
        "post_p50_ms": percentile(answer_s, 0.5) * 1000,
        "post_p99_ms": percentile(answer_s, 0.99) * 1000,
        "expected": expected_total,
        "deliveries": len(latencies),
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": (latencies[-1] if latencies else float("nan")) * 1000,
        "after_answer_p99_ms": percentile(after_answer, 0.99) * 1000,
        "lost": lost,
        "duplicates": duplicates,
        "closed_early": closed_early,
        "cpu_servers": cpu_servers,
        "cpu_bench": cpu_mine,
    }


async def close_sockets(members: list[Member]) -> None:
    for member in members:
        if member.reader is not None:
            member.reader.cancel()
    await asyncio.gather(*(m.socket.close() for m in members if m.socket is not None), return_exceptions=True)
    await asyncio.gather(*(m.reader for m in members if m.reader is not None), return_exceptions=True)


async def run(
    server: str,
    quick: bool,
    *,
    groups: int | None = None,
    per_group: int | None = None,
    rate: float = 50,
    seconds: float | None = None,
) -> dict[str, object]:
    """The whole measurement in a scratch database on `server`; quick: 4 groups of 10, 5 s."""
    groups = groups or (4 if quick else 20)
    per_group = per_group or (10 if quick else 50)
    seconds = seconds or (5 if quick else 30)
    async with scratch_database(server) as database_url:
        settings = Settings(database_url=database_url, secret_key=secrets.token_urlsafe(48))
        conn = await asyncpg.connect(database_url)
        try:
            from db import migrate

            await migrate.upgrade(conn)
            started = time.monotonic()
            members = await seed(conn, settings, groups, per_group)
            progress(
                f"Seeded {groups} groups of {per_group} graduates with sessions and tokens "
                f"in {time.monotonic() - started:.1f} s"
            )
        finally:
            await conn.close()
        servers: list[ApiServer] = []
        everyone = [m for group in members.values() for m in group]
        try:
            # Started side by side: each waits until it answers /health/ready.
            for started_server in await asyncio.gather(
                *(asyncio.to_thread(ApiServer, database_url, settings.secret_key, 1, ENV) for _ in range(2)),
                return_exceptions=True,
            ):
                if isinstance(started_server, BaseException):
                    raise started_server
                servers.append(started_server)
            return await measure(servers, members, rate, seconds)
        finally:
            await close_sockets(everyone)
            for started_server in servers:
                started_server.close()


def failed(r: dict) -> bool:
    return bool(r["lost"] or r["duplicates"] or r["not_201"] or r["closed_early"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.live", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="4 groups of 10 graduates, 5 s of posts")
    p.add_argument("--groups", type=int, help="groups (default 20)")
    p.add_argument("--per-group", type=int, help="graduates (and sockets) a group (default 50)")
    p.add_argument("--rate", type=float, default=50, help="posts a second (default 50)")
    p.add_argument("--seconds", type=float, help="seconds of posting (default 30)")
    args = p.parse_args(argv)
    result = asyncio.run(
        run(
            database_server(),
            args.quick,
            groups=args.groups,
            per_group=args.per_group,
            rate=args.rate,
            seconds=args.seconds,
        )
    )
    from bench.__main__ import live_table

    print("\n" + live_table(result))
    print(
        f"Sockets opened in {result['opening_s']:.1f} s; while posting the API processes used "
        f"{result['cpu_servers']:.0%} of a core, this benchmark {result['cpu_bench']:.0%}; "
        f"POST p50 {result['post_p50_ms']:.0f} ms; deliveries p99 {result['after_answer_p99_ms']:.0f} ms after the "
        f"POST's answer; {result['closed_early']} sockets closed early."
    )
    return 1 if failed(result) else 0


if __name__ == "__main__":
    sys.exit(main())
