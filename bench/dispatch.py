"""Dispatch throughput: worker processes pushing a backlog to a local fake of FCM.

    python -m bench.dispatch [--messages 5000] [--batch-sizes 100 500] [--latency-ms 0 50]
                             [--transports aiohttp firebase-admin] [--workers 1] [--http1] [--log-only]

For each transport, FCM latency and batch size: a scratch database (DATABASE_URL's server,
or the embedded one), migrated and seeded with graduates (one device each) and a backlog of
due notifications; then `--workers` worker processes, each with its own
sender and event loop, run the worker's dispatch loop (`dispatch_lanes`: two claims at a
time, each on its own database connection, as AFTERCARE_PUSH_LANES sets it; each claim:
preferences, push, record) on that one backlog until a claim finds nothing. The fake FCM
runs in a process of its own, so no worker shares its interpreter with it. Needs the test
extra (`pip install -e '.[test]'`) for the fake's key generation.

Transports (api/worker.py's PUSH_TRANSPORTS, AFTERCARE_PUSH_TRANSPORT): `aiohttp` (the
default in production; HTTP/1.1 over TLS, up to 500 connections) and `firebase-admin` (the
SDK's send_each_async; httpx speaks HTTP/2 over TLS: one connection, up to 100 streams).
Both reach the fake as they reach FCM, over TLS; `--http1` sends over plain HTTP instead,
where both speak HTTP/1.1, a path production never takes.

The table, one row per run:
  transport, protocol   the sender and what it spoke to the fake
  workers               worker processes on the backlog
  latency ms, batch     the fake's answer time per send; notifications per claim (per lane)
  messages, seconds     the backlog; wall time from the first worker's start to the last one's end
  msg/s                 messages / seconds: all workers together
  1st s                 the slowest worker's first round: it also fetches the OAuth token and
                        opens its connections (aiohttp: up to 500 TLS handshakes)
  delivered             sends the fake answered 200 (must equal messages)
  doubled               pushes the fake accepted more than once: its 200s minus the distinct
                        pushes the database recorded as sent (must be 0)
  not 200               sends the fake answered otherwise (0 expected: it is told to fail none)
  worker us/msg         the workers' CPU time per message (all their threads)
  worker %, fake %, db %  CPU seconds / wall seconds of the workers (summed: N workers can
                        reach N x 100 %), of the fake, and of the workers' PostgreSQL
                        backends. The fake is one thread: well under 100 % means it had room
                        and was not what limited the rate. On a 2-core machine all three
                        share the same two cores.
  syn drops             connections the kernel refused to queue for a listener during the run
                        (TcpExt ListenDrops; machine-wide, "-" where unreadable): each costs the
                        client a 1 s SYN retransmit. Not 0: the fake's accept queue overflowed
                        in a burst of connects, time lost to the fake and not to the worker.
Exit code 0 only when every run delivered every message exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import multiprocessing
import os
import queue
import sys
import tempfile
import threading
import time
import traceback
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import psutil

from bench.scratch import database_server, scratch_database
from db import migrate
from notifications.dispatch import Policy, dispatch_lanes
from notifications.sender import LogSender

TRANSPORTS = ["aiohttp", "firebase-admin"]  # keys of api/worker.py's PUSH_TRANSPORTS
LOG_ONLY = "log-only"
# Spawned, not forked: each worker starts as a fresh interpreter, as a deployed one does, with
# no copy of the bench's event loop, connections or threads.
SPAWN = multiprocessing.get_context("spawn")
START_TIMEOUT_S = 300  # for workers to import, connect and make their sender

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


@dataclass(frozen=True)
class Reach:
    """How a worker reaches the fake FCM (picklable: it goes to spawned workers)."""

    fcm_url: str  # for firebase-admin's messaging._MessagingService.FCM_URL
    ca_file: str | None  # the fake's certificate, to trust over TLS
    account: str  # service-account JSON whose token URI is the fake


def protocol(transport: str, http1: bool) -> str:
    if transport == LOG_ONLY:
        return "-"
    if http1:
        return "http/1.1"
    # httpx negotiates HTTP/2 by ALPN over TLS; aiohttp has no HTTP/2.
    return "h2+tls" if transport == "firebase-admin" else "http/1.1+tls"


# --- one worker process ---------------------------------------------------------------------


def _worker(index: int, url: str, transport: str, reach: Reach | None, batch: int, barrier, events) -> None:
    """A worker process: dispatch until a claim finds nothing, then report on `events`."""
    try:
        from api.worker import run_worker_loop

        run_worker_loop(_work(index, url, transport, reach, batch, barrier, events))
    except BaseException:
        barrier.abort()  # neither the bench nor the other workers must wait for this one
        events.put(("error", index, traceback.format_exc()))


async def _work(index: int, url: str, transport: str, reach: Reach | None, batch: int, barrier, events) -> None:
    if reach is None:
        sender = LogSender()
    else:
        from firebase_admin import messaging

        from api.worker import PUSH_TRANSPORTS

        # Both senders read the URL when they are made, and SSL_CERT_FILE at their first send.
        messaging._MessagingService.FCM_URL = reach.fcm_url
        if reach.ca_file:
            os.environ["SSL_CERT_FILE"] = reach.ca_file
        sender = PUSH_TRANSPORTS[transport](reach.account)
    from api.worker import settle_garbage_collector

    settle_garbage_collector()  # as `aftercare worker` does when it starts
    policy = Policy(batch_size=batch)
    # One connection per lane, as the worker takes them from its pool (AFTERCARE_PUSH_LANES).
    lanes = [await asyncpg.connect(url) for _ in range(policy.lanes)]
    try:
        backends = [_local_process(conn.get_server_pid()) for conn in lanes]
        db_cpu = sum(map(_cpu_s, backends))
        # Everything slow to start (imports, connecting) is done: wait for the other workers,
        # so that all start on the backlog together. Blocking is fine: nothing runs on this
        # loop yet. The OAuth token and the connections to FCM are not made yet: they count,
        # as they would for a worker starting on a backlog.
        barrier.wait(START_TIMEOUT_S)
        cpu, started = time.process_time(), time.monotonic()
        claimed, first_s = 0, None
        # A fresh `now` each round, as the worker's job loop passes.
        while (report := await dispatch_lanes(lanes, sender, dt.datetime.now(dt.UTC), policy)).claimed:
            claimed += report.claimed
            first_s = first_s or time.monotonic() - started
            events.put(("claimed", index, report.claimed))
        # CLOCK_MONOTONIC is one clock for every process on the machine: the bench compares
        # these instants across workers.
        outcome = {
            "started": started,
            "ended": time.monotonic(),
            "first_s": first_s or 0.0,
            "cpu_s": time.process_time() - cpu,
            "db_cpu_s": sum(map(_cpu_s, backends)) - db_cpu if all(backends) else None,
            "claimed": claimed,
        }
        await sender.close()
    finally:
        for conn in lanes:
            await conn.close()
    events.put(("done", index, outcome))


def _local_process(pid: int) -> psutil.Process | None:
    """The database backend serving a connection, when it runs on this machine."""
    try:
        process = psutil.Process(pid)
        return process if "postgres" in process.name() else None
    except psutil.Error:
        return None


def _listen_drops() -> int | None:
    """SYNs the kernel dropped because a listener's accept queue was full, machine-wide."""
    try:
        names, values = [line.split() for line in Path("/proc/net/netstat").read_text().splitlines()[:2]]
        return int(dict(zip(names, values, strict=True))["ListenDrops"])
    except (OSError, ValueError, KeyError):
        return None


