"""Faults (issue 8, item 3), the database's: what the system promises when PostgreSQL
misbehaves (the push faults are in tests/attack/test_faults_push.py).

a) PostgreSQL restarts while graduates post check-ins: the API answers 503 problem+json
   meanwhile (never another 5xx, never a hang), comes back by itself within seconds, and
   every check-in acknowledged is stored exactly once.
a') PostgreSQL takes connections and never answers: a 503 within the pool's timeouts, not
   a hang.

Each test runs its own PostgreSQL (the shared server must never be stopped) and prints what
it measured (run with -s to see it)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import pytest

from api.auth.credentials import Hasher
from db import migrate
from tests import helpers
from tests.config import make_settings
from tests.live_server import LiveServer, free_port
from tests.summary import report

# --- a) PostgreSQL restarted while check-ins are posted ------------------------------------


def _postgres_bin() -> Path:
    """The machine's PostgreSQL binaries, else those the `pgserver` wheel ships."""
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "pg_ctl").exists():
            return candidate
    import pgserver

    return Path(pgserver.__file__).parent / "pginstall" / "bin"


class OwnPostgres:
    """A PostgreSQL of this test's own, on a free port: the shared server at 5432 serves
    other people's tests and must never be stopped. initdb refuses to run as root, so as
    root the server runs as the `postgres` system user."""

    def __init__(self) -> None:
        self.bin = _postgres_bin()
        self.folder = Path(tempfile.mkdtemp(prefix="aftercare-fault-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            shutil.chown(self.folder, self.user)
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        # Output to a file, not a pipe: the server started by pg_ctl would hold a pipe open.
        with open(self.folder / f"{tool}.out", "ab") as out:
            subprocess.run(
                [str(self.bin / tool), *args], check=True, stdout=out, stderr=out, user=self.user, timeout=60
            )

    def init(self) -> OwnPostgres:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-sync")
        return self

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c fsync=off"
        log = str(self.folder / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-l", log, "-w", "-t", "30", "-o", options, "start")

    def stop(self) -> None:
        """A fast shutdown: open sessions are ended, as in a restart for an upgrade."""
        self._run("pg_ctl", "-D", str(self.data), "-w", "-t", "30", "-m", "fast", "stop")

    def remove(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass  # not running
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    server = OwnPostgres().init()
    server.start()
    try:
        yield server
    finally:
        server.remove()


CLIENTS = 8
CLIENT_TIMEOUT_S = 10.0
RETRY_PAUSE_S = 0.1  # a client's pause after a 503 (a phone would honour Retry-After)
DOWN_S = 2.0  # how long the server stays stopped
RECOVERY_S = 5.0  # "recovers on its own within seconds": server accepting -> first 2xx
SILENT_DATABASE_S = 6.5  # the pool's 5 s to connect or to hand out a connection, and some slack


@dataclass
class Answer:
    at: float  # time.monotonic() when it arrived
    status: int
    content_type: str
    seconds: float  # how long the request took


@dataclass
class Tally:
    answers: list[Answer] = field(default_factory=list)
    acknowledged: dict[str, int] = field(default_factory=dict)  # client id -> 2xx status
    posted: list[str] = field(default_factory=list)  # every client id tried
    failures: list[str] = field(default_factory=list)  # hangs, dropped connections


async def _post_until_stored(http: httpx.AsyncClient, headers: dict, stop: asyncio.Event, tally: Tally) -> None:
    """What the app does: a check-in carries an id chosen on the phone and is sent again,
    unchanged, until the API acknowledges it; then the next one."""
    deadline = time.monotonic() + 60
    while not stop.is_set() and time.monotonic() < deadline:
        body = helpers.checkin_body()
        tally.posted.append(body["client_id"])
        await _send_until_acknowledged(http, headers, body, deadline, tally)


async def _send_until_acknowledged(
    http: httpx.AsyncClient, headers: dict, body: dict, deadline: float, tally: Tally
) -> None:
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            response = await http.post("/v1/checkins", json=body, headers=headers)
        except httpx.TimeoutException:
            tally.failures.append(f"no answer within {CLIENT_TIMEOUT_S} s")
            continue
        except httpx.TransportError as exc:
            tally.failures.append(f"connection: {type(exc).__name__}")
            await asyncio.sleep(RETRY_PAUSE_S)
            continue
        now = time.monotonic()
        tally.answers.append(Answer(now, response.status_code, response.headers.get("content-type", ""), now - started))
        if response.is_success:
            tally.acknowledged[body["client_id"]] = response.status_code
            return
        await asyncio.sleep(RETRY_PAUSE_S)


async def _first_success_after(tally: Tally, since: float, within_s: float) -> float | None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        after = [a.at for a in tally.answers if a.at >= since and 200 <= a.status < 300]
        if after:
            return min(after)
        await asyncio.sleep(0.02)
    return None


async def _accepting(url: str, within_s: float = 30) -> float:
    """The moment the server takes connections again (pg_ctl's own wait polls more slowly)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            probe = await asyncpg.connect(url, timeout=1)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            await asyncio.sleep(0.02)
            continue
        await probe.close()
        return time.monotonic()
    raise AssertionError(f"the server did not come back within {within_s} s")


async def _restart(server: OwnPostgres) -> tuple[float, float, float]:
    """Stop the server (fast: sessions ended), keep it down, start it: when it went down,
    when the start was asked for, and when it took connections again."""
    down_at = time.monotonic()
    await asyncio.to_thread(server.stop)
    await asyncio.sleep(DOWN_S)
    start_at = time.monotonic()
    starting = asyncio.create_task(asyncio.to_thread(server.start))
    up_at = await _accepting(server.url)
    await starting
    return down_at, start_at, up_at


async def _stored_client_ids(url: str) -> Counter[str]:
    conn = await asyncpg.connect(url)
    try:
        return Counter(r["client_id"] for r in await conn.fetch("select client_id::text from checkins"))
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def _api_with_a_graduate(server: OwnPostgres) -> AsyncIterator[tuple[httpx.AsyncClient, helpers.Actor]]:
    """The real API served by uvicorn over the server's (migrated) database, a client for
    it, and a signed-in graduate."""
    conn = await asyncpg.connect(server.url)
    try:
        await migrate.upgrade(conn)
        with LiveServer(make_settings(server.url)) as api:
            async with httpx.AsyncClient(base_url=api.url, timeout=CLIENT_TIMEOUT_S) as http:
                staff = await helpers.account(http, conn, Hasher("cheapest"), ["staff"])
                yield http, await helpers.graduate(http, staff)
    finally:
        conn.terminate()  # the fault may have ended it already


async def test_a_postgres_restart_costs_503s_and_no_check_in(own_postgres: OwnPostgres):
    async with _api_with_a_graduate(own_postgres) as (http, graduate):
        tally, stop = Tally(), asyncio.Event()
        clients = [asyncio.create_task(_post_until_stored(http, graduate.headers, stop, tally)) for _ in range(CLIENTS)]
        await asyncio.sleep(1.0)  # steady state first
        down_at, start_at, up_at = await _restart(own_postgres)
        recovered_at = await _first_success_after(tally, start_at, within_s=30)
        await asyncio.sleep(1.0)  # and steady again
        stop.set()
        await asyncio.wait_for(asyncio.gather(*clients), timeout=90)
    stored = await _stored_client_ids(own_postgres.url)

    unavailable = [a for a in tally.answers if a.status == 503]
    other_errors = [a for a in tally.answers if a.status >= 400 and a.status != 503]
    lost = [i for i in tally.acknowledged if stored[i] == 0]
    duplicated = [i for i, n in stored.items() if n > 1]
    never_acknowledged = [i for i in tally.posted if i not in tally.acknowledged]
    recovery = max(0.0, recovered_at - up_at) if recovered_at else float("nan")
    report(
        f"[fault a] outage {up_at - down_at:.2f} s (stop, {DOWN_S:.0f} s down, start); recovery {recovery:.2f} s "
        f"from the server taking connections to the first 2xx; {len(unavailable)} answers 503 "
        f"(the last at {max((a.at for a in unavailable), default=float('nan')) - up_at:+.2f} s from it taking connections); posted {len(tally.posted)}, "
        f"acknowledged {len(tally.acknowledged)} ({sum(1 for s in tally.acknowledged.values() if s == 200)} "
        f"as a repeat), stored {sum(stored.values())}, lost {len(lost)}, duplicated {len(duplicated)}; "
        f"slowest answer {max((a.seconds for a in tally.answers), default=float('nan')):.2f} s"
    )
    assert not tally.failures, Counter(tally.failures)  # no hang, no dropped connection
    assert not other_errors, Counter((a.status, a.content_type) for a in other_errors)
    assert unavailable, "the restart was not noticed: no 503 at all"
    assert all(a.content_type.startswith("application/problem+json") for a in unavailable)
    assert recovered_at is not None, "no check-in was acknowledged after the server came back"
    assert recovery < RECOVERY_S, f"recovered {recovery:.2f} s after the server took connections again"
    assert not never_acknowledged
    assert not lost and not duplicated
    assert set(stored) == set(tally.acknowledged)


async def test_a_database_that_never_answers_is_a_503_not_a_hang(own_postgres: OwnPostgres):
    """A server that takes the TCP connection and then says nothing (stalled, or a dead
    proxy in between): asyncpg would wait 60 s for it; the pool gives up after its connect
    timeout (5 s, as for acquiring a connection), well within a phone's patience."""
    async with _api_with_a_graduate(own_postgres) as (http, graduate):
        await asyncio.to_thread(own_postgres.stop)  # the pool's connections end with it
        with socket.create_server(("127.0.0.1", own_postgres.port), backlog=64):  # accepts, never speaks
            started = time.monotonic()
            response = await http.post("/v1/checkins", json=helpers.checkin_body(), headers=graduate.headers)
            seconds = time.monotonic() - started
    report(f"[fault a'] a database that accepts and never answers: {response.status_code} after {seconds:.2f} s")
    helpers.assert_problem(response, 503, "database_unavailable")
    assert seconds < SILENT_DATABASE_S
