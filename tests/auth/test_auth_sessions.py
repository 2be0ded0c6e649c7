"""Password sign-in, refresh-token rotation and reuse, logout, and deactivation."""

import datetime as dt
import uuid

import pytest
import time_machine

from tests import helpers
from tests.clock import ONCE
from tests.helpers import PASSWORD, assert_problem


async def login(client, email, password=PASSWORD):
    return await client.post("/v1/auth/login", json={"email": email, "password": password})


async def test_login_returns_tokens_with_roles(client, admin):
    assert admin.tokens["roles"] == ["admin", "staff"]
    assert (await client.get("/v1/me", headers=admin.headers)).json()["roles"] == ["admin", "staff"]


async def test_login_email_is_case_insensitive(client, staff):
    assert (await login(client, staff.email.upper())).status_code == 201


async def test_wrong_password_and_unknown_email_look_the_same(client, staff):
    wrong = assert_problem(await login(client, staff.email, "not the password"), 401, "invalid_credentials")
    unknown = assert_problem(await login(client, "nobody@example.org"), 401, "invalid_credentials")
    assert wrong["detail"] == unknown["detail"]


async def test_repeated_wrong_passwords_lock_the_account_from_that_address(client, conn, staff, settings):
    for _ in range(settings.login_max_failures):
        assert_problem(await login(client, staff.email, "wrong password!"), 401, "invalid_credentials")
    budget = (
        "select failures, coalesce(locked_until > now(), false) as locked from sign_in_failures where person_id = $1"
    )
    assert tuple(await conn.fetchrow(budget, uuid.UUID(staff.id))) == (settings.login_max_failures, True)
    # Locked: even the right password gets the same answer as a wrong one or an unknown email.
    locked = assert_problem(await login(client, staff.email), 401, "invalid_credentials")
    unknown = assert_problem(await login(client, "nobody@example.org"), 401, "invalid_credentials")
    assert locked["detail"] == unknown["detail"]

    await conn.execute("update sign_in_failures set locked_until = now() - interval '1 second', forget_at = now()")
    # A lock that has run out starts the count again: one typo does not lock it anew.
    assert_problem(await login(client, staff.email, "one typo"), 401)
    assert tuple(await conn.fetchrow(budget, uuid.UUID(staff.id))) == (1, False)
    assert (await login(client, staff.email)).status_code == 201
    assert await conn.fetchrow(budget, uuid.UUID(staff.id)) is None


async def test_admin_unlocks_an_account(client, conn, admin, staff, settings):
    for _ in range(settings.login_max_failures):
        await login(client, staff.email, "wrong password!")
    response = await client.post(f"/v1/staff/accounts/{staff.id}/unlock", headers=admin.headers)
    assert response.status_code == 200 and response.json()["locked_until"] is None
    assert await conn.fetchval("select count(*) from sign_in_failures") == 0
    assert (await login(client, staff.email)).status_code == 201
    assert await conn.fetchval("select count(*) from audit_log where action = 'account.unlock'") == 1


async def test_deactivated_account_cannot_sign_in(client, conn, admin, staff):
    response = await client.post(f"/v1/staff/accounts/{staff.id}/deactivate", headers=admin.headers)
    assert response.status_code == 200 and response.json()["is_active"] is False
    assert_problem(await login(client, staff.email), 403, "account_deactivated")


async def test_deactivation_ends_access_at_once(client, admin, staff, graduate):
    assert (await client.get("/v1/me", headers=graduate.headers)).status_code == 200
    response = await client.post(f"/v1/staff/participants/{graduate.id}/deactivate", headers=staff.headers)
    assert response.status_code == 200
    assert_problem(await client.get("/v1/me", headers=graduate.headers), 401)
    refresh = await client.post("/v1/auth/refresh", json={"refresh_token": graduate.tokens["refresh_token"]})
    assert_problem(refresh, 401, "session_ended")

    await client.post(f"/v1/staff/accounts/{staff.id}/deactivate", headers=admin.headers)
    assert_problem(await client.get("/v1/staff/participants", headers=staff.headers), 401)