def _cpu_s(process: psutil.Process | None) -> float:
    """CPU seconds (user + system) a process has used so far."""
    if process is None:
        return 0.0
    times = process.cpu_times()
    return times.user + times.system


# --- one run ---------------------------------------------------------------------------------


def _run_workers(
    url: str, transport: str, reach: Reach | None, batch: int, workers: int, total: int, fake_pid: int | None
) -> dict:
    """Start the workers, release them together, print progress, wait for the last."""
    barrier, events = SPAWN.Barrier(workers + 1), SPAWN.Queue()
    processes = [
        SPAWN.Process(target=_worker, args=(i, url, transport, reach, batch, barrier, events), daemon=True)
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    fake = psutil.Process(fake_pid) if fake_pid else None
    done: dict[int, dict] = {}
    errors: list[str] = []
    claimed = [0] * workers
    try:
        fake_cpu, drops = _cpu_s(fake), _listen_drops()  # the fake is idle until the workers are released
        try:
            barrier.wait(START_TIMEOUT_S)
        except threading.BrokenBarrierError:
            pass  # a worker failed to start: its traceback is on `events`
        while len(done) + len(errors) < workers:
            try:
                kind, index, value = events.get(timeout=1)
            except queue.Empty:
                if not any(p.is_alive() for p in processes):
                    errors.append("a worker process ended without a word")
                    break
                continue
            if kind == "claimed":
                claimed[index] += value
                split = f" ({' + '.join(map(str, claimed))})" if workers > 1 else ""
                print(f"\r  {sum(claimed):>7} / {total} claimed{split}", end="", flush=True)
            elif kind == "done":
                done[index] = value
            else:
                errors.append(value)
        fake_cpu = _cpu_s(fake) - fake_cpu
        drops = None if drops is None or (after := _listen_drops()) is None else after - drops
        print()
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    if errors:
        raise RuntimeError("worker failed:\n" + "\n".join(errors))
    runs = list(done.values())
    db_cpus = [r["db_cpu_s"] for r in runs]
    return {
        "seconds": max(r["ended"] for r in runs) - min(r["started"] for r in runs),
        "first_s": max(r["first_s"] for r in runs),
        "syn_drops": drops,
        "worker_cpu_s": sum(r["cpu_s"] for r in runs),
        "db_cpu_s": None if None in db_cpus else sum(db_cpus),
        "fake_cpu_s": fake_cpu if fake is not None else None,
        "claimed_by_worker": [done[i]["claimed"] for i in sorted(done)],
    }


def _start_fake(latency_s: float) -> tuple[multiprocessing.Process, dict]:
    from tests.fake_fcm import serve_in_process

    ports = SPAWN.Queue()
    process = SPAWN.Process(target=serve_in_process, args=(ports, latency_s), daemon=True)
    process.start()
    return process, ports.get(timeout=60)


def _fake_stats(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=10) as response:
        return json.load(response)


async def run(
    server: str,
    messages: int,
    batch: int,
    latency_ms: float,
    log_only: bool = False,
    http1: bool = False,
    transport: str = "aiohttp",
    workers: int = 1,
) -> dict:
    """One run on a scratch database of its own; returns its row of the table."""
    transport = LOG_ONLY if log_only else transport
    async with scratch_database(server) as url:
        conn = await asyncpg.connect(url)
        try:
            await migrate.upgrade(conn)
            people = max(1, messages // 10)
            await conn.execute(SEED.replace("$1", str(people)).replace("$2", str(messages // people)))
            total = await conn.fetchval("select count(*) from notifications")
        finally:
            await conn.close()

        fake, where = (None, {}) if log_only else _start_fake(latency_ms / 1000)
        try:
            with tempfile.TemporaryDirectory(prefix="aftercare-bench-") as folder:
                reach = None if log_only else _reach(Path(folder), where, http1)
                # The workers' processes are waited on in a thread: this loop stays free.
                measured = await asyncio.to_thread(
                    _run_workers, url, transport, reach, batch, workers, total, fake.pid if fake else None
                )
            stats = _fake_stats(where["port"]) if fake is not None else {}
        finally:
            if fake is not None:
                fake.kill()

        conn = await asyncpg.connect(url)
        try:
            sent = await conn.fetchval("select count(*) from notifications where push_state = 'sent'")
            # Each push's log rows (one per attempt): a push recorded as sent twice, or a 200
            # from the fake for a push never recorded, is a double.
            recorded = await conn.fetchval(
                "select count(distinct (notification_id, device_id)) from notification_deliveries"
                " where outcome in ('sent', 'logged')"
            )
        finally:
            await conn.close()
    delivered = stats.get("delivered", recorded)
    return {
        "transport": transport,
        "protocol": protocol(transport, http1),
        "workers": workers,
        "messages": total,
        "batch": batch,
        "latency_ms": latency_ms,
        "sent": sent,
        "recorded": recorded,
        "delivered": delivered,
        "doubled": delivered - recorded,
        "not_200": stats.get("attempts", delivered) - delivered,
        "token_requests": stats.get("token_requests", 0),
        **measured,
    }


def _reach(folder: Path, where: dict, http1: bool) -> Reach:
    from tests.fake_fcm import write_service_account

    account = str(write_service_account(folder, f"http://127.0.0.1:{where['port']}/token"))
    if http1:
        return Reach(f"http://127.0.0.1:{where['port']}/v1/projects/{{0}}/messages:send", None, account)
    ca_file = folder / "fake-fcm-ca.pem"
    ca_file.write_text(where["ca_pem"])
    return Reach(f"https://127.0.0.1:{where['tls_port']}/v1/projects/{{0}}/messages:send", str(ca_file), account)


def exactly_once(r: dict) -> bool:
    return r["messages"] == r["sent"] == r["recorded"] == r["delivered"]


# --- the report --------------------------------------------------------------------------------

COLUMNS = (
    f"{'transport':>14} {'protocol':>12} {'workers':>7} {'latency ms':>10} {'batch':>5} {'messages':>8}"
    f" {'seconds':>7} {'msg/s':>6} {'1st s':>5} {'delivered':>9} {'doubled':>7} {'not 200':>7}"
    f" {'worker us/msg':>13} {'worker %':>8} {'fake %':>6} {'db %':>5} {'syn drops':>9}"
)


def row(r: dict) -> str:
    def share(cpu_s: float | None) -> str:
        return "-" if cpu_s is None else f"{100 * cpu_s / r['seconds']:.0f}"

    return (
        f"{r['transport']:>14} {r['protocol']:>12} {r['workers']:>7} {r['latency_ms']:>10g} {r['batch']:>5}"
        f" {r['messages']:>8} {r['seconds']:>7.2f} {r['messages'] / r['seconds']:>6.0f} {r['first_s']:>5.2f}"
        f" {r['delivered']:>9} {r['doubled']:>7} {r['not_200']:>7} {1e6 * r['worker_cpu_s'] / r['messages']:>13.0f}"
        f" {share(r['worker_cpu_s']):>8} {share(r['fake_cpu_s']):>6} {share(r['db_cpu_s']):>5}"
        f" {'-' if r['syn_drops'] is None else r['syn_drops']:>9}"
    )


async def main(
    messages: int,
    batches: list[int],
    latencies: list[float],
    log_only: bool = False,
    http1: bool = False,
    transports: list[str] | None = None,
    workers: int = 1,
) -> int:
    server = database_server()
    results = []
    for transport in [LOG_ONLY] if log_only else transports or TRANSPORTS:
        for latency in latencies:
            for batch in batches:
                print(
                    f"{transport} ({protocol(transport, http1)}), {workers} worker(s), {messages} messages, "
                    f"batch {batch}, FCM latency {latency:g} ms:",
                    flush=True,
                )
                results.append(await run(server, messages, batch, latency, log_only, http1, transport, workers))
    print("\n" + COLUMNS)
    for r in results:
        print(row(r))
    bad = [r for r in results if not exactly_once(r)]
    rates = [r["messages"] / r["seconds"] for r in results]
    split = "; claims per worker " + ", ".join(str(r["claimed_by_worker"]) for r in results) if workers > 1 else ""
    print(
        f"\n{len(results)} runs, {min(rates):,.0f} to {max(rates):,.0f} msg/s: "
        + (
            "every message delivered exactly once"
            if not bad
            else f"MISMATCH in {len(bad)} (sent/recorded/delivered: "
            + ", ".join(f"{r['sent']}/{r['recorded']}/{r['delivered']} of {r['messages']}" for r in bad)
            + ")"
        )
        + f"; OAuth token requests {[r['token_requests'] for r in results]}{split}."
    )
    return 0 if not bad else 1


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.dispatch",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__[__doc__.index("The table") :],  # what the columns mean
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--messages", type=int, default=5000, help="backlog size: notifications due, one device each")
    p.add_argument(
        "--batch-sizes", type=int, nargs="+", default=[100, 500], help="notifications per claim, each a run (<= 500)"
    )
    p.add_argument(
        "--latency-ms",
        type=float,
        nargs="+",
        default=[0, 50],
        help="the fake FCM's answer time per send, each a run (FCM's own is tens of ms)",
    )
    p.add_argument(
        "--transports",
        nargs="+",
        choices=TRANSPORTS,
        default=TRANSPORTS,
        help="push transports to run, each a run: aiohttp (production's default; HTTP/1.1 over TLS) and "
        "firebase-admin (the SDK's own send; HTTP/2 over TLS)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes on the same backlog, each with its own connection, sender and event loop",
    )
    p.add_argument(
        "--log-only",
        action="store_true",
        help="the log-only sender instead of the transports: the database side alone, no fake FCM",
    )
    p.add_argument(
        "--http1",
        action="store_true",
        help="reach the fake over plain HTTP/1.1, not TLS (production never takes this path)",
    )
    return p


if __name__ == "__main__":
    a = parser().parse_args()
    options = (a.log_only, a.http1, a.transports, a.workers)
    sys.exit(asyncio.run(main(a.messages, a.batch_sizes, a.latency_ms, *options)))
