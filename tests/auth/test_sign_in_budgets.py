"""Sign-in budgets an attacker cannot spend for someone else (issue 15, finding 4).

All staff reach the API through the dashboard's one server address. Each browser gets its
own sign-in budget and its own audit trail because the dashboard passes the browser's
address along, vouched for with a secret it shares with the API; a claimed address without
that secret counts against the real one. Here at the real rate limit, against a real server.
"""

from __future__ import annotations

import asyncio
import os
import uuid

import httpx
import pytest
from litestar.testing import AsyncTestClient

from admin_dashboard.client import ApiClient, ApiError
from api import cli
from api.app import create_app
from api.settings import ConfigError, Settings
from tests import helpers
from tests.config import make_settings
from tests.dashboard.apptest import sign_in, texts
from tests.helpers import LOGIN, PASSWORD, assert_problem, login_body
from tests.live_server import LiveServer

SECRET = "a-dashboard-secret-for-the-tests-0123456789"
ATTACKER, COUNSELOR = "203.0.113.66", "198.51.100.7"
LIMIT = Settings.auth_rate_limit_per_minute  # the real default, not the tests' raised one


@pytest.fixture
def settings(database_url: str) -> Settings:
    """The API as `aftercare up` runs it: a dashboard secret, the real sign-in limit."""
    return make_settings(database_url, dashboard_secret=SECRET, auth_rate_limit_per_minute=LIMIT)


@pytest.fixture
def dashboard_secret(monkeypatch) -> None:
    monkeypatch.setenv("AFTERCARE_DASHBOARD_SECRET", SECRET)


def browser(api_url: str, address: str) -> ApiClient:
    """The dashboard's client for one staff member's browser."""
    api = ApiClient(api_url)
    api.browser_address = address
    return api


def spend_the_budget(api: ApiClient) -> ApiError:
    """Wrong sign-ins as made-up people until refused; the refusal."""
    for n in range(LIMIT):
        with pytest.raises(ApiError) as wrong:
            api.login(f"nobody{n}@attacker.example", "wrong password")
        assert wrong.value.status == 401, wrong.value.detail
    with pytest.raises(ApiError) as refused:
        api.login("nobody@attacker.example", "wrong password")
    assert refused.value.status == 429 and refused.value.code == "rate_limited"
    return refused.value


async def test_an_attacker_through_the_dashboard_spends_only_their_own_browsers_budget(
    api_url, client, conn, hasher, dashboard_secret
):
    counselor = await helpers.account(client, conn, hasher, ["staff"])
    spend_the_budget(browser(api_url, ATTACKER))
    # Nor did the made-up accounts' failures touch the counselor's own account budget.
    assert await conn.fetchval("select failed_logins from people where email = $1", counselor.email) == 0
    me = browser(api_url, COUNSELOR).login(counselor.email, PASSWORD)
    assert me["id"] == counselor.id


async def test_a_claimed_browser_address_without_the_dashboards_secret_counts_against_the_real_one(
    api_url, client, conn, hasher, dashboard_secret
):
    counselor = await helpers.account(client, conn, hasher, ["staff"])
    forged = [{}, {"X-Aftercare-Dashboard": "not the secret"}, {"X-Aftercare-Dashboard": ""}]
    async with httpx.AsyncClient(base_url=api_url) as http:

        async def guess(n: int) -> httpx.Response:
            # A fresh address each time: were it believed, no budget would ever run out.
            headers = forged[n % len(forged)] | {"X-Aftercare-Client-IP": f"192.0.2.{n + 1}"}
            return await http.post(LOGIN, json=login_body(f"nobody{n}@attacker.example", "wrong"), headers=headers)

        for n in range(LIMIT):
            assert_problem(await guess(n), 401, "invalid_credentials")
        assert_problem(await guess(LIMIT), 429, "rate_limited")
        # The real address (the dashboard's own here) is spent; a browser it vouches for is not.
        assert_problem(await http.post(LOGIN, json=login_body(counselor.email, PASSWORD)), 429)
    assert browser(api_url, COUNSELOR).login(counselor.email, PASSWORD)["id"] == counselor.id


