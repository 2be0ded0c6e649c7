"""How long the dashboard's watchlist takes to render for a large program.

    python -m bench.dashboard [--graduates 5000] [--runs 3] [--alerted 0.2]

A scratch database (DATABASE_URL's server, or the embedded one) is seeded like
bench/sweep.py (graduates at every stage of their plan, 30 days of history, about 80% of
check-ins made), with one counselor for everyone; the sweep records misses and raises
alerts, and a share of everyone (`--alerted`, 20%) gets an open alert. Then the real API is served on a free port and the real dashboard runs in
Streamlit's AppTest: after signing in, the watchlist page is rendered `--runs` times. Prints
the API's own time for the watchlist call and the page's render time (API call included).
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
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

from api.auth.credentials import Hasher
from api.settings import Settings
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


def measure(url: str, runs: int) -> dict:
    from streamlit.testing.v1 import AppTest

    from tests.live_server import LiveServer

    settings = Settings(database_url=url, secret_key="bench-secret-key-" + "x" * 32, password_profile="cheapest")
    with LiveServer(settings) as server:
        os.environ["AFTERCARE_API_URL"] = server.url
        for name in ("", "httpx", "uvicorn", "uvicorn.access", "uvicorn.error"):  # a line per request otherwise
            logging.getLogger(name).setLevel(logging.WARNING)
        tokens = httpx.post(f"{server.url}/v1/auth/login", json={"email": EMAIL, "password": PASSWORD}).json()
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        api_s = []
        for _ in range(runs):
            started = time.monotonic()
            rows = 0
            cursor = None
            while True:
                page = httpx.get(
                    f"{server.url}/v1/staff/watchlist",
                    params={"limit": 1000, **({"cursor": cursor} if cursor else {})},
                    headers=headers,
                    timeout=60,
                ).json()
                rows += len(page["items"])
                if not (cursor := page["next_cursor"]):
                    break
            api_s.append(time.monotonic() - started)
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
    return {"rows": rows, "shown": shown, "api_s": statistics.median(api_s), "render_s": statistics.median(render_s)}


def main(size: int, runs: int, alerted: float) -> int:
    server = os.environ.get("DATABASE_URL")
    if not server:
        from db.embedded import start_embedded

        server = start_embedded(Path(".aftercare/bench-pgdata"))
    name = f"aftercare_bench_{uuid.uuid4().hex[:8]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(server)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'create database "{name}"'))
    url = urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
    try:
        alerts = asyncio.run(seed(url, size, alerted))
        result = measure(url, runs)
    finally:
        asyncio.run(admin(f'drop database if exists "{name}" with (force)'))
    print(f"\n{'graduates':>10} {'open alerts':>11} {'watchlist':>9} {'shown':>6} {'API s':>7} {'render s':>9}")
    print(
        f"{size:>10} {alerts:>11} {result['rows']:>9} {result['shown']:>6} {result['api_s']:>7.2f} {result['render_s']:>9.2f}"
    )
    ok = result["rows"] == result["shown"]
    print(f"\nmedian of {runs} runs; the page {'shows every' if ok else 'DOES NOT show every'} watchlist row.")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--graduates", type=int, default=5000, help="population size")
    parser.add_argument("--runs", type=int, default=3, help="renders to time (the median is shown)")
    parser.add_argument("--alerted", type=float, default=0.2, help="share of graduates given an open alert")
    args = parser.parse_args()
    sys.exit(main(args.graduates, args.runs, args.alerted))
