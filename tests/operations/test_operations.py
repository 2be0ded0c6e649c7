"""Health, the OpenAPI document, logs, and the Redis rate-limit store."""

import asyncio
import contextlib
import io
import json
import logging
import os
import socket
import time

import asyncpg
import httpx
import pytest
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.logs import JsonFormatter, logging_config, uvicorn_log_config, worker_log_config
from api.rate_store import PAUSE_AFTER_FAILURE_S
from api.settings import Settings
from tests.config import make_settings
from tests.discussions.steps import two_members
from tests.helpers import assert_problem
from tests.live_server import LiveServer
from tests.operations.tcp_proxy import TcpProxy
from tests.summary import report

# Every operation a caller may use without a bearer token. A new one must be added here.
PUBLIC = {
    "/health/live",
    "/health/ready",
    "/v1/auth/activate",
    "/v1/auth/login",
    "/v1/auth/setup",
    "/v1/auth/mfa",
    "/v1/auth/refresh",
    "/v1/auth/logout",
    "/v1/auth/firebase",
    "/v1/public/meeting-guide.json",
    "/v1/public/groups/{group_id}/calendar.ics",
    "/v1/calendar/{feed}",  # the secret URL is the key
    "/v1/crisis-resources",
    "/v1/timezones",
}


async def test_every_operation_is_tagged_described_and_secured(client):
    schema = (await client.get("/schema/openapi.json")).json()
    assert schema["security"] == [{"BearerToken": []}]
    operations = [(path, op) for path, ops in schema["paths"].items() for op in ops.values()]
    assert len(operations) >= 20
    for path, op in operations:
        assert op.get("tags"), path
        assert op.get("summary"), path
        if path in PUBLIC:
            assert op["security"] == [{}], path
        else:
            assert "security" not in op, path  # inherits the bearer requirement
    anonymous = {path for path, op in operations if op.get("security") == [{}]}
    assert anonymous == PUBLIC


async def test_ready_answers_503_when_the_database_goes_away(server_url):
    from tests.config import create_database, drop_database

    url = await create_database(server_url)
    async with AsyncTestClient(app=create_app(make_settings(url))) as client:
        await drop_database(server_url, url)  # also ends the pool's connections
        assert_problem(await client.get("/health/ready"), 503, "not_ready")


def test_log_lines_are_json_and_carry_extras():
    record = logging.LogRecord("aftercare.x", logging.INFO, __file__, 1, "enrolled %s", ("id-1",), None)
    record.participant_id = "id-1"
    line = json.loads(JsonFormatter().format(record))
    assert line["event"] == "enrolled id-1" and line["participant_id"] == "id-1" and line["level"] == "info"


TOKEN = "s3cretTOKEN" + "-only-at-run-time"