async def test_without_a_dashboard_secret_configured_no_claimed_address_is_believed(database_url, conn):
    app = create_app(make_settings(database_url, auth_rate_limit_per_minute=LIMIT))
    headers = {"X-Aftercare-Dashboard": "", "X-Aftercare-Client-IP": "192.0.2.1"}
    async with AsyncTestClient(app=app) as http:
        for n in range(LIMIT):
            answer = await http.post(LOGIN, json=login_body(f"nobody{n}@attacker.example", "wrong"), headers=headers)
            assert_problem(answer, 401)
        assert_problem(await http.post(LOGIN, json=login_body("x@attacker.example", "wrong"), headers=headers), 429)


async def test_the_audit_trail_names_the_staff_members_browser(api_url, client, conn, hasher, staff, dashboard_secret):
    graduate = await helpers.graduate(client, staff)
    counselor = await helpers.account(client, conn, hasher, ["staff"])
    api = browser(api_url, COUNSELOR)
    api.login(counselor.email, PASSWORD)
    api.get(f"/v1/staff/participants/{graduate.id}")
    # The same read claiming an address, without the secret: the connection's own is recorded.
    async with httpx.AsyncClient(base_url=api_url) as http:
        claimed = await http.get(
            f"/v1/staff/participants/{graduate.id}",
            headers=helpers.bearer(api.tokens) | {"X-Aftercare-Client-IP": ATTACKER},
        )
        assert claimed.status_code == 200, claimed.text
    rows = await conn.fetch(
        "select client_ip from audit_log where actor_id = $1 and action = 'participant.read' order by id",
        uuid.UUID(counselor.id),
    )
    assert [r["client_ip"] for r in rows] == [COUNSELOR, "127.0.0.1"]


async def test_the_dashboards_sign_in_page_locks_out_the_attackers_browser_only(
    dashboard, client, conn, hasher, dashboard_secret, monkeypatch
):
    """Through the real sign-in form (AppTest), each run made from the browser named."""
    from admin_dashboard import state

    counselor = await helpers.account(client, conn, hasher, ["staff"])
    monkeypatch.setattr(state, "browser_address", lambda: ATTACKER)
    attacker = dashboard()
    for n in range(LIMIT + 1):
        attacker = sign_in(attacker, helpers.Actor(id="", headers={}, email=f"nobody{n}@attacker.example"), "wrong")
    assert "Too many attempts" in attacker.error[0].value
    monkeypatch.setattr(state, "browser_address", lambda: COUNSELOR)
    at = sign_in(dashboard(), counselor)
    assert "Watchlist" in texts(at), texts(at)


async def test_an_attacker_who_knows_a_counselors_email_locks_the_account_for_their_own_browser_only(
    api_url, client, conn, hasher, dashboard_secret
):
    counselor = await helpers.account(client, conn, hasher, ["staff"])
    attacker = browser(api_url, ATTACKER)
    for _ in range(Settings.login_max_failures):
        with pytest.raises(ApiError) as wrong:
            attacker.login(counselor.email, "wrong password")
        assert wrong.value.status == 401, wrong.value.detail
    budgets = (
        "select client_address, failures, locked_until > now() as locked from sign_in_failures where person_id = $1"
    )
    assert [tuple(r) for r in await conn.fetch(budgets, uuid.UUID(counselor.id))] == [
        (ATTACKER, Settings.login_max_failures, True)
    ]
    assert await conn.fetchval("select locked_until from people where id = $1", uuid.UUID(counselor.id)) is None
    # The counselor, in another browser, signs in at once; the attacker's browser stays locked.
    assert browser(api_url, COUNSELOR).login(counselor.email, PASSWORD)["id"] == counselor.id
    assert [tuple(r) for r in await conn.fetch(budgets, uuid.UUID(counselor.id))] == [
        (ATTACKER, Settings.login_max_failures, True)
    ]


BACKSTOP = 25  # the tests' account-wide limit: the real 100 would take long to reach


@pytest.fixture
async def door(database_url, conn):
    """A live API with the sign-in rate limit raised (the per-account counts are what is
    tested here), every request let into the hashing queue, and a small account-wide limit."""
    settings = make_settings(database_url, dashboard_secret=SECRET, login_account_max_failures=BACKSTOP, hash_queue=100)
    with LiveServer(settings) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            yield http


