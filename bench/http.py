"""The API under load, as it runs in production, driven over HTTP by wrk.

    python -m bench.http [--graduates 5000] [--watchlist-graduates 50000] [--groups 10000]
                         [--seconds 20] [--connections 32] [--workers 2] [--soak 300]

Seeds a scratch database (bench/seed.py), starts `aftercare serve --workers N` in its own
processes and drives it from wrk (its own process; signed requests, a random graduate each):
  a  POST /v1/checkins (a fresh client id each)       + pgbench running the same statements
     + the peers (bench/peers.py), loaded alike: the same insert in a bare Litestar + asyncpg
       app and through FastAPI + SQLAlchemy's ORM, as yardsticks for a (and for c and e)
  b  GET /v1/groups with typical filters               + pgbench running the same statements
  c  GET /v1/checkins/due
  d  GET /v1/staff/watchlist (a counselor; --watchlist-connections at once), at --graduates
     and at --watchlist-graduates
  e  mixed mobile traffic (mostly reads, one in ten a check-in)
  f  GET /v1/staff/metrics, as d (a counselor, --watchlist-connections at once, at --graduates
     and at --watchlist-graduates), each run right after d's
  soak  e again for --soak seconds, the API's memory sampled throughout
For each: requests per second, p50/p95/p99, errors, the server's peak memory (all its processes);
under the table, a, c and e against the peers.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from api.security import build_jwt_auth, issue_access_token
from api.settings import Settings
from bench import load, peers, statements
from bench.scratch import scratch_database
from bench.seed import Program, add_graduates, seed_program
from bench.server import ApiServer, Server
from db import mfa as mfa_db

GROUP_FILTERS = [
    "/v1/groups",
    "/v1/groups?weekday=tuesday&weekday=thursday&time_of_day=evening&topic=women",
    "/v1/groups?format=in_person&open_seats=true",
    "/v1/groups?near=41.88,-87.63&radius_km=50",
    "/v1/groups?q=meditation",
]
CHECKIN = (1, "POST", "/v1/checkins")
MIXED = [
    (30, "GET", "/v1/checkins/due"),
    *[(4, "GET", path) for path in GROUP_FILTERS],
    (15, "GET", "/v1/me/notifications"),
    (10, "GET", "/v1/me/sessions"),
    (10, "GET", "/v1/checkins"),
    (5, "GET", "/v1/me"),
    (10, "POST", "/v1/checkins"),
]
MAX_TOKENS = 5000
# Staff views, measured alike and back to back at each size, so that d and f see the same data.
STAFF = [("d", "/v1/staff/watchlist"), ("f", "/v1/staff/metrics")]
SCENARIOS = ("a", "b", "c", "d", "e", "f", "soak")


@dataclass
class Row:
    scenario: str
    result: load.Result | None  # None: not run, for the reason in `missing`
    peak_mb: float | None = None
    baseline: load.Result | None = None  # pgbench, same statements
    key: str = ""  # "a", "c", "e", "bare", "orm": the rows the summary under the table compares
    missing: str = ""


def progress(message: str) -> None:
    print(message, flush=True)


def token_minter(settings: Settings) -> Callable[[UUID, UUID], str]:
    """Access tokens as the API issues them (api.security), valid long enough for any run."""
    jwt_auth = build_jwt_auth(dataclasses.replace(settings, access_token_ttl_s=6 * 3600))
    return lambda person_id, session_id: issue_access_token(jwt_auth, person_id, session_id)


async def counselor_second_factor(conn: asyncpg.Connection, program: Program) -> None:
    """Staff must use two-factor sign-in (Settings.require_mfa) and are refused every staff route
    until it is on (403 mfa_enrolment_required), so the bench's counselor has it on, as real staff
    do. Tokens are minted, never signed in for, so the secret is never used."""
    await mfa_db.start_totp(conn, program.counselor_id, secrets.token_bytes(32))
    await mfa_db.confirm_totp(conn, program.counselor_id, [])


async def checkin_script(conn: asyncpg.Connection, settings: Settings, graduates: int) -> str:
    """pgbench's version of scenario a: the statements of one real POST /v1/checkins."""
    login = await statements.login_row(conn, 1)
    client_id, client_time = UUID(int=secrets.randbits(122)), dt.datetime.now(dt.UTC).replace(microsecond=0)
    body = {
        "client_id": str(client_id),
        "client_time": client_time.isoformat(),
        "mood": 4,
        "craving": 2,
        "used": False,
        "sleep": 3,
        "need_support": "no",
    }
    headers = {"Authorization": f"Bearer {token_minter(settings)(login['person_id'], login['session_id'])}"}

    async def send(client):
        response = await client.post("/v1/checkins", json=body, headers=headers)
        assert response.status_code == 201, response.text
        return response.json()

    logged, created = await statements.capture(settings, send)
    variables = {
        login["person_id"]: "pid",
        login["session_id"]: "sid",
        client_id: "cid",
        client_time: "ct",
    }
    return statements.pgbench_script(logged, variables, graduates)