@pytest.mark.parametrize(
    ("message", "args", "extra"),
    [
        ("database unavailable: %s on %s %s", ("TimeoutError", "GET", f"/v1/calendar/{TOKEN}.ics"), {}),
        (f"unhandled RuntimeError on GET /v1/calendar/{TOKEN}.ics\n  File x", (), {}),
        ('%s - "%s %s HTTP/%s" %d', ("127.0.0.1:5", "GET", f"/v1/calendar/{TOKEN}.ics?x=1", "1.1", 200), {}),
        ("request", (), {"path": f"/v1/calendar/{TOKEN}.ics"}),
        ("request", (), {"url": f"https://h.example/v1/x?access_token={TOKEN}&a=1"}),
        ("callback %s", (f"/v1/y?code={TOKEN}",), {}),
        # uvicorn's line for a live socket opened with a ticket, as a browser opens one.
        ('%s - "WebSocket %s" [accepted]', ("127.0.0.1:5", f"/v1/groups/g/live?ticket={TOKEN}"), {}),
    ],
)
def test_a_secret_in_any_part_of_a_log_line_is_redacted(message, args, extra):
    record = logging.LogRecord("aftercare.x", logging.ERROR, __file__, 1, message, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    line = JsonFormatter().format(record)
    assert TOKEN not in line and "[redacted]" in line, line
    json.loads(line)  # still one JSON object


def _config_dict(config) -> dict:
    if isinstance(config, dict):
        return config
    return {name: getattr(config, name) for name in ("formatters", "handlers", "loggers", "root")}


@pytest.mark.parametrize(
    "config", [logging_config(), uvicorn_log_config(), worker_log_config()], ids=["app", "uvicorn", "worker"]
)
def test_every_log_handler_the_app_uvicorn_and_the_worker_install_redacts(config):
    """The class of the calendar-token leak: a handler with another formatter (or none) would
    write lines that the redaction never sees."""
    config = _config_dict(config)
    for name, handler in config["handlers"].items():
        formatter = config["formatters"][handler.get("formatter")]
        assert formatter.get("()") is JsonFormatter, name
        assert not handler.get("filters"), name  # one rule, in the formatter
    loggers = [*config["loggers"].values(), config.get("root") or {}]
    assert all(set(logger.get("handlers", [])) <= set(config["handlers"]) for logger in loggers)


async def test_every_handler_a_running_app_writes_to_redacts(client):
    for name in ("", "aftercare.errors", "litestar", "asyncpg", "httpx", "api.anything"):
        logger, handlers = logging.getLogger(name), []
        while logger is not None:
            handlers += [h for h in logger.handlers if not type(h).__module__.startswith("_pytest")]
            logger = logger.parent if logger.propagate else None
        assert handlers and all(isinstance(h.formatter, JsonFormatter) for h in handlers), (name, handlers)


@contextlib.contextmanager
def app_log_output():
    """What the running app's handlers write, as text."""
    buffer = io.StringIO()
    handlers = [h for h in logging.root.handlers if isinstance(h.formatter, JsonFormatter)]
    assert handlers, "the app installs its handler at start-up"
    previous = [h.setStream(buffer) for h in handlers]
    try:
        yield buffer
    finally:
        for handler, stream in zip(handlers, previous, strict=True):
            if stream is not None:
                handler.setStream(stream)


@pytest.mark.parametrize(
    ("failure", "status"), [(TimeoutError, 503), (asyncpg.PostgresConnectionError, 503), (RuntimeError, 500)]
)
async def test_a_server_error_on_the_secret_calendar_url_logs_no_token(client, graduate, monkeypatch, failure, status):
    from db import sessions

    url = (await client.post("/v1/me/calendar-feed", headers=graduate.headers)).json()["url"]
    path = "/" + url.split("/", 3)[3]
    token = path.removeprefix("/v1/calendar/").removesuffix(".ics")

    async def database_fails(*args, **kwargs):
        raise failure("the database is gone")

    monkeypatch.setattr(sessions, "calendar_feed_owner", database_fails)
    with app_log_output() as output:
        assert_problem(await client.get(path), status)
    assert "/v1/calendar/[redacted]" in output.getvalue()  # the failure was logged, with its path
    assert token not in output.getvalue()


async def test_unexpected_errors_are_a_500_problem_without_details(client, staff, monkeypatch, caplog):
    from db import people

    secret = "secret participant " + "detail"  # only at run time, as personal data would be

    async def explode(*args, **kwargs):
        raise RuntimeError(secret)

    monkeypatch.setattr(people, "list_participants", explode)
    response = await client.get("/v1/staff/participants", headers=staff.headers)
    assert_problem(response, 500, "internal_error")
    assert "secret" not in response.text and "Traceback" not in response.text
    assert "RuntimeError" in caplog.text and "secret participant detail" not in caplog.text


REDIS_DB_URL = "redis://127.0.0.1:6379/14"  # the Redis database these tests may empty
LOGIN = {"email": "a@b.c", "password": "x"}


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.fixture
def redis_db():
    """Redis database 14, emptied before and after; the test is skipped without Redis."""
    if not _redis_up():
        if os.environ.get("CI"):
            pytest.fail("CI must have Redis at 127.0.0.1:6379 (.ci/run starts it)")
        pytest.skip("no Redis at 127.0.0.1:6379: start one to run this test")
    import redis

    client = redis.Redis.from_url(REDIS_DB_URL)
    client.flushdb()
    yield REDIS_DB_URL
    client.flushdb()
    client.close()


async def test_rate_limits_shared_through_redis(database_url, conn, redis_db):
    settings = make_settings(database_url, auth_rate_limit_per_minute=2, redis_url=redis_db)
    # Two app instances stand for two API replicas: the second sees the first one's count.
    first, second = create_app(settings), create_app(settings)
    async with AsyncTestClient(app=first) as a, AsyncTestClient(app=second) as b:
        assert (await a.post("/v1/auth/login", json=LOGIN)).status_code == 401
        assert (await b.post("/v1/auth/login", json=LOGIN)).status_code == 401
        assert_problem(await a.post("/v1/auth/login", json=LOGIN), 429)
        assert_problem(await b.post("/v1/auth/login", json=LOGIN), 429)


async def test_sign_in_fails_closed_when_redis_is_down(database_url, conn):
    # Nothing listens on port 1: the limiter cannot count, so sign-in is refused, clearly.
    settings = make_settings(database_url, redis_url="redis://127.0.0.1:1/0")
    async with AsyncTestClient(app=create_app(settings)) as client:
        response = await client.post("/v1/auth/login", json=LOGIN)
        assert_problem(response, 503, "rate_limiter_unavailable")
        assert (await client.get("/health/live")).status_code == 200


async def _timed_login(client) -> tuple[int, float]:
    started = time.monotonic()
    response = await client.post("/v1/auth/login", json=LOGIN)
    if response.status_code == 503:
        assert_problem(response, 503, "rate_limiter_unavailable")
    return response.status_code, time.monotonic() - started


async def test_sign_in_fails_fast_when_redis_hangs_and_comes_back_by_itself(database_url, conn, redis_db):
    """A Redis that accepts connections but never answers, or answers too late, must not hold
    sign-in: a 503 within about the Redis timeout (0.5 s by default), then normal service
    again once Redis answers, with nothing restarted."""
    timeout_s = Settings.redis_timeout_ms / 1000
    with TcpProxy(6379) as proxy:
        settings = make_settings(database_url, redis_url=f"redis://127.0.0.1:{proxy.port}/14")
        async with AsyncTestClient(app=create_app(settings)) as client:
            seen = {}
            for label, mode, delay_s, expected in [
                ("healthy", "pass", 0, 401),
                ("dead (never answers)", "blackhole", 0, 503),
                ("slow, 2 s a reply", "delay", 2.0, 503),
                ("slow, 0.1 s a reply", "delay", 0.1, 401),
                ("back to normal", "pass", 0, 401),
            ]:
                proxy.set(mode, delay_s)
                await asyncio.sleep(PAUSE_AFTER_FAILURE_S)  # past the pause an earlier failure began
                status, took = await _timed_login(client)
                seen[label] = (status, round(took, 2))
                assert status == expected, (label, status)
                assert took < timeout_s + 1.0, (label, took)
    report(f"sign-in through a Redis that is ... (status, seconds): {seen}")


async def test_reactions_pause_with_their_own_words_while_redis_is_slow(database_url, conn, redis_db):
    """The reaction limit shares the sign-in limit's store, and fails closed as it does; its
    503 speaks of reactions, not of sign-in, and the next one after Redis answers is a 200.
    (A slow Redis, not a byte-dropping one: data lost mid-stream would leave the live events'
    pub/sub connection waiting, and the app's shutdown with it.)"""
    with TcpProxy(6379) as proxy:
        settings = make_settings(database_url, redis_url=f"redis://127.0.0.1:{proxy.port}/14")
        async with AsyncTestClient(app=create_app(settings)) as client:
            _, group_id, ana, ben = await two_members(client, conn)
            posted = await client.post(f"/v1/groups/{group_id}/posts", json={"body": "Week one"}, headers=ana.headers)
            url = f"/v1/posts/{posted.json()['id']}/reaction"
            proxy.set("delay", 2.0)
            paused = await client.put(url, json={"kind": "support"}, headers=ben.headers)
            proxy.set("pass")
            body = assert_problem(paused, 503, "rate_limiter_unavailable")
            assert "Reactions are paused" in body["detail"] and int(paused.headers["Retry-After"]) > 0
            await asyncio.sleep(PAUSE_AFTER_FAILURE_S)
            answer = await client.put(url, json={"kind": "support"}, headers=ben.headers)
            assert answer.status_code == 200 and answer.json()["reactions"] == {"support": 1}, answer.text


async def test_many_sign_ins_fail_fast_together_when_redis_hangs(database_url, conn, redis_db):
    """Litestar's rate limiter holds one lock across its Redis calls, so requests queue behind
    one that waits on Redis; without the pause after a failure the tenth of ten would wait
    ten timeouts. Needs a real server: requests in flight at the same time."""
    with TcpProxy(6379) as proxy:
        settings = make_settings(database_url, redis_url=f"redis://127.0.0.1:{proxy.port}/14")
        with LiveServer(settings) as server:
            proxy.set("blackhole")
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                answers = await asyncio.gather(*[_timed_login(http) for _ in range(10)])
    report(f"ten sign-ins at once through a dead Redis (status, seconds): {[(s, round(t, 2)) for s, t in answers]}")
    assert {status for status, _ in answers} == {503}
    assert max(took for _, took in answers) < Settings.redis_timeout_ms / 1000 + 1.0