async def sign_in_from(http: httpx.AsyncClient, address: str, email: str, password: str) -> httpx.Response:
    """A sign-in through the dashboard for the browser at `address`."""
    headers = {"X-Aftercare-Dashboard": SECRET, "X-Aftercare-Client-IP": address}
    return await http.post(LOGIN, json=login_body(email, password), headers=headers)


async def test_a_locked_browser_is_refused_even_the_right_password_while_others_sign_in(door, conn):
    counselor = await helpers.account(door, conn, helpers.Hasher("cheapest"), ["staff"])
    for _ in range(Settings.login_max_failures):
        assert_problem(await sign_in_from(door, ATTACKER, counselor.email, "wrong"), 401, "invalid_credentials")
    refused = assert_problem(await sign_in_from(door, ATTACKER, counselor.email, PASSWORD), 401)
    unknown = assert_problem(await sign_in_from(door, ATTACKER, "nobody@example.org", PASSWORD), 401)
    assert refused == unknown  # the lock tells the attacker nothing either
    assert (await sign_in_from(door, COUNSELOR, counselor.email, PASSWORD)).status_code == 201
    assert (await door.post(LOGIN, json=login_body(counselor.email, PASSWORD))).status_code == 201


async def test_wrong_passwords_spread_over_many_addresses_lock_the_account_everywhere_until_an_admin_unlocks_it(
    door, conn
):
    hasher = helpers.Hasher("cheapest")
    counselor = await helpers.account(door, conn, hasher, ["staff"])
    admin = await helpers.account(door, conn, hasher, ["admin", "staff"])
    # At most nine from each address: none reaches its own lock, together they reach the backstop.
    for n in range(BACKSTOP):
        address = f"192.0.2.{n // (Settings.login_max_failures - 1) + 1}"
        if n == BACKSTOP - 1:
            assert await conn.fetchval("select locked_until from people where id = $1", uuid.UUID(counselor.id)) is None
        assert_problem(await sign_in_from(door, address, counselor.email, "wrong"), 401, "invalid_credentials")
    assert not await conn.fetchval("select bool_or(locked_until > now()) from sign_in_failures")
    assert await conn.fetchval("select failed_logins from people where id = $1", uuid.UUID(counselor.id)) == BACKSTOP
    # Locked from everywhere, a fresh browser too; and staff see it on the Accounts page.
    assert_problem(await sign_in_from(door, COUNSELOR, counselor.email, PASSWORD), 401, "invalid_credentials")
    accounts = await door.get("/v1/staff/accounts", headers=admin.headers)
    assert accounts.status_code == 200, accounts.text
    assert [a["locked_until"] is not None for a in accounts.json()["items"] if a["id"] == counselor.id] == [True]

    unlocked = await door.post(f"/v1/staff/accounts/{counselor.id}/unlock", headers=admin.headers)
    assert unlocked.status_code == 200 and unlocked.json()["locked_until"] is None
    left = await conn.fetchval("select count(*) from sign_in_failures where person_id = $1", uuid.UUID(counselor.id))
    assert left == 0
    assert (await sign_in_from(door, COUNSELOR, counselor.email, PASSWORD)).status_code == 201


async def test_parallel_wrong_passwords_are_counted_exactly_per_address_and_per_account(door, conn):
    counselor = await helpers.account(door, conn, helpers.Hasher("cheapest"), ["staff"])
    attempts = [(ATTACKER, f"guess {n}") for n in range(30)] + [(COUNSELOR, f"typo {n}") for n in range(4)]
    answers = await asyncio.gather(*[sign_in_from(door, a, counselor.email, p) for a, p in attempts])
    assert {a.status_code for a in answers} == {401}
    # Ten of the attacker's were checked, the other twenty met that address's lock; all four typos.
    budgets = await conn.fetch(
        "select client_address, failures, coalesce(locked_until > now(), false) as locked from sign_in_failures "
        "where person_id = $1 order by failures",
        uuid.UUID(counselor.id),
    )
    assert [tuple(r) for r in budgets] == [(COUNSELOR, 4, False), (ATTACKER, Settings.login_max_failures, True)]
    assert await conn.fetchval("select failed_logins from people where id = $1", uuid.UUID(counselor.id)) == 14