async def listing_scripts(conn: asyncpg.Connection, settings: Settings, graduates: int) -> list[str]:
    """pgbench's version of scenario b: the statements of each typical GET /v1/groups."""
    login = await statements.login_row(conn, 1)
    headers = {"Authorization": f"Bearer {token_minter(settings)(login['person_id'], login['session_id'])}"}
    scripts = []
    for path in GROUP_FILTERS:

        async def send(client, path=path):
            response = await client.get(path, headers=headers)
            assert response.status_code == 200, response.text

        logged, _ = await statements.capture(settings, send)
        variables = {login["person_id"]: "pid", login["session_id"]: "sid"}
        scripts.append(statements.pgbench_script(logged, variables, graduates))
    return scripts


class Bench:
    def __init__(self, args: argparse.Namespace, database_url: str, program: Program) -> None:
        self.args = args
        self.database_url = database_url
        self.program = program
        self.settings = Settings(database_url=database_url, secret_key=secrets.token_urlsafe(48))
        self.token = token_minter(self.settings)
        self.rows: list[Row] = []

    async def graduate_tokens(self, conn: asyncpg.Connection) -> list[str]:
        rows = await conn.fetch("select person_id, session_id from bench_logins order by random() limit $1", MAX_TOKENS)
        return [self.token(r["person_id"], r["session_id"]) for r in rows]

    def staff(self, server: ApiServer) -> list[Row]:
        """Scenarios d and f: a few counselors at once (`--watchlist-connections`), not the app's crowd."""
        token = self.token(self.program.counselor_id, self.program.counselor_session_id)
        return [
            self.drive(
                server,
                f"{letter}  GET {path} ({self.program.graduates // 1000}k graduates, "
                f"{self.args.watchlist_connections} connections)",
                [(1, "GET", path)],
                [token],
                self.args.watchlist_connections,
            )
            for letter, path in STAFF
            if letter in self.args.only
        ]

    def drive(
        self, server: Server, name: str, plan, tokens: list[str], connections: int | None = None, key: str = ""
    ) -> Row:
        seconds, connections = self.args.seconds, connections or self.args.connections
        load.wrk(server.url, plan, tokens, connections, min(5, seconds))  # warm-up, not counted
        started = time.monotonic()
        result = load.wrk(server.url, plan, tokens, connections, seconds)
        row = Row(name, result, server.memory.peak_since(started) / 2**20, key=key)
        self.rows.append(row)
        progress(
            f"  {name}: {result.rate:,.0f} req/s, p99 {result.p99_ms:.1f} ms, {result.errors} errors {result.detail}"
        )
        return row

    def baseline(self, row: Row, scripts: list[str], pgbench_path: str) -> None:
        row.baseline = load.pgbench(pgbench_path, self.database_url, scripts, self.args.connections, self.args.seconds)
        progress(f"  pgbench, same statements: {row.baseline.rate:,.0f} tx/s")

    def peers(self, tokens: list[str]) -> None:
        """Scenario a's yardsticks (bench/peers.py), each in its own processes while the API idles:
        the same workers, connections, threads and seconds as a, a fresh client id a request, and as
        many database connections a worker as the API's pool (its processes read the same settings)."""
        pool_max = Settings.from_env(database_url=self.database_url, need_secret=False).db_pool_max
        for name, title in peers.PEERS.items():
            if why := peers.missing(name):
                self.rows.append(Row(title, None, key=name, missing=why))
                progress(f"  {title}: {why}")
                continue
            with peers.PeerServer(name, self.database_url, self.args.workers, pool_max) as server:
                self.drive(server, title, [(1, "POST", "/checkins")], tokens, key=name)