# Every column that holds a key to someone's account or data, and how deactivation voids it
# (checked below). A new kind of key fails test_every_kind_of_key_is_voided_by_deactivation
# until deactivation voids it too and it is listed here.
KEYS = {
    ("people", "password_hash"): "deactivated accounts cannot sign in (test_deactivated_account_cannot_sign_in)",
    ("activation_codes", "verifier_hash"): "unused codes are revoked",
    ("refresh_tokens", "token_hash"): "every session is revoked",
    ("calendar_feeds", "token_hash"): "the secret calendar URL is deleted",
    ("devices", "token"): "push tokens go with the sessions they belong to",
    # Two-factor sign-in: second factors, never a way in alone, and each use checks the account
    # is active (test_two_factor.py::test_a_challenge_of_a_deactivated_account_signs_nobody_in).
    ("mfa_totp", "secret_encrypted"): "a second factor: useless without a sign-in that needs it",
    ("mfa_recovery_codes", "code_hash"): "a second factor: useless without a sign-in that needs it",
    ("mfa_challenges", "token_hash"): "refused for a deactivated account (403)",
    ("mfa_challenges", "password_hash"): "the hash the challenge was earned with: not a key",
    ("mfa_challenges", "new_password_hash"): "stored only by a completed sign-in",
    # A live socket's ticket opens nothing alone: its session must still be live and its
    # person active when the socket is opened (api/discussions/live.py).
    ("live_tickets", "ticket_hash"): "its session is revoked, so the socket closes 4401",
}


async def test_every_kind_of_key_is_voided_by_deactivation(conn):
    columns = await conn.fetch(
        """
        select table_name, column_name from information_schema.columns
        where table_schema = current_schema() and column_name ~ '(token|hash|verifier|secret)'
        """
    )
    assert {(c["table_name"], c["column_name"]) for c in columns} == set(KEYS)


async def test_deactivation_voids_every_key_for_good_and_reactivation_brings_none_back(client, conn, staff, graduate):
    participant = f"/v1/staff/participants/{graduate.id}"
    unused_code = (await client.post(f"{participant}/activation-code", headers=staff.headers)).json()["activation_code"]
    feed = "/" + (await client.post("/v1/me/calendar-feed", headers=graduate.headers)).json()["url"].split("/", 3)[3]
    device = {"token": "fcm-token-1", "platform": "android", "app_version": "2.3.1"}
    assert (await client.post("/v1/me/devices", json=device, headers=graduate.headers)).status_code == 201
    assert (await client.get(feed)).status_code == 200

    assert (await client.post(f"{participant}/deactivate", headers=staff.headers)).status_code == 200
    assert await conn.fetchval("select count(*) from calendar_feeds") == 0
    assert (await client.post(f"{participant}/reactivate", headers=staff.headers)).status_code == 200

    assert_problem(await client.get(feed), 404)
    assert_problem(await client.get("/v1/me", headers=graduate.headers), 401)
    refresh = await client.post("/v1/auth/refresh", json={"refresh_token": graduate.tokens["refresh_token"]})
    assert_problem(refresh, 401)
    assert_problem(await client.post("/v1/auth/activate", json={"code": unused_code}), 401)
    assert await conn.fetchval("select count(*) from devices") == 0
    # Back with a new code from staff, they can make a new calendar URL; the old one stays dead.
    code = (await client.post(f"{participant}/activation-code", headers=staff.headers)).json()["activation_code"]
    again = helpers.bearer(await helpers.activate(client, code))
    new_feed = "/" + (await client.post("/v1/me/calendar-feed", headers=again)).json()["url"].split("/", 3)[3]
    assert (await client.get(new_feed)).status_code == 200
    assert_problem(await client.get(feed), 404)


