"""Dispatch throughput: one worker pushing a backlog to a local fake of FCM.

    python -m bench.dispatch [--messages 5000] [--batch-sizes 100 500] [--latency-ms 0 50]

For each batch size and simulated FCM latency: a scratch database (DATABASE_URL's server,
or the embedded one), migrated and seeded with graduates (one device each) and a backlog of
due notifications; then one worker's dispatch loop (the real code: claim, preferences, the
real firebase-admin `send_each_async`, record) runs until nothing is due. The fake runs in
its own process so it does not share the worker's interpreter. Needs the test extra
(`pip install -e '.[test]'`) for the fake's key generation. Prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import multiprocessing
import os
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from db import migrate
from notifications.dispatch import Policy, dispatch_once
from notifications.sender import FirebaseSender, LogSender

SEED = """
insert into people (id, roles, name, timezone)
select gen_random_uuid(), array['participant'], 'G' || n, 'UTC' from generate_series(1, $1) as n;
insert into devices (person_id, token, platform) select id, 'bench-' || id, 'android' from people;
-- No quiet hours: the bench must not depend on the hour it runs at.
insert into notification_preferences (person_id) select id from people;
insert into notifications (person_id, kind, title, body, push_title, push_body, data, not_before)
select p.id, 'staff_message', 'Note', 'Body', 'New message', 'Open the app to read it.',
       '{"kind": "staff_message"}', now() - interval '1 minute'
from people p cross join generate_series(1, $2);
analyze;
"""


def _scratch(server: str, name: str) -> str:
    return urlunsplit(urlsplit(server)._replace(path=f"/{name}"))


def _start_fake(latency_s: float) -> tuple[multiprocessing.Process, int]:
    from tests.fake_fcm import serve_in_process

    ports: multiprocessing.Queue = multiprocessing.Queue()
    process = multiprocessing.Process(target=serve_in_process, args=(ports, latency_s), daemon=True)
    process.start()
    return process, ports.get(timeout=30)


def _fake_stats(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=10) as response:
        return json.load(response)


async def run(server: str, messages: int, batch: int, latency_ms: float, log_only: bool) -> dict:
    from firebase_admin import messaging

    from tests.fake_fcm import FakeFcm

    name = f"aftercare_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server)
    await admin.execute(f'create database "{name}"')
    fake, port = (None, 0) if log_only else _start_fake(latency_ms / 1000)
    try:
        conn = await asyncpg.connect(_scratch(server, name))
        try:
            await migrate.upgrade(conn)
            people = max(1, messages // 10)
            await conn.execute(SEED.replace("$1", str(people)).replace("$2", str(messages // people)))
            total = await conn.fetchval("select count(*) from notifications")
            if log_only:
                sender = LogSender()
            else:
                stub = FakeFcm()  # only to write a service-account file pointing at the real fake's port
                stub.port = port
                messaging._MessagingService.FCM_URL = stub.fcm_url
                stub.server.server_close()
                folder = Path(tempfile.mkdtemp(prefix="aftercare-bench-"))
                sender = FirebaseSender(str(stub.service_account(folder)))
            now = dt.datetime.now(dt.UTC)
            policy = Policy(batch_size=batch)
            started = time.monotonic()
            rounds = 0
            while (await dispatch_once(conn, sender, now, policy)).claimed:
                rounds += 1
                print(f"\r  {rounds * batch:>7} / {total} claimed", end="", flush=True)
            elapsed = time.monotonic() - started
            print()
            await sender.close()
            sent = await conn.fetchval("select count(*) from notifications where push_state = 'sent'")
            delivered = sent if log_only else _fake_stats(port)["delivered"]
            return {
                "messages": total,
                "batch": batch,
                "latency_ms": latency_ms,
                "seconds": elapsed,
                "sent": sent,
                "delivered": delivered,
                "sender": "log-only" if log_only else "firebase",
            }
        finally:
            await conn.close()
    finally:
        if fake is not None:
            fake.kill()
        await admin.execute(f'drop database if exists "{name}" with (force)')
        await admin.close()


async def main(messages: int, batches: list[int], latencies: list[float], log_only: bool) -> int:
    server = os.environ.get("DATABASE_URL")
    if not server:
        from db.embedded import start_embedded

        server = start_embedded(Path(".aftercare/bench-pgdata"))
    results = []
    for latency in latencies:
        for batch in batches:
            print(f"{messages} messages, batch {batch}, FCM latency {latency:g} ms:", flush=True)
            results.append(await run(server, messages, batch, latency, log_only))
    print(
        f"\n{'sender':>9} {'latency ms':>10} {'batch':>6} {'messages':>9} {'seconds':>8} {'msg/s':>8} {'delivered':>9}"
    )
    for r in results:
        print(
            f"{r['sender']:>9} {r['latency_ms']:>10g} {r['batch']:>6} {r['messages']:>9} {r['seconds']:>8.2f} "
            f"{r['messages'] / r['seconds']:>8.0f} {r['delivered']:>9}"
        )
    ok = all(r["sent"] == r["messages"] == r["delivered"] for r in results)
    print(
        f"\n{len(results)} runs; {'every message delivered exactly once' if ok else 'MISMATCH: some lost or doubled'}."
    )
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000, help="backlog size")
    parser.add_argument(
        "--batch-sizes", type=int, nargs="+", default=[100, 500], help="notifications per claim (<= 500)"
    )
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[0, 50], help="simulated FCM response time")
    parser.add_argument("--log-only", action="store_true", help="the log-only sender: the database side alone")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.messages, args.batch_sizes, args.latency_ms, args.log_only)))
