"""How long the dashboard's watchlist takes to render for a large program.

    python -m bench.dashboard [--graduates 5000] [--runs 3] [--alerted 0.2] [--limit 1000] [--api-only]

A scratch database (DATABASE_URL's server, or the embedded one) is seeded like
bench/sweep.py (graduates at every stage of their plan, 30 days of history, about 80% of
check-ins made), with one counselor for everyone; the sweep records misses and raises
alerts, and a share of everyone (`--alerted`, 20%) gets an open alert. Then the real API is served on a free port and the real dashboard runs in
Streamlit's AppTest: after signing in, the watchlist page is rendered `--runs` times. Prints
the API's own time for the watchlist call and the page's render time (API call included).
The whole list is paged through `--runs` times, `--limit` a page: the time per pass, and
the median time of one call (first page, and any page). `--api-only` skips the page.
Needs the test extra (`pip install -e '.[test]'`).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import statistics
import sys
import time
from pathlib import Path

import asyncpg
import httpx

from api.auth.credentials import Hasher
from api.settings import Settings
from bench.scratch import create_scratch, drop_scratch
from bench.sweep import SEED
from db import migrate
from db import people as people_db
from db.sweep import sweep

EMAIL, PASSWORD = "bench-counselor@example.org", "a long bench password"


async def seed(url: str, size: int, alerted: float) -> int:
    conn = await asyncpg.connect(url, command_timeout=3600)
    try:
        await migrate.upgrade(conn)
        print(f"  seeding {size} graduates with 30 days of history...", flush=True)
        await conn.execute(SEED.replace("{n}", str(size)))
        counselor = await people_db.insert_account(
            conn,
            email=EMAIL,
            password_hash=await Hasher("cheapest").hash(PASSWORD),
            name="Bench Counselor",
            roles=["staff"],
            timezone="America/Chicago",
        )
        await conn.execute("update participant_profiles set counselor_id = $1", counselor["id"])
        print("  sweeping (records misses, raises alerts)...", flush=True)
        await sweep(conn, dt.datetime.now(dt.UTC))
        # A hard week: a share of everyone gets an open alert from a check-in, of any severity.
        await conn.execute(
            """
            insert into alerts (person_id, kind, severity, reasons)
            select person_id, 'checkin_risk', 1 + (random() * 3)::int,
                   '[{"code": "bench", "message": "Seeded for the benchmark."}]'::jsonb
            from participant_profiles where random() < $1
            on conflict do nothing
            """,
            alerted,
        )
        return await conn.fetchval("select count(*) from alerts where status <> 'resolved'")
    finally:
        await conn.close()


def measure(url: str, runs: int, limit: int, api_only: bool) -> dict:
    from tests.live_server import LiveServer

    # Two-factor is not what this measures: the seeded counselor signs in with a password alone.
    settings = Settings(
        database_url=url,
        secret_key="bench-secret-key-" + "x" * 32,
        password_profile="cheapest",
        require_mfa=frozenset(),
    )
    with LiveServer(settings) as server:
        os.environ["AFTERCARE_API_URL"] = server.url
        for name in ("", "httpx", "uvicorn", "uvicorn.access", "uvicorn.error"):  # a line per request otherwise
            logging.getLogger(name).setLevel(logging.WARNING)
        tokens = httpx.post(f"{server.url}/v1/auth/login", json={"email": EMAIL, "password": PASSWORD}).json()
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        api_s, first_s, call_s = [], [], []
        with httpx.Client(headers=headers, timeout=60) as client:
            for _ in range(runs):
                started = time.monotonic()
                rows = 0
                cursor = None
                while True:
                    call = time.monotonic()
                    page = client.get(
                        f"{server.url}/v1/staff/watchlist",
                        params={"limit": limit, **({"cursor": cursor} if cursor else {})},
                    ).json()
                    call_s.append(time.monotonic() - call)
                    if cursor is None:
                        first_s.append(call_s[-1])
                    rows += len(page["items"])
                    if not (cursor := page["next_cursor"]):
                        break
                api_s.append(time.monotonic() - started)
        result = {
            "rows": rows,
            "api_s": statistics.median(api_s),
            "first_s": statistics.median(first_s),
            "call_s": statistics.median(call_s),
            "calls": len(call_s) // runs,
        }
        if api_only:
            return result | {"shown": None, "render_s": None}
        from streamlit.testing.v1 import AppTest

        at = AppTest.from_file(
            str(Path(__file__).resolve().parent.parent / "admin_dashboard" / "app.py"), default_timeout=120
        )
        at.run()
        at.text_input[0].input(EMAIL)
        at.text_input[1].input(PASSWORD)
        at.button[0].click().run()  # signs in, then renders the watchlist once (warm-up)
        assert not at.exception, at.exception
        render_s = []
        for i in range(runs):
            started = time.monotonic()
            at.run()
            render_s.append(time.monotonic() - started)
            print(f"  render {i + 1}/{runs}: {render_s[-1]:.2f}s", flush=True)
        shown = len(at.dataframe[0].value)
    return result | {"shown": shown, "render_s": statistics.median(render_s)}


def main(size: int, runs: int, alerted: float, limit: int, api_only: bool) -> int:
    # The page is rendered synchronously (AppTest runs its own loop): one loop per step.
    url = asyncio.run(create_scratch())
    try:
        alerts = asyncio.run(seed(url, size, alerted))
        result = measure(url, runs, limit, api_only)
    finally:
        asyncio.run(drop_scratch(url))
    print(
        f"\n{'graduates':>10} {'open alerts':>11} {'watchlist':>9} {'shown':>6} {'API s':>7} {'calls':>6}"
        f" {'first ms':>9} {'call ms':>8} {'render s':>9}"
    )
    print(
        f"{size:>10} {alerts:>11} {result['rows']:>9} {result['shown'] if result['shown'] is not None else '-':>6}"
        f" {result['api_s']:>7.2f} {result['calls']:>6} {result['first_s'] * 1000:>9.0f} {result['call_s'] * 1000:>8.0f}"
        f" {format(result['render_s'], '.2f') if result['render_s'] is not None else '-':>9}"
    )
    print(
        f"\nmedian of {runs} runs (API s: paging through the whole list, {limit} a page; first ms: the first"
        " page's call; call ms: any page's call)."
    )
    if api_only:
        return 0
    ok = result["rows"] == result["shown"]
    print(f"The page {'shows every' if ok else 'DOES NOT show every'} watchlist row.")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--graduates", type=int, default=5000, help="population size")
    parser.add_argument("--runs", type=int, default=3, help="renders to time (the median is shown)")
    parser.add_argument("--alerted", type=float, default=0.2, help="share of graduates given an open alert")
    parser.add_argument("--limit", type=int, default=1000, help="watchlist items a page (1-1000)")
    parser.add_argument("--api-only", action="store_true", help="time the API only, not the dashboard page")
    args = parser.parse_args()
    sys.exit(main(args.graduates, args.runs, args.alerted, args.limit, args.api_only))