async def test_refresh_rotates(client, graduate):
    first = graduate.tokens["refresh_token"]
    response = await client.post("/v1/auth/refresh", json={"refresh_token": first})
    assert response.status_code == 201, response.text
    rotated = response.json()
    assert rotated["refresh_token"] != first
    assert (await client.get("/v1/me", headers=helpers.bearer(rotated))).status_code == 200
    again = await client.post("/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert again.status_code == 201


def _after_the_grace(instant, settings):
    """The clock moved past the reuse grace, counted from the pinned instant."""
    return time_machine.travel(instant.at + dt.timedelta(seconds=settings.refresh_reuse_grace_s + 1), tick=False)


async def _assert_session_revoked_for_reuse(client, conn, graduate, *tokens):
    """Every token of the family is dead: the newest refresh token and the access tokens."""
    for pair in tokens:
        assert_problem(await client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}), 401)
        assert_problem(await client.get("/v1/me", headers=helpers.bearer(pair)), 401)
    reason = await conn.fetchval("select revoked_reason from auth_sessions where person_id = $1", graduate.id)
    assert reason == "refresh token reused"


@pytest.mark.clock_instants(*ONCE)
async def test_reusing_a_refresh_token_after_the_grace_revokes_the_whole_family(
    client, conn, graduate, settings, clock_instant
):
    stolen = graduate.tokens["refresh_token"]
    legit = (await client.post("/v1/auth/refresh", json={"refresh_token": stolen})).json()
    with _after_the_grace(clock_instant, settings):
        reuse = await client.post("/v1/auth/refresh", json={"refresh_token": stolen})
        assert_problem(reuse, 401, "refresh_token_reused")
        await _assert_session_revoked_for_reuse(client, conn, graduate, legit, graduate.tokens)


@pytest.mark.clock_instants(*ONCE)
async def test_a_refresh_repeated_within_the_grace_gets_the_same_successor(client, conn, graduate, settings):
    first = graduate.tokens["refresh_token"]
    answers = [await client.post("/v1/auth/refresh", json={"refresh_token": first}) for _ in range(3)]
    assert [a.status_code for a in answers] == [201] * 3, [a.text for a in answers]
    pairs = [a.json() for a in answers]
    assert len({p["refresh_token"] for p in pairs}) == 1 and pairs[0]["refresh_token"] != first
    # Each answer's access token works: the session is alive, and rotated once only.
    for pair in pairs:
        assert (await client.get("/v1/me", headers=helpers.bearer(pair))).status_code == 200
    rows = await conn.fetch(
        """
        select rt.used_at is not null as used, s.revoked_at from refresh_tokens rt
        join auth_sessions s on s.id = rt.session_id where s.person_id = $1 order by rt.id
        """,
        graduate.id,
    )
    assert [(r["used"], r["revoked_at"]) for r in rows] == [(True, None), (False, None)]
    # And the successor goes on working as any refresh token does.
    assert (await client.post("/v1/auth/refresh", json={"refresh_token": pairs[0]["refresh_token"]})).status_code == 201