async def run(args: argparse.Namespace) -> list[Row]:
    _, pgbench_path = load.ensure_tools()
    async with scratch_database() as database_url:
        conn = await asyncpg.connect(database_url, command_timeout=3600)
        try:
            from db import migrate

            await migrate.upgrade(conn)
            progress(f"Seeding {args.graduates:,} graduates and {args.groups:,} groups:")
            program = await seed_program(conn, args.graduates, args.groups, progress)
            await counselor_second_factor(conn, program)
            await peers.create_table(conn)
            bench = Bench(args, database_url, program)
            graduates = await bench.graduate_tokens(conn)
            checkin_pgbench = await checkin_script(conn, bench.settings, program.graduates)
            listing_pgbench = await listing_scripts(conn, bench.settings, program.graduates)
            if args.show_scripts:
                print(checkin_pgbench, *listing_pgbench, sep="\n")
            progress(
                f"Serving the API ({args.workers} workers), {args.connections} connections, {args.seconds:.0f} s each:"
            )
            only = set(args.only)
            with ApiServer(database_url, bench.settings.secret_key, args.workers) as server:
                if "a" in only:
                    row = bench.drive(server, "a  POST /v1/checkins", [CHECKIN], graduates, key="a")
                    bench.baseline(row, [checkin_pgbench], pgbench_path)
                    bench.peers(graduates)
                if "b" in only:
                    row = bench.drive(
                        server, "b  GET /v1/groups (5 filters)", [(1, "GET", p) for p in GROUP_FILTERS], graduates
                    )
                    bench.baseline(row, listing_pgbench, pgbench_path)
                if "c" in only:
                    bench.drive(server, "c  GET /v1/checkins/due", [(1, "GET", "/v1/checkins/due")], graduates, key="c")
                if only & {"d", "f"}:
                    bench.staff(server)
                if "e" in only:
                    bench.drive(server, "e  mixed mobile traffic", MIXED, graduates, key="e")
            if not only & {"d", "f", "soak"}:
                return bench.rows
            if args.watchlist_graduates > program.graduates:
                progress(f"Adding graduates up to {args.watchlist_graduates:,}:")
                bench.program = await add_graduates(
                    conn, program, args.watchlist_graduates - program.graduates, progress
                )
            with ApiServer(database_url, bench.settings.secret_key, args.workers) as server:
                if args.watchlist_graduates > program.graduates:
                    bench.staff(server)
                if args.soak and "soak" in only:
                    soak(bench, server, graduates, args.soak)
            return bench.rows
        finally:
            await conn.close()


def soak(bench: Bench, server: ApiServer, tokens: list[str], seconds: float) -> None:
    """Mixed traffic for `seconds`; memory from the end of the first minute (warm) to the end."""
    progress(f"  soak: mixed traffic for {seconds:.0f} s...")
    started = time.monotonic()
    result = load.wrk(server.url, MIXED, tokens, bench.args.connections, seconds)
    samples = [(at - started, rss) for at, rss in server.memory.samples if at >= started]
    warm = [rss for at, rss in samples if at <= min(60, seconds / 5)]
    end = [rss for at, rss in samples if at >= seconds - 10]
    growth = (max(end) / max(warm) - 1) * 100 if warm and end else float("nan")
    row = Row(
        f"soak: e for {seconds / 60:.0f} min (memory {growth:+.1f}% after warm-up)",
        result,
        max(rss for _, rss in samples) / 2**20 if samples else None,
    )
    bench.rows.append(row)
    progress(f"  {row.scenario}")


