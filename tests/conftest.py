"""Test fixtures: a fresh, migrated PostgreSQL database per test session (DATABASE_URL's
server when set, else an embedded one), emptied between tests; the real app on top of it."""

from __future__ import annotations

import os
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
import time_machine
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.auth.credentials import Hasher
from api.settings import Settings
from api.worker import PUSH_TRANSPORTS
from db import migrate
from notifications.sender import Sender
from tests import clock, helpers
from tests.config import create_database, drop_database, make_settings
from tests.fake_fcm import FakeFcm
from tests.live_server import LiveServer
from tests.summary import ARTIFACTS


def pytest_terminal_summary(terminalreporter) -> None:
    for line in ARTIFACTS:
        terminalreporter.write_line(line)


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers",
        "clock_instants(*names): run the test once at each fixed instant of tests/clock.py (or at the named"
        " ones), the clock frozen there",
    )


def pytest_generate_tests(metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("clock_instants")
    if marker is not None:
        instants = clock.chosen(marker.args)
        metafunc.parametrize("clock_instant", instants, ids=[i.name for i in instants], indirect=True)


@pytest.fixture(autouse=True)
def clock_instant(request) -> Iterator[clock.Instant | None]:
    """For a test marked `clock_instants`: the instant it runs at, the clock frozen there
    (tests/clock.py says why frozen). Autouse and function-scoped, it is set up before any
    other function-scoped fixture, so those read the frozen clock too; session fixtures are
    set up before it, at real time. None for a test not marked."""
    instant = getattr(request, "param", None)
    if instant is None:
        yield None
        return
    with time_machine.travel(instant.at, tick=False):
        yield instant


_LOCAL = ("localhost", "127.0.0.1", "::1", "testserver", "testclient", None)


@pytest.fixture(scope="session", autouse=True)
def no_internet():
    """Any lookup of a non-local host fails the test: nothing may reach Google by accident."""
    real = socket.getaddrinfo

    def guarded(host, *args, **kwargs):
        if isinstance(host, bytes):  # how asyncio asks for a local address to bind to
            host = host.decode()
        if host not in _LOCAL and not str(host).startswith(("127.", "/")):
            raise AssertionError(f"test tried to reach {host!r}: only local hosts are allowed")
        return real(host, *args, **kwargs)

    socket.getaddrinfo = guarded
    yield
    socket.getaddrinfo = real


@pytest.fixture(scope="session")
async def server_url() -> AsyncIterator[str]:
    """A server where the tests may create databases."""
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    from db.embedded import EmbeddedPostgres

    with tempfile.TemporaryDirectory(prefix="aftercare-pg-") as folder:
        server = EmbeddedPostgres(Path(folder) / "pgdata", delete_on_exit=True)
        try:
            yield server.url
        finally:
            server.stop()  # before the folder goes, or the server outlives the tests


@pytest.fixture(scope="session")
async def database_url(server_url: str) -> AsyncIterator[str]:
    """A fresh database for this test session, migrated once."""
    url = await create_database(server_url)
    conn = await asyncpg.connect(url)
    try:
        await migrate.upgrade(conn)
    finally:
        await conn.close()
    yield url
    await drop_database(server_url, url)


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection for arranging and checking data. Tables are emptied afterwards."""
    connection = await asyncpg.connect(database_url)
    try:
        yield connection
    finally:
        await helpers.empty_database(connection)
        await connection.close()


@pytest.fixture
def settings(database_url: str, request) -> Settings:
    """A test that needs other values (the API's, behind `client` and `api_url`) names them:
    `@pytest.mark.parametrize("settings", [{"require_mfa": ...}], indirect=True)`."""
    return make_settings(database_url, **getattr(request, "param", {}))


def _watch_hashing(app) -> list[str]:
    """Record every argon2 run that starts while a pooled connection is held: a request
    waiting on its hash must not hold one (a burst of sign-ins would starve the pool). One
    request at a time here, so any connection held is the hashing request's own."""
    pool, hasher = app.state.pool, app.state.runtime.hasher
    run, held_while_hashing = hasher._run, []

    async def watched(fn, *args):
        if (held := pool.get_size() - pool.get_idle_size()) > 0:
            held_while_hashing.append(f"{fn.__name__} with {held} connection(s) held")
        return await run(fn, *args)

    hasher._run = watched
    return held_while_hashing


@pytest.fixture
async def client(settings: Settings, conn: asyncpg.Connection) -> AsyncIterator[AsyncTestClient]:
    """The app, one request at a time. Any test whose request hashes a password or code while
    holding a database connection fails (`_watch_hashing`)."""
    async with AsyncTestClient(app=create_app(settings)) as test_client:
        held_while_hashing = _watch_hashing(test_client.app)
        yield test_client
    assert not held_while_hashing, f"argon2 ran while a database connection was held: {held_while_hashing}"


@pytest.fixture
def hasher() -> Hasher:
    return Hasher("cheapest")


@pytest.fixture
async def staff(client, conn, hasher) -> helpers.Actor:
    return await helpers.account(client, conn, hasher, ["staff"])


@pytest.fixture
async def admin(client, conn, hasher) -> helpers.Actor:
    return await helpers.account(client, conn, hasher, ["admin", "staff"])


@pytest.fixture
async def graduate(client, staff) -> helpers.Actor:
    return await helpers.graduate(client, staff)


@pytest.fixture(scope="session")
def fcm_server() -> Iterator[FakeFcm]:
    """The fake Google endpoints, and firebase-admin's send URL pointed at them."""
    from firebase_admin import messaging

    server = FakeFcm().start()
    real_url = messaging._MessagingService.FCM_URL
    messaging._MessagingService.FCM_URL = server.fcm_url
    yield server
    messaging._MessagingService.FCM_URL = real_url
    server.stop()


@pytest.fixture
def fcm(fcm_server: FakeFcm) -> FakeFcm:
    """The fake, with nothing delivered or scripted from earlier tests."""
    fcm_server.reset()
    return fcm_server


@pytest.fixture(scope="session")
def service_account(fcm_server: FakeFcm, tmp_path_factory) -> Path:
    return fcm_server.service_account(tmp_path_factory.mktemp("firebase"))


@pytest.fixture(params=sorted(PUSH_TRANSPORTS))
async def sender(request, fcm: FakeFcm, service_account: Path) -> AsyncIterator[Sender]:
    """A real sender talking to the fake, once per push transport (the lean one and
    firebase-admin's own; a fresh app per test, closed on the loop it ran on)."""
    push_sender = PUSH_TRANSPORTS[request.param](str(service_account))
    yield push_sender
    await push_sender.close()


@pytest.fixture
def api_url(settings: Settings, conn: asyncpg.Connection) -> Iterator[str]:
    """The real API served by uvicorn (in a thread) over the test database: what the
    dashboard and the browser talk to."""
    with LiveServer(settings) as server:
        yield server.url


@pytest.fixture
async def live(database_url, conn):
    """The real API served by uvicorn, and an HTTP client to it: for requests truly in flight
    at once (tests/attack/test_races.py, and the races of each domain)."""
    # Every request admitted to the hashing queue, so that all of them race (a full queue
    # would turn some away with 503 before they reach the database: tests/auth/test_hashing.py).
    with LiveServer(make_settings(database_url, hash_queue=100)) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            yield http


@pytest.fixture
def dashboard(api_url: str, monkeypatch):
    """Make a Streamlit AppTest of the dashboard pointed at the live API."""
    from types import SimpleNamespace

    from streamlit.testing.v1 import AppTest, local_script_runner

    monkeypatch.setenv("AFTERCARE_API_URL", api_url)
    # AppTest times a script run out by time.time(), which stands still under a frozen clock
    # (tests/clock.py): monotonic seconds time it out instead, as a hung run must fail.
    monkeypatch.setattr(local_script_runner, "time", SimpleNamespace(time=time.monotonic, sleep=time.sleep))

    def make() -> AppTest:
        return AppTest.from_file(str(Path(__file__).parent.parent / "admin_dashboard" / "app.py"), default_timeout=30)

    return make