@pytest.mark.clock_instants(*ONCE)
async def test_the_replaced_token_is_a_copy_once_its_successor_was_used_even_within_the_grace(client, conn, graduate):
    first = graduate.tokens["refresh_token"]
    second = (await client.post("/v1/auth/refresh", json={"refresh_token": first})).json()
    third = (await client.post("/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})).json()
    assert_problem(await client.post("/v1/auth/refresh", json={"refresh_token": first}), 401, "refresh_token_reused")
    await _assert_session_revoked_for_reuse(client, conn, graduate, third)


@pytest.mark.clock_instants(*ONCE)
async def test_a_repeat_within_the_grace_does_not_revive_an_ended_session(client, graduate):
    first = graduate.tokens["refresh_token"]
    second = (await client.post("/v1/auth/refresh", json={"refresh_token": first})).json()
    assert (await client.post("/v1/auth/logout", json={"refresh_token": second["refresh_token"]})).status_code == 204
    assert_problem(await client.post("/v1/auth/refresh", json={"refresh_token": first}), 401, "session_ended")


@pytest.mark.clock_instants(*ONCE)
async def test_reuse_revokes_only_that_device(client, staff, settings, clock_instant):
    enrolled = await helpers.enroll(client, staff)
    phone = await helpers.activate(client, enrolled["activation_code"])
    reissued = await client.post(f"/v1/staff/participants/{enrolled['id']}/activation-code", headers=staff.headers)
    tablet = await helpers.activate(client, reissued.json()["activation_code"])
    await client.post("/v1/auth/refresh", json={"refresh_token": phone["refresh_token"]})
    with _after_the_grace(clock_instant, settings):
        reuse = await client.post("/v1/auth/refresh", json={"refresh_token": phone["refresh_token"]})
        assert_problem(reuse, 401, "refresh_token_reused")
        assert (await client.get("/v1/me", headers=helpers.bearer(tablet))).status_code == 200


async def test_unknown_and_expired_refresh_tokens(client, conn, graduate):
    assert_problem(
        await client.post("/v1/auth/refresh", json={"refresh_token": "made-up"}), 401, "invalid_refresh_token"
    )
    await conn.execute("update refresh_tokens set expires_at = now() - interval '1 second'")
    response = await client.post("/v1/auth/refresh", json={"refresh_token": graduate.tokens["refresh_token"]})
    assert_problem(response, 401, "session_ended")


async def test_logout_revokes_the_session(client, graduate):
    response = await client.post("/v1/auth/logout", json={"refresh_token": graduate.tokens["refresh_token"]})
    assert response.status_code == 204
    assert_problem(await client.get("/v1/me", headers=graduate.headers), 401)
    response = await client.post("/v1/auth/refresh", json={"refresh_token": graduate.tokens["refresh_token"]})
    assert_problem(response, 401, "session_ended")
    # Logging out twice, or with a token we never issued, is still a quiet 204.
    assert (await client.post("/v1/auth/logout", json={"refresh_token": "nope"})).status_code == 204


async def test_refresh_tokens_are_stored_as_sha256_only(client, conn, graduate):
    import hashlib

    token = graduate.tokens["refresh_token"]
    stored = await conn.fetchval(
        "select token_hash from refresh_tokens rt join auth_sessions s on s.id = rt.session_id where s.person_id = $1",
        graduate.id,
    )
    assert bytes(stored) == hashlib.sha256(token.encode()).digest()
    columns = await conn.fetch("select column_name from information_schema.columns where table_name = 'refresh_tokens'")
    assert {c["column_name"] for c in columns} == {
        "id",
        "session_id",
        "token_hash",
        "expires_at",
        "used_at",
        "created_at",
    }


async def test_tampered_or_missing_access_token(client, graduate):
    assert_problem(await client.get("/v1/me"), 401)
    token = graduate.tokens["access_token"]
    forged = token[:-4] + ("AAAA" if token[-4:] != "AAAA" else "BBBB")
    assert_problem(await client.get("/v1/me", headers={"Authorization": f"Bearer {forged}"}), 401)


@pytest.mark.clock_instants(*ONCE)
async def test_expired_access_token_is_refused(client, graduate):
    import time

    import jwt

    from tests.config import TEST_SECRET

    claims = jwt.decode(graduate.tokens["access_token"], TEST_SECRET, algorithms=["HS256"], issuer="aftercare")
    claims |= {"exp": int(time.time()) - 5, "iat": int(time.time()) - 905}
    expired = jwt.encode(claims, TEST_SECRET, algorithm="HS256")
    assert_problem(await client.get("/v1/me", headers={"Authorization": f"Bearer {expired}"}), 401)
    # The same token with a live expiry works: only the expiry made the difference.
    claims["exp"] = int(time.time()) + 60
    fresh = jwt.encode(claims, TEST_SECRET, algorithm="HS256")
    assert (await client.get("/v1/me", headers={"Authorization": f"Bearer {fresh}"})).status_code == 200


def _at(instant, after: dt.timedelta):
    """The clock moved to `after` past the pinned instant, standing still there."""
    return time_machine.travel(instant.at + after, tick=False)


async def _refresh(client, tokens: dict):
    return await client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})


