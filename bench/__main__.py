"""Every benchmark in one run, with one results table printed and written to a file.

    python -m bench [--quick] [--out bench/results/latest.md] [--skip http sweep dispatch live]

  http      the API under wrk, scenarios a-f (a beside its peers) and the memory soak (bench/http.py)
  sweep     the missed-check-in sweep at 10,000 / 100,000 / 1,000,000 graduates (bench/sweep.py)
  dispatch  one worker pushing to the local fake FCM: the lean transport at FCM latency 0 and 50 ms,
            firebase-admin's own at 0 ms (bench/dispatch.py)
  live      1,000 discussion sockets on two API processes, 20 groups, 50 posts a second (bench/live.py)

`--quick` is a smoke run (small sizes, short runs; minutes instead of about half an hour):
its numbers show that everything works, not how fast. Uses DATABASE_URL's server, or the
embedded PostgreSQL. Needs the test extra (`pip install -e '.[test]'`) and wrk (installed
with apt-get when missing and allowed). Exit code: 0 all ran without errors, 1 a run had
errors, 2 a tool is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import psutil

from bench import dispatch, http, live, load, sweep
from bench.scratch import database_server

TARGETS = """Targets (this 2-core machine): a >= 40% of pgbench, p99 < 100 ms, no errors; b >= 25% of pgbench;
d and f p50 < 100 ms at the big population and at most 1.5 times their p50 at 5k; sweep every 10 minutes at 1M < 1 s,
a one-day catch-up at 1M < 30 s; dispatch >= 2,000 msg/s; memory flat (< 10% growth); live (1,000 sockets on 2
processes, 50 posts/s): 0 events lost or repeated, delivery p99 < 500 ms, < 100 KiB a socket."""


def machine(server: str) -> str:
    cpu = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor() or platform.machine(),
        )
        if Path("/proc/cpuinfo").exists()
        else platform.machine()
    )

    async def version() -> str:
        conn = await asyncpg.connect(server)
        try:
            return (await conn.fetchval("show server_version")).split()[0]
        finally:
            await conn.close()

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    return (
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, commit {commit.stdout.strip() or '?'}; "
        f"{psutil.cpu_count()} cores ({cpu}), {psutil.virtual_memory().total / 2**30:.0f} GiB; "
        f"PostgreSQL {asyncio.run(version())}, Python {platform.python_version()}"
    )


def markdown(headings: list[str], rows: list[list[str]]) -> str:
    """A table with the first column left-aligned and the numbers right-aligned."""
    lines = ["| " + " | ".join(headings) + " |", "|---|" + "---:|" * (len(headings) - 1)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows]) + "\n"


def sweep_table(results: list[dict]) -> str:
    def run(r: dict, name: str) -> list[str]:
        seconds, counts = r["runs"][name]
        return [f"{counts['graduates_visited']:,}", f"{seconds:.2f}"]

    return markdown(
        [
            "sweep: graduates",
            "check-ins",
            "first (everyone) s",
            "again s",
            "10 min: visited",
            "10 min s",
            "1 day: visited",
            "1 day s",
            "check-in reminders s",
        ],
        [
            [
                f"{r['graduates']:,}",
                f"{r['checkins']:,}",
                f"{r['runs']['first'][0]:.2f}",
                f"{r['runs']['again'][0]:.2f}",
                *run(r, "10 min"),
                *run(r, "1 day"),
                f"{r['remind_s']:.2f}",
            ]
            for r in results
        ],
    )


def dispatch_table(results: list[dict]) -> str:
    return markdown(
        ["dispatch: transport", "batch", "FCM latency ms", "messages", "seconds", "msg/s", "delivered"],
        [
            [
                f"{r['transport']} ({r['protocol']})",
                f"{r['batch']}",
                f"{r['latency_ms']:g}",
                f"{r['messages']:,}",
                f"{r['seconds']:.2f}",
                f"{r['messages'] / r['seconds']:,.0f}",
                f"{r['delivered']:,}",
            ]
            for r in results
        ],
    )


def live_table(r: dict) -> str:
    not_201 = ", ".join(f"{n}× {status}" for status, n in r["not_201"].items()) or "0"
    return markdown(
        [
            "live: sockets",
            "processes",
            "groups",
            "posts/s target",
            "achieved",
            "not 201",
            "POST p99 ms",
            "deliveries",
            "p50 ms",
            "p99 ms",
            "max ms",
            "fan-out p99 ms",
            "lost",
            "duplicates",
            "KiB a socket",
        ],
        [
            [
                f"{r['sockets']:,}",
                f"{r['processes']}",
                f"{r['groups']}",
                f"{r['rate']:g}",
                f"{r['achieved']:.1f}",
                not_201,
                f"{r['post_p99_ms']:.0f}",
                f"{r['deliveries']:,} of {r['expected']:,}",
                f"{r['p50_ms']:.1f}",
                f"{r['p99_ms']:.1f}",
                f"{r['max_ms']:.1f}",
                f"{r['after_answer_p99_ms']:.1f}",
                f"{r['lost']:,}",
                f"{r['duplicates']:,}",
                f"{r['kib_per_socket']:.0f}",
            ]
        ],
    )


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a smoke run: small sizes, 3-second runs, no soak")
    p.add_argument("--out", type=Path, default=Path("bench/results/latest.md"), help="where to write the results")
    p.add_argument(
        "--skip", nargs="+", choices=["http", "sweep", "dispatch", "live"], default=[], help="parts to leave out"
    )
    p.add_argument("--sweep-sizes", type=int, nargs="+", help="graduates per sweep run (default 10000 100000 1000000)")
    args = p.parse_args()

    server = database_server()
    os.environ["DATABASE_URL"] = server  # the API's processes use the same server
    started = time.monotonic()
    sections = [f"# Benchmark results\n\n{machine(server)}\n\n{TARGETS}\n"]
    args.out.parent.mkdir(parents=True, exist_ok=True)

    def keep(section: str) -> None:
        """Each part's table goes to the file as soon as it is measured: a stopped run keeps them."""
        sections.append(section)
        args.out.write_text("\n".join(sections))

    failed = False
    try:
        if "http" not in args.skip:
            quick = "--graduates 1000 --watchlist-graduates 3000 --groups 1000 --seconds 3 --soak 0"
            http_args = quick.split() if args.quick else []
            http_options = http.parser().parse_args(http_args)
            print("== HTTP scenarios ==", flush=True)
            rows = asyncio.run(http.run(http_options))
            keep(
                f"## API under load ({http_options.workers} uvicorn workers, wrk with {http_options.connections} "
                f"connections, {http_options.seconds:.0f} s a scenario; a random graduate a request; "
                f"{http_options.graduates:,} graduates and {http_options.groups:,} groups)\n\n" + http.table(rows)
            )
            failed |= any(r.result and r.result.errors for r in rows)
        if "sweep" not in args.skip:
            sizes = args.sweep_sizes or ([2000, 20000] if args.quick else [10_000, 100_000, 1_000_000])
            print("== Missed-check-in sweep ==", flush=True)
            results = []
            for size in sizes:
                print(f"{size:,} graduates:", flush=True)
                results.append(asyncio.run(sweep.run(size, server, False)))
                if len(results) > 1:
                    sections.pop()  # the table so far, kept in case the next size never ends
                keep("## Batch: the missed-check-in sweep (30 days of history)\n\n" + sweep_table(results))
        if "dispatch" not in args.skip:
            print("== Push dispatch ==", flush=True)
            results = []
            for transport, latency in (("aiohttp", 0), ("aiohttp", 50), ("firebase-admin", 0)):
                print(f"{transport}, FCM latency {latency} ms:", flush=True)
                results.append(
                    asyncio.run(dispatch.run(server, 1000 if args.quick else 10_000, 500, latency, transport=transport))
                )
            keep(
                "## Batch: push dispatch, one worker (two lanes of 500), to the local fake FCM over TLS\n\n"
                + dispatch_table(results)
            )
            failed |= any(r["delivered"] != r["messages"] or r["doubled"] for r in results)
        if "live" not in args.skip:
            print("== Live discussion sockets ==", flush=True)
            result = asyncio.run(live.run(server, args.quick))
            keep(
                f"## Live discussions: {result['sockets']:,} sockets on {result['processes']} API processes "
                f"(one worker each, events between them over LISTEN/NOTIFY), {result['groups']} groups, "
                f"{result['rate']:g} posts a second for {result['seconds']:g} s; latency from sending a post "
                f"to each member's socket receiving it (fan-out: from the POST's answer)\n\n" + live_table(result)
            )
            failed |= live.failed(result)
    except load.ToolMissing as missing:
        print(f"error: {missing}", file=sys.stderr)
        return 2
    print("\n" + "\n".join(sections))
    print(
        f"Done in {(time.monotonic() - started) / 60:.1f} min; results written to {args.out}"
        + ("; some runs had errors (see the table)." if failed else ".")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
