"""Dispatch throughput: one worker pushing a backlog to a local fake of FCM.

    python -m bench.dispatch [--messages 5000] [--batch-sizes 100 500] [--latency-ms 0 50]
                             [--http1] [--log-only]

For each batch size and simulated FCM latency: a scratch database (DATABASE_URL's server,
or the embedded one), migrated and seeded with graduates (one device each) and a backlog of
due notifications; then one worker's dispatch loop (the real code: claim, preferences, the
real firebase-admin `send_each_async`, record) runs until nothing is due. The fake runs in
its own process so it does not share the worker's interpreter. Needs the test extra
(`pip install -e '.[test]'`) for the fake's key generation. Prints a table, with the CPU
time the worker and the fake spent per message (on a small machine, both share its cores).

By default the SDK reaches the fake as it reaches FCM: over TLS, where httpx speaks HTTP/2
(one connection, up to 100 streams). `--http1` sends over plain HTTP instead, where httpx
falls back to HTTP/1.1 with a pool of up to 100 connections, a path production never takes
and which costs the worker about twice the CPU per message.
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
from pathlib import Path

import asyncpg
import psutil

from bench.scratch import database_server, scratch_database
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


def _start_fake(latency_s: float) -> tuple[multiprocessing.Process, dict]:
    from tests.fake_fcm import serve_in_process

    ports: multiprocessing.Queue = multiprocessing.Queue()
    process = multiprocessing.Process(target=serve_in_process, args=(ports, latency_s), daemon=True)
    process.start()
    return process, ports.get(timeout=30)


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) another process has used so far."""
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def _fake_stats(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=10) as response:
        return json.load(response)


async def run(server: str, messages: int, batch: int, latency_ms: float, log_only: bool, http1: bool) -> dict:

    async with scratch_database(server) as url:
        return await _run(url, messages, batch, latency_ms, log_only, http1)


async def _run(url: str, messages: int, batch: int, latency_ms: float, log_only: bool, http1: bool) -> dict:
    from firebase_admin import messaging

    from tests.fake_fcm import write_service_account

    fake, where = (None, {}) if log_only else _start_fake(latency_ms / 1000)
    port = where.get("port", 0)
    real_url, real_ca = messaging._MessagingService.FCM_URL, os.environ.get("SSL_CERT_FILE")
    try:
        conn = await asyncpg.connect(url)
        try:
            await migrate.upgrade(conn)
            people = max(1, messages // 10)
            await conn.execute(SEED.replace("$1", str(people)).replace("$2", str(messages // people)))
            total = await conn.fetchval("select count(*) from notifications")
            if log_only:
                sender = LogSender()
            else:
                folder = Path(tempfile.mkdtemp(prefix="aftercare-bench-"))
                if http1:
                    messaging._MessagingService.FCM_URL = f"http://127.0.0.1:{port}/v1/projects/{{0}}/messages:send"
                else:
                    # httpx reads it when the SDK builds its client, at the first send.
                    (folder / "fake-fcm-ca.pem").write_text(where["ca_pem"])
                    os.environ["SSL_CERT_FILE"] = str(folder / "fake-fcm-ca.pem")
                    messaging._MessagingService.FCM_URL = (
                        f"https://127.0.0.1:{where['tls_port']}/v1/projects/{{0}}/messages:send"
                    )
                account = write_service_account(folder, f"http://127.0.0.1:{port}/token")
                sender = FirebaseSender(str(account))
            now = dt.datetime.now(dt.UTC)
            policy = Policy(batch_size=batch)
            fake_cpu = _cpu_s(fake.pid) if fake is not None else 0.0
            cpu, started = time.process_time(), time.monotonic()
            rounds = 0
            while (await dispatch_once(conn, sender, now, policy)).claimed:
                rounds += 1
                print(f"\r  {rounds * batch:>7} / {total} claimed", end="", flush=True)
            elapsed, cpu = time.monotonic() - started, time.process_time() - cpu
            fake_cpu = (_cpu_s(fake.pid) - fake_cpu) if fake is not None else 0.0
            print()
            await sender.close()
            sent = await conn.fetchval("select count(*) from notifications where push_state = 'sent'")
            stats = {"delivered": sent, "token_requests": 0} if log_only else _fake_stats(port)
            return {
                "messages": total,
                "batch": batch,
                "latency_ms": latency_ms,
                "seconds": elapsed,
                "worker_cpu_s": cpu,
                "fake_cpu_s": fake_cpu,
                "sent": sent,
                "delivered": stats["delivered"],
                "token_requests": stats["token_requests"],
                "sender": "log-only" if log_only else ("fb-http1" if http1 else "fb-http2"),
            }
        finally:
            await conn.close()
    finally:
        messaging._MessagingService.FCM_URL = real_url
        if real_ca is None:
            os.environ.pop("SSL_CERT_FILE", None)
        else:
            os.environ["SSL_CERT_FILE"] = real_ca
        if fake is not None:
            fake.kill()


async def main(messages: int, batches: list[int], latencies: list[float], log_only: bool, http1: bool = False) -> int:
    server = database_server()
    results = []
    for latency in latencies:
        for batch in batches:
            print(f"{messages} messages, batch {batch}, FCM latency {latency:g} ms:", flush=True)
            results.append(await run(server, messages, batch, latency, log_only, http1))
    print(
        f"\n{'sender':>9} {'latency ms':>10} {'batch':>6} {'messages':>9} {'seconds':>8} {'msg/s':>8} {'delivered':>9}"
        f" {'worker CPU us/msg':>17} {'fake CPU us/msg':>15}"
    )
    for r in results:
        print(
            f"{r['sender']:>9} {r['latency_ms']:>10g} {r['batch']:>6} {r['messages']:>9} {r['seconds']:>8.2f} "
            f"{r['messages'] / r['seconds']:>8.0f} {r['delivered']:>9} {1e6 * r['worker_cpu_s'] / r['messages']:>17.0f}"
            f" {1e6 * r['fake_cpu_s'] / r['messages']:>15.0f}"
        )
    # The worker's share of a CPU while it ran: near 100% means it is CPU-bound, far below
    # means it waited (on FCM's latency, the database, or a machine busy with other work).
    busy = ", ".join(f"{100 * r['worker_cpu_s'] / r['seconds']:.0f}%" for r in results)
    print(f"\nworker busy: {busy}; OAuth token requests: {[r['token_requests'] for r in results]}")
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
    parser.add_argument(
        "--http1", action="store_true", help="reach the fake over plain HTTP/1.1 (not as production reaches FCM)"
    )
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.messages, args.batch_sizes, args.latency_ms, args.log_only, args.http1)))