def table(rows: list[Row]) -> str:
    head = (
        "| scenario | req/s | p50 ms | p95 ms | p99 ms | errors | server peak MB | pgbench tx/s | ratio |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    lines = []
    for row in rows:
        r, b = row.result, row.baseline
        if r is None:
            lines.append(f"| {row.scenario} | {row.missing} | | | | | | | |")
            continue
        ratio = f"{r.rate / b.rate:.0%}" if b else ""
        errors = f"{r.errors}" + (f" ({r.detail})" if r.detail else "")
        lines.append(
            f"| {row.scenario} | {r.rate:,.0f} | {r.p50_ms:.1f} | {r.p95_ms:.1f} | {r.p99_ms:.1f} | {errors} | "
            f"{row.peak_mb:.0f} | {f'{b.rate:,.0f}' if b else ''} | {ratio} |"
        )
    summary = against_peers(rows)
    return head + "\n".join(lines) + "\n" + (f"\n{summary}\n" if summary else "")


def against_peers(rows: list[Row]) -> str:
    """a's rate as a share of the bare peer's and a multiple of the ORM peer's; c's and e's as
    shares of the bare peer's (reads against its insert: a rough ceiling of this stack here)."""
    rates = {row.key: row.result.rate for row in rows if row.key and row.result and row.result.rate}
    bare, orm = rates.get("bare"), rates.get("orm")
    if not bare and not orm:
        return ""
    parts = []
    if "a" in rates:
        versus = [f"{rates['a'] / bare:.0%} of the bare peer's rate" if bare else "the bare peer did not run"]
        versus.append(f"{rates['a'] / orm:.2f}× the ORM peer's" if orm else "the ORM peer did not run")
        parts.append("a runs at " + " and ".join(versus))
    parts += [f"{key} at {rates[key] / bare:.0%} of the bare peer's" for key in ("c", "e") if key in rates and bare]
    return "Against the peers: " + "; ".join(parts) + "." if parts else ""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.http", description=__doc__.split("\n\n")[0])
    p.add_argument("--graduates", type=int, default=5000, help="graduates for scenarios a-f (default 5000)")
    p.add_argument("--watchlist-graduates", type=int, default=50000, help="graduates for the second runs of d and f")
    p.add_argument("--groups", type=int, default=10000, help="groups (default 10000)")
    p.add_argument("--seconds", type=float, default=20, help="measured seconds per scenario (default 20)")
    p.add_argument("--connections", type=int, default=32, help="open HTTP connections (default 32)")
    p.add_argument("--watchlist-connections", type=int, default=4, help="counselors at once in d and f (default 4)")
    p.add_argument("--workers", type=int, default=2, help="API worker processes (default 2, one per core)")
    p.add_argument("--soak", type=float, default=300, help="seconds of the memory soak; 0 skips it (default 300)")
    p.add_argument(
        "--only",
        type=lambda text: text.split(","),
        default=list(SCENARIOS),
        help="the scenarios to run, comma-separated, e.g. a,d (default: all of a,b,c,d,e,f,soak); the peers run with a",
    )
    p.add_argument("--show-scripts", action="store_true", help="print the pgbench scripts")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        rows = asyncio.run(run(args))
    except load.ToolMissing as missing:
        print(f"error: {missing}", file=sys.stderr)
        return 2
    print("\n" + table(rows))
    ran = [r.result for r in rows if r.result]
    errors = sum(r.errors for r in ran)
    print(f"{len(ran)} runs, {sum(r.requests for r in ran):,} requests, {errors} errors.")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