@pytest.mark.clock_instants(*ONCE)
async def test_a_staff_sign_in_unused_for_12_hours_is_ended_at_its_next_refresh(
    client, conn, staff, settings, clock_instant
):
    assert settings.staff_refresh_idle_hours == 12  # the limit the clinic's security officer asked for
    idle = dt.timedelta(hours=12)
    minute = dt.timedelta(minutes=1)
    with _at(clock_instant, idle - minute):  # 11 h 59 after signing in
        kept = await _refresh(client, staff.tokens)
        assert kept.status_code == 201, kept.text
    # Counted from the last refresh, not from the sign-in: 23 h 58 after it, 11 h 59 idle.
    with _at(clock_instant, 2 * (idle - minute)):
        again = await _refresh(client, kept.json())
        assert again.status_code == 201, again.text
    with _at(clock_instant, 2 * (idle - minute) + idle + minute):  # 12 h 01 idle
        ended = assert_problem(await _refresh(client, again.json()), 401, "session_idle")
        assert "Sign in again" in ended["detail"]
        row = await conn.fetchrow("select revoked_at, revoked_reason from auth_sessions where person_id = $1", staff.id)
        assert row["revoked_at"] is not None and row["revoked_reason"] == "idle"
        # Ended for good: the same token again is refused as any ended session's is.
        assert_problem(await _refresh(client, again.json()), 401, "session_ended")
        assert (await login(client, staff.email)).status_code == 201  # signing in again works


@pytest.mark.clock_instants(*ONCE)
async def test_every_password_session_has_the_idle_limit_and_graduates_keep_theirs(
    client, conn, hasher, staff, graduate, settings, clock_instant
):
    admin = await helpers.account(client, conn, hasher, ["admin", "staff"])
    facilitator = await helpers.account(client, conn, hasher, ["facilitator"])
    idle = dt.timedelta(hours=settings.staff_refresh_idle_hours)
    with _at(clock_instant, idle + dt.timedelta(minutes=1)):
        for who in (staff, admin, facilitator):
            assert_problem(await _refresh(client, who.tokens), 401, "session_idle")
        # A graduate's phone stays signed in however long it lies unused, within the token's life.
        phone = await _refresh(client, graduate.tokens)
        assert phone.status_code == 201, phone.text
    with _at(clock_instant, idle + dt.timedelta(days=settings.refresh_token_ttl_days - 1)):
        assert (await _refresh(client, phone.json())).status_code == 201
    revoked = await conn.fetch("select person_id from auth_sessions where revoked_reason = 'idle'")
    assert {str(r["person_id"]) for r in revoked} == {staff.id, admin.id, facilitator.id}


@pytest.mark.clock_instants(*ONCE)
async def test_a_refresh_repeated_within_the_grace_is_not_idle(client, staff, settings, clock_instant):
    idle = dt.timedelta(hours=settings.staff_refresh_idle_hours)
    with _at(clock_instant, idle - dt.timedelta(seconds=5)):
        first = await _refresh(client, staff.tokens)
        assert first.status_code == 201, first.text
    # The same token again 10 s later: 12 h 00 m 05 after it was issued, but a repeat of a
    # refresh made 10 s ago, so it gets the same successor.
    with _at(clock_instant, idle + dt.timedelta(seconds=5)):
        repeat = await _refresh(client, staff.tokens)
        assert repeat.status_code == 201, repeat.text
        assert repeat.json()["refresh_token"] == first.json()["refresh_token"]


def test_the_staff_idle_limit_is_12_hours_and_can_only_be_shortened(monkeypatch):
    from api.settings import ConfigError, Settings

    def loaded():
        return Settings.from_env(database_url="postgresql://x/y", secret_key="s" * 40)

    monkeypatch.delenv("AFTERCARE_STAFF_REFRESH_IDLE_HOURS", raising=False)
    assert loaded().staff_refresh_idle_hours == 12
    monkeypatch.setenv("AFTERCARE_STAFF_REFRESH_IDLE_HOURS", "8")
    assert loaded().staff_refresh_idle_hours == 8
    for too_long in ("13", "72"):
        monkeypatch.setenv("AFTERCARE_STAFF_REFRESH_IDLE_HOURS", too_long)
        with pytest.raises(ConfigError, match="at most 12"):
            loaded()