async def test_counts_whose_window_is_over_are_forgotten_by_the_next_wrong_password(door, conn):
    """An attacker with many addresses leaves a row for each; none outlives its window."""
    counselor = await helpers.account(door, conn, helpers.Hasher("cheapest"), ["staff"])
    await conn.execute(
        """
        insert into sign_in_failures (person_id, client_address, failures, window_started_at, locked_until, forget_at)
        select $1, '10.0.' || (n / 250) || '.' || (n % 250), 9, now() - interval '20 minutes', null,
               now() - interval '5 minutes'
        from generate_series(0, 999) n
        """,
        uuid.UUID(counselor.id),
    )
    assert_problem(await sign_in_from(door, "10.0.0.1", counselor.email, "wrong"), 401)
    # The stale 999 are gone, and the one address starts a new count instead of locking at 10.
    rows = await conn.fetch("select client_address, failures, locked_until from sign_in_failures")
    assert [tuple(r) for r in rows] == [("10.0.0.1", 1, None)]


def test_a_short_dashboard_secret_is_refused_at_start_up(monkeypatch):
    monkeypatch.setenv("AFTERCARE_DASHBOARD_SECRET", "short")
    with pytest.raises(ConfigError, match="AFTERCARE_DASHBOARD_SECRET"):
        Settings.from_env(database_url="postgresql://x", secret_key="k" * 32)


@pytest.mark.parametrize("given", [None, ""], ids=["unset", "set but empty"])
def test_aftercare_up_gives_the_api_and_the_dashboard_one_secret(monkeypatch, given):
    from click.testing import CliRunner

    # Set, then unset: whatever `up` sets in the environment is undone after the test.
    for name in ("AFTERCARE_DASHBOARD_SECRET", "AFTERCARE_WORKER_EXPECTED"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    if given is not None:  # an empty secret would turn the browser's address off: `up` makes one
        monkeypatch.setenv("AFTERCARE_DASHBOARD_SECRET", given)
    monkeypatch.setenv("DATABASE_URL", "postgresql://unused")
    children: dict[str, str | None] = {}
    served: list[str | None] = []
    for name in ("_check_port_free", "_dev_secret_key", "_run_upgrade", "_load_demo"):
        monkeypatch.setattr(cli, name, lambda *a, **k: None)
    monkeypatch.setattr(
        cli, "_start_child", lambda name, *a, **k: children.update({name: os.environ.get("AFTERCARE_DASHBOARD_SECRET")})
    )
    monkeypatch.setattr(
        cli,
        "_serve",
        lambda *a, **k: served.append(Settings.from_env(secret_key="k" * 32).dashboard_secret),
    )
    result = CliRunner().invoke(cli.main, ["up", "--no-demo", "--no-worker"])
    assert result.exit_code == 0, result.output
    assert children["Dashboard"] and len(children["Dashboard"]) >= 32
    assert served == [children["Dashboard"]]


def test_only_one_function_reads_the_connections_own_address():
    """The class, not the instance: a new limit or trail that read the socket's address
    itself would again see only the dashboard (or a proxy). Everything in the API asks
    api/client_address.py instead."""
    import re
    from pathlib import Path

    api = Path(__file__).parents[2] / "api"
    readers = {
        str(path.relative_to(api.parent))
        for path in api.rglob("*.py")
        if re.search(r"\.client\b(?!_| import)|scope\[.client.\]|get_remote_address", path.read_text())
    }
    assert readers == {"api/client_address.py"}


async def test_a_password_changed_while_the_old_one_was_checked_starts_no_session(conn, hasher, staff):
    """The check runs outside any transaction (no connection waits on argon2), so the record
    step signs in only if the password is still the one that was checked."""
    from db import people as people_db

    checked = await conn.fetchval("select password_hash from people where id = $1", uuid.UUID(staff.id))
    await conn.execute(
        "update people set password_hash = $2 where id = $1", uuid.UUID(staff.id), await hasher.hash("another one")
    )
    signed_in = await people_db.record_login_success(
        conn, uuid.UUID(staff.id), "198.51.100.7", checked, None, account_max_failures=100
    )
    assert signed_in is None
    assert await conn.fetchval("select password_hash from people where id = $1", uuid.UUID(staff.id)) != checked
