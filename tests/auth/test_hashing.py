"""argon2 under attack: what a burst of sign-ins costs everyone else, and what the time an
answer takes tells about codes and accounts. These tests run the production profile
("default"), not the tests' cheap one: with a hash of microseconds, neither the pool
starving behind it nor a timing oracle would show. The numbers are reported at the end of
the run."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from contextlib import AsyncExitStack

import httpx
import pytest
from litestar.plugins.problem_details import ProblemDetailsException
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.auth.credentials import CODE_ALPHABET, Hasher
from api.settings import Settings
from db import people as people_db
from tests import helpers
from tests.config import make_settings
from tests.helpers import LOGIN, PASSWORD, login_body
from tests.live_server import LiveServer
from tests.summary import report

ACTIVATE = "/v1/auth/activate"
SETUP = "/v1/auth/setup"


async def test_a_full_hashing_queue_turns_the_next_request_away_at_once():
    hasher = Hasher("cheapest", parallel=1, queue=1)
    async with AsyncExitStack() as held:
        await held.enter_async_context(hasher.turn())  # hashing
        await held.enter_async_context(hasher.turn())  # waiting
        with pytest.raises(ProblemDetailsException) as busy:
            await hasher.verify(None, "a guess")
        assert busy.value.status_code == 503 and busy.value.extra["code"] == "busy"
        assert int(busy.value.headers["Retry-After"]) > 0
    assert await hasher.verify(await hasher.hash("secret"), "secret")  # free again


# --- A burst of sign-ins while a graduate uses the app -----------------------------------

# 8 clients, each its own rate-limit bucket (Linux answers on all of 127.0.0.0/8); 127.0.0.1
# is the graduate's and staff's.
ADDRESSES = [f"127.0.0.{n}" for n in range(2, 10)]
RIGHT = 4  # the first four sign in with their password, the others guess


async def _accounts(conn, count: int) -> list[str]:
    password_hash = await Hasher("default").hash(PASSWORD)  # what production stores
    emails = [f"burst-{i}-{uuid.uuid4().hex[:6]}@example.org" for i in range(count)]
    for email in emails:
        await people_db.insert_account(
            conn, email=email, password_hash=password_hash, name="S", roles=["staff"], timezone="UTC"
        )
    return emails


async def _timed(http: httpx.AsyncClient, method: str, url: str, **kwargs) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    answer = await http.request(method, url, **kwargs)
    return answer, time.perf_counter() - started


async def test_a_burst_of_sign_ins_leaves_the_rest_of_the_api_fast(database_url, conn):
    limit = Settings.auth_rate_limit_per_minute  # the real limit, and each address keeps within it
    settings = make_settings(database_url, password_profile="default", auth_rate_limit_per_minute=limit)
    assert (settings.hash_concurrency, settings.hash_queue) == (Settings.hash_concurrency, Settings.hash_queue)
    emails = await _accounts(conn, len(ADDRESSES))
    with LiveServer(settings) as server:
        async with AsyncExitStack() as stack:
            http = await stack.enter_async_context(httpx.AsyncClient(base_url=server.url, timeout=30))
            staff = await helpers.account(http, conn, Hasher("cheapest"), ["staff"])
            graduate = await helpers.graduate(http, staff)
            clients = [
                await stack.enter_async_context(
                    httpx.AsyncClient(
                        base_url=server.url, timeout=30, transport=httpx.AsyncHTTPTransport(local_address=address)
                    )
                )
                for address in ADDRESSES
            ]
            # Each client signs in `limit` times at once to its own account, all interleaved.
            sign_ins = [
                (i, _timed(client, "POST", LOGIN, json=login_body(email, PASSWORD if i < RIGHT else "wrong")))
                for _ in range(limit)
                for i, (client, email) in enumerate(zip(clients, emails, strict=True))
            ]
            burst_done = asyncio.Event()
            graduate_answers: list[tuple[int, float]] = []

            async def use_the_app() -> None:
                while not burst_done.is_set():
                    answer, took = await _timed(http, "GET", "/v1/me", headers=graduate.headers)
                    graduate_answers.append((answer.status_code, took))
                    await asyncio.sleep(0.02)

            async def burst() -> list[tuple[httpx.Response, float]]:
                try:
                    return await asyncio.gather(*[request for _, request in sign_ins])
                finally:
                    burst_done.set()

            started = time.perf_counter()
            answers, _ = await asyncio.gather(burst(), use_the_app())
            burst_s = time.perf_counter() - started

    statuses = [answer.status_code for answer, _ in answers]
    # Only the designed answers: signed in, wrong password, or turned away by the full queue.
    assert set(statuses) <= {201, 401, 503}, sorted(statuses)
    busy = [(answer, took) for answer, took in answers if answer.status_code == 503]
    for answer, _ in busy:
        helpers.assert_problem(answer, 503, "busy")
        assert int(answer.headers["retry-after"]) > 0
    assert busy, "80 sign-ins at once never filled the queue: the bound is not there"
    busy_s = max(took for _, took in busy)
    # At once: not after a turn (the queue takes seconds to drain), though the client shares
    # this process and its two cores with the server and argon2.
    assert busy_s < 2.0, f"a full queue answered only after {busy_s:.2f} s"
    # What was admitted was counted exactly: each wrong password once, each right one a session.
    for i, email in enumerate(emails):
        mine = [answer.status_code for (j, _), (answer, _) in zip(sign_ins, answers, strict=True) if j == i]
        row = await conn.fetchrow(
            "select failed_logins, (select count(*) from auth_sessions s where s.person_id = p.id) as sessions "
            "from people p where email = $1",
            email,
        )
        if i < RIGHT:
            assert row["sessions"] == mine.count(201) and 401 not in mine, (mine, dict(row))
        else:
            assert row["failed_logins"] == mine.count(401) and 201 not in mine, (mine, dict(row))
    # Meanwhile the graduate's app kept answering, quickly.
    assert len(graduate_answers) >= 5
    assert {status for status, _ in graduate_answers} == {200}, graduate_answers
    latencies = sorted(took for _, took in graduate_answers)
    p95 = latencies[max(0, round(0.95 * len(latencies)) - 1)]
    report(
        f"80 sign-ins at once from 8 addresses (default argon2 profile): {statuses.count(201)} signed in, "
        f"{statuses.count(401)} wrong password, {len(busy)} turned away with 503 (slowest {busy_s:.2f} s), "
        f"all done in {burst_s:.1f} s; meanwhile {len(latencies)} GET /v1/me: p95 {p95 * 1000:.0f} ms, "
        f"max {latencies[-1] * 1000:.0f} ms"
    )
    assert p95 < 1.0, f"GET /v1/me p95 {p95:.2f} s during the burst"


# --- Timing: what the time an answer takes tells --------------------------------------------

ROUNDS = 12  # at the production profile's cost, each timing test stays under about 20 s


def _ratio(a: list[float], b: list[float]) -> float:
    one, other = statistics.median(a), statistics.median(b)
    return max(one, other) / min(one, other)


async def _answer_time(client: AsyncTestClient, url: str, body: dict) -> tuple[int, float]:
    started = time.perf_counter()
    answer = await client.post(url, json=body)
    return answer.status_code, time.perf_counter() - started


@pytest.fixture
async def production_hashing(database_url, conn):
    async with AsyncTestClient(app=create_app(make_settings(database_url, password_profile="default"))) as client:
        yield client


async def test_an_unknown_code_takes_as_long_as_a_wrong_one_for_a_live_used_or_locked_code(production_hashing, conn):
    client = production_hashing
    staff = await helpers.account(client, conn, Hasher("cheapest"), ["staff"])
    used = (await helpers.graduate(client, staff)).code
    live = (await helpers.enroll(client, staff))["activation_code"]
    existing = {code.replace("-", "")[:4] for code in (used, live)}
    unknown_selector = next(s * 4 for s in CODE_ALPHABET if s * 4 not in existing)
    unknown, known, answered = [], [], []
    for n in range(ROUNDS):  # interleaved, so that a busy moment of the machine hits both
        wrong = CODE_ALPHABET[n] * 6
        status, took = await _answer_time(client, ACTIVATE, {"code": unknown_selector + wrong})
        assert status == 401
        unknown.append(took)
        for code in (used, live):
            status, took = await _answer_time(client, ACTIVATE, {"code": code.replace("-", "")[:4] + wrong})
            answered.append(status)
            known.append(took)
    # The live code locked after five wrong tries: the samples cover live, locked and used codes.
    assert answered.count(423) == ROUNDS - 4
    ratio = _ratio(unknown, known)
    report(
        f"activation answer times, medians: unknown selector {statistics.median(unknown) * 1000:.0f} ms, "
        f"existing selector (live, locked, used) {statistics.median(known) * 1000:.0f} ms: ratio {ratio:.2f}"
    )
    assert ratio < 1.5


async def test_an_unknown_set_up_code_takes_as_long_as_a_wrong_one_for_a_live_or_locked_code(production_hashing, conn):
    client = production_hashing
    admin = await helpers.account(client, conn, Hasher("cheapest"), ["admin", "staff"])
    body = {"email": "new@example.org", "name": "New Colleague", "roles": ["staff"]}
    live = (await client.post("/v1/staff/accounts", json=body, headers=admin.headers)).json()["setup_code"]
    unknown_selector = next(s * 4 for s in CODE_ALPHABET if s * 4 != live.replace("-", "")[:4])
    unknown, known, answered = [], [], []
    password = "violet tram umbrella quietly"
    for n in range(ROUNDS):  # interleaved, so that a busy moment of the machine hits both
        wrong = CODE_ALPHABET[n] * 6
        status, took = await _answer_time(client, SETUP, {"code": unknown_selector + wrong, "password": password})
        assert status == 401
        unknown.append(took)
        known_selector = live.replace("-", "")[:4]
        status, took = await _answer_time(client, SETUP, {"code": known_selector + wrong, "password": password})
        answered.append(status)
        known.append(took)
    # The code locked after five wrong tries: the samples cover live and locked codes.
    assert answered.count(423) == ROUNDS - 4
    ratio = _ratio(unknown, known)
    report(
        f"set-up answer times, medians: unknown selector {statistics.median(unknown) * 1000:.0f} ms, "
        f"existing selector (live, locked) {statistics.median(known) * 1000:.0f} ms: ratio {ratio:.2f}"
    )
    assert ratio < 1.5


async def test_an_unknown_email_takes_as_long_as_a_wrong_password_for_an_open_or_locked_account(
    production_hashing, conn
):
    client = production_hashing
    email = (await _accounts(conn, 1))[0]
    unknown, known = [], []
    for n in range(ROUNDS):
        status, took = await _answer_time(client, LOGIN, login_body(f"nobody-{n}@example.org", "wrong"))
        assert status == 401
        unknown.append(took)
        status, took = await _answer_time(client, LOGIN, login_body(email, "wrong"))
        assert status == 401
        known.append(took)
    assert await conn.fetchval(
        "select f.locked_until > now() from sign_in_failures f join people p on p.id = f.person_id where p.email = $1",
        email,
    )
    ratio = _ratio(unknown, known)
    report(
        f"sign-in answer times, medians: unknown email {statistics.median(unknown) * 1000:.0f} ms, "
        f"existing account (open, then locked) {statistics.median(known) * 1000:.0f} ms: ratio {ratio:.2f}"
    )
    assert ratio < 1.5
