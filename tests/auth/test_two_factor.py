"""Two-factor sign-in (TOTP, RFC 6238): enrolment, the second step of sign-in, clock skew,
replays, recovery codes, the lock, turning it off, and the roles that must use it.

The clock is frozen 10 s into a 30-second step near real time (PostgreSQL's clock, which
stamps locks, stays within seconds of it) and moved a step at a time: a code is good once,
so each sign-in of a test takes the next step's code."""

from __future__ import annotations

import asyncio

import pytest
from litestar.testing import AsyncTestClient

from api.app import create_app
from tests import helpers
from tests.clock import totp_steps
from tests.config import make_settings
from tests.helpers import PASSWORD, assert_problem, totp_code


@pytest.fixture
def clock():
    with totp_steps() as steps:
        yield steps


async def _login(client, actor) -> dict:
    response = await client.post("/v1/auth/login", json={"email": actor.email, "password": PASSWORD})
    return assert_problem(response, 401, "mfa_required")


async def _second_step(client, challenge: str, code: str):
    return await client.post("/v1/auth/mfa", json={"challenge": challenge, "code": code})


async def _audit_actions(conn, actor) -> list[str]:
    rows = await conn.fetch("select action from audit_log where actor_id = $1 order by id", actor.id)
    return [r["action"] for r in rows]


async def test_setting_up_shows_a_secret_once_and_turns_on_with_the_first_code(client, conn, staff, clock):
    other_session = helpers.bearer(
        (await client.post("/v1/auth/login", json={"email": staff.email, "password": PASSWORD})).json()
    )
    started = await client.post("/v1/me/mfa/totp", headers=staff.headers)
    assert started.status_code == 201, started.text
    secret, uri = started.json()["secret"], started.json()["otpauth_uri"]
    assert uri.startswith("otpauth://totp/Aftercare:") and f"secret={secret}" in uri and "issuer=Aftercare" in uri
    status = (await client.get("/v1/me/mfa", headers=staff.headers)).json()
    assert status == {"enabled": False, "required": False, "enabled_at": None, "recovery_codes_left": 0}

    wrong = await client.post("/v1/me/mfa/totp/confirm", json={"code": totp_code(secret, 2)}, headers=staff.headers)
    assert_problem(wrong, 400, "wrong_code")
    right = await client.post("/v1/me/mfa/totp/confirm", json={"code": totp_code(secret)}, headers=staff.headers)
    assert right.status_code == 200, right.text
    codes = right.json()["recovery_codes"]
    assert len(codes) == len(set(codes)) == 10
    assert all(len(c) == 19 and c.count("-") == 3 for c in codes)

    status = (await client.get("/v1/me/mfa", headers=staff.headers)).json()
    assert status["enabled"] and status["recovery_codes_left"] == 10
    # Stored encrypted and hashed: neither the secret nor a recovery code is in the database.
    stored = await conn.fetchval("select secret_encrypted from mfa_totp where person_id = $1", staff.id)
    assert secret.encode() not in stored
    hashes = await conn.fetch("select code_hash from mfa_recovery_codes where person_id = $1", staff.id)
    assert len(hashes) == 10 and not any(c.replace("-", "").encode() in h["code_hash"] for c in codes for h in hashes)
    # Every other session ended; this one goes on.
    assert (await client.get("/v1/me", headers=other_session)).status_code == 401
    assert (await client.get("/v1/me", headers=staff.headers)).status_code == 200
    again = await client.post("/v1/me/mfa/totp", headers=staff.headers)
    assert_problem(again, 409, "mfa_already_on")
    exported = await client.get("/v1/me/export", headers=staff.headers)
    assert exported.json()["data"]["two_factor"]["recovery_codes_left"] == 10
    assert secret not in exported.text and not any(c in exported.text for c in codes)
    assert await _audit_actions(conn, staff) == ["account.mfa_enrolment_started", "account.mfa_enrolled"]


async def test_confirming_before_starting_is_a_conflict_and_graduates_have_no_second_factor(
    client, staff, graduate, clock
):
    early = await client.post("/v1/me/mfa/totp/confirm", json={"code": "123456"}, headers=staff.headers)
    assert_problem(early, 409, "no_enrolment_started")
    refused = await client.post("/v1/me/mfa/totp", headers=graduate.headers)
    assert_problem(refused, 403, "no_password")


async def test_a_password_alone_no_longer_signs_in_once_two_factor_is_on(client, conn, staff, clock):
    secret, _ = await helpers.enrol_totp(client, staff)
    clock.step()
    required = await _login(client, staff)
    challenge = required["challenge"]
    assert required["challenge_expires_in"] == 300
    # As the OpenAPI document says, for the app's developers.
    document = (await client.get("/schema/openapi.json")).json()
    documented = document["paths"]["/v1/auth/login"]["post"]["responses"]["401"]["content"]
    schema = document["components"]["schemas"][documented["application/problem+json"]["schema"]["$ref"].split("/")[-1]]
    assert set(required) <= set(schema["properties"])
    signed_in = await _second_step(client, challenge, totp_code(secret))
    assert signed_in.status_code == 201, signed_in.text
    assert (await client.get("/v1/me", headers=helpers.bearer(signed_in.json()))).status_code == 200
    # The challenge was good once.
    clock.step()
    assert_problem(await _second_step(client, challenge, totp_code(secret)), 401, "challenge_expired")
    # A made-up challenge is no way in either.
    assert_problem(await _second_step(client, "x" * 43, totp_code(secret)), 401, "challenge_expired")


@pytest.mark.parametrize(("skew", "accepted"), [(-2, False), (-1, True), (0, True), (1, True), (2, False)])
async def test_a_phone_clock_one_step_off_is_accepted_and_two_steps_off_refused(client, staff, clock, skew, accepted):
    secret, _ = await helpers.enrol_totp(client, staff)
    clock.step(3)  # past the enrolment's code, whatever the skew
    challenge = (await _login(client, staff))["challenge"]
    answer = await _second_step(client, challenge, totp_code(secret, skew))
    if accepted:
        assert answer.status_code == 201, answer.text
    else:
        assert_problem(answer, 401, "invalid_mfa_code")


async def test_a_code_is_refused_when_used_again_within_its_step_even_at_once(client, conn, staff, clock):
    secret, _ = await helpers.enrol_totp(client, staff)
    clock.step()
    code = totp_code(secret)
    first, second = (await _login(client, staff))["challenge"], (await _login(client, staff))["challenge"]
    answers = await asyncio.gather(_second_step(client, first, code), _second_step(client, second, code))
    assert sorted(a.status_code for a in answers) == [201, 401]
    replay = next(a for a in answers if a.status_code == 401)
    assert "used already" in assert_problem(replay, 401, "invalid_mfa_code")["detail"]
    # An older step's code is no good once a newer one was used.
    third = (await _login(client, staff))["challenge"]
    assert_problem(await _second_step(client, third, totp_code(secret, -1)), 401, "invalid_mfa_code")
    failed = await conn.fetch(
        "select details->>'why' as why from audit_log where action = 'account.mfa_failed' and actor_id = $1", staff.id
    )
    assert sorted(r["why"] for r in failed) == ["replayed", "replayed"]


async def test_a_recovery_code_signs_in_once_however_it_is_typed(client, conn, staff, clock):
    _, codes = await helpers.enrol_totp(client, staff)
    challenge = (await _login(client, staff))["challenge"]
    typed = codes[3].lower().replace("-", " ")
    assert (await _second_step(client, challenge, typed)).status_code == 201
    challenge = (await _login(client, staff))["challenge"]
    assert_problem(await _second_step(client, challenge, codes[3]), 401, "invalid_mfa_code")
    assert (await client.get("/v1/me/mfa", headers=staff.headers)).json()["recovery_codes_left"] == 9
    used = await conn.fetchrow(
        "select details from audit_log where action = 'account.mfa_recovery_code_used' and actor_id = $1", staff.id
    )
    assert used is not None and '"recovery_codes_left": 9' in used["details"]


async def test_wrong_codes_count_toward_the_lock_and_end_the_challenge(database_url, conn, hasher, clock):
    settings = make_settings(database_url, login_max_failures=4)
    async with AsyncTestClient(app=create_app(settings)) as client:
        staff = await helpers.account(client, conn, hasher, ["staff"])
        secret, _ = await helpers.enrol_totp(client, staff)
        clock.step()
        challenge = (await _login(client, staff))["challenge"]  # the password's try: 1 counted
        for _ in range(2):
            assert_problem(await _second_step(client, challenge, "000000"), 401, "invalid_mfa_code")
        # The fourth counted try (the password and three codes) locks the account here.
        assert_problem(await _second_step(client, challenge, "000001"), 423, "account_locked")
        assert_problem(await _second_step(client, challenge, totp_code(secret)), 423, "account_locked")
        locked = await client.post("/v1/auth/login", json={"email": staff.email, "password": PASSWORD})
        assert_problem(locked, 401, "invalid_credentials")
        whys = await conn.fetch(
            "select details ->> 'why' as why from audit_log where action = 'account.mfa_failed'"
            " and details ->> 'account_id' = $1 order by id",
            str(staff.id),
        )
        assert [r["why"] for r in whys] == ["wrong", "wrong", "wrong"]


async def test_wrong_tries_at_turning_two_factor_off_count_toward_the_lock(database_url, conn, hasher, clock):
    """Whoever holds an open session and the password gets no more guesses at the code here
    than at sign-in: each refusal is counted, and a locked account checks nothing."""
    settings = make_settings(database_url, login_max_failures=3)
    async with AsyncTestClient(app=create_app(settings)) as client:
        staff = await helpers.account(client, conn, hasher, ["staff"])
        secret, _ = await helpers.enrol_totp(client, staff)
        clock.step()

        def removal(password: str, code: str):
            body = {"password": password, "code": code}
            return client.request("DELETE", "/v1/me/mfa", json=body, headers=staff.headers)

        assert_problem(await removal(PASSWORD, "000000"), 403, "wrong_code")
        assert_problem(await removal("not it at all", totp_code(secret)), 403, "wrong_password")
        assert_problem(await removal(PASSWORD, "000001"), 423, "account_locked")  # the third counted try
        # Locked: even both right factors are refused, and two-factor stays on.
        assert_problem(await removal(PASSWORD, totp_code(secret)), 423, "account_locked")
        status = await client.get("/v1/me/mfa", headers=staff.headers)
        assert status.json()["enabled"] is True
        locked = await client.post("/v1/auth/login", json={"email": staff.email, "password": PASSWORD})
        assert_problem(locked, 401, "invalid_credentials")


async def test_five_wrong_codes_end_the_challenge_and_a_right_code_clears_the_count(client, conn, staff, clock):
    secret, _ = await helpers.enrol_totp(client, staff)
    clock.step()
    challenge = (await _login(client, staff))["challenge"]
    for _ in range(4):
        assert_problem(await _second_step(client, challenge, "999999"), 401, "invalid_mfa_code")
    assert_problem(await _second_step(client, challenge, "999999"), 401, "challenge_expired")
    assert_problem(await _second_step(client, challenge, totp_code(secret)), 401, "challenge_expired")
    challenge = (await _login(client, staff))["challenge"]
    assert (await _second_step(client, challenge, totp_code(secret))).status_code == 201
    assert await conn.fetchval("select count(*) from sign_in_failures where person_id = $1", staff.id) == 0


async def test_a_challenge_runs_out_and_a_password_changed_meanwhile_voids_it(client, staff, clock):
    secret, _ = await helpers.enrol_totp(client, staff)
    clock.step()
    challenge = (await _login(client, staff))["challenge"]
    clock.step(11)  # 5.5 minutes: past the 5-minute challenge
    assert_problem(await _second_step(client, challenge, totp_code(secret)), 401, "challenge_expired")
    challenge = (await _login(client, staff))["challenge"]
    new_password = "a new and much longer passphrase 42"
    changed = await client.post(
        "/v1/me/password",
        json={"current_password": PASSWORD, "new_password": new_password},
        headers=staff.headers,
    )
    assert changed.status_code == 204, changed.text
    voided = await _second_step(client, challenge, totp_code(secret))
    assert "password changed" in assert_problem(voided, 401, "challenge_expired")["detail"]


async def test_a_challenge_of_a_deactivated_account_signs_nobody_in(client, admin, staff, clock):
    secret, _ = await helpers.enrol_totp(client, staff)
    clock.step()
    challenge = (await _login(client, staff))["challenge"]
    deactivated = await client.post(f"/v1/staff/accounts/{staff.id}/deactivate", headers=admin.headers)
    assert deactivated.status_code == 200, deactivated.text
    assert_problem(await _second_step(client, challenge, totp_code(secret)), 403, "account_deactivated")


async def test_turning_two_factor_off_needs_the_password_and_a_code(client, conn, staff, clock):
    secret, _ = await helpers.enrol_totp(client, staff)
    clock.step()
    wrong_password = await client.request(
        "DELETE", "/v1/me/mfa", json={"password": "not it at all", "code": totp_code(secret)}, headers=staff.headers
    )
    assert_problem(wrong_password, 403, "wrong_password")
    wrong_code = await client.request(
        "DELETE", "/v1/me/mfa", json={"password": PASSWORD, "code": "000000"}, headers=staff.headers
    )
    assert_problem(wrong_code, 403, "wrong_code")
    off = await client.request(
        "DELETE", "/v1/me/mfa", json={"password": PASSWORD, "code": totp_code(secret)}, headers=staff.headers
    )
    assert off.status_code == 204, off.text
    again = await client.request(
        "DELETE", "/v1/me/mfa", json={"password": PASSWORD, "code": totp_code(secret)}, headers=staff.headers
    )
    assert_problem(again, 409, "mfa_off")
    signed_in = await client.post("/v1/auth/login", json={"email": staff.email, "password": PASSWORD})
    assert signed_in.status_code == 201, signed_in.text
    actions = await _audit_actions(conn, staff)
    assert actions[-3:] == ["account.mfa_removal_refused", "account.mfa_removal_refused", "account.mfa_removed"]


async def test_an_admin_reset_turns_two_factor_off_for_a_person_who_lost_their_phone(client, conn, admin, staff, clock):
    await helpers.enrol_totp(client, staff)
    listed = (await client.get("/v1/staff/accounts", headers=admin.headers)).json()["items"]
    assert next(a for a in listed if a["id"] == staff.id)["mfa_enabled"] is True
    reset = await client.post(f"/v1/staff/accounts/{staff.id}/reset", headers=admin.headers)
    assert reset.status_code == 200, reset.text
    assert reset.json()["account"]["mfa_enabled"] is False
    details = await conn.fetchval("select details from audit_log where action = 'account.reset'")
    assert '"mfa_removed": true' in details


async def test_a_changed_server_secret_leaves_the_recovery_codes_working(database_url, conn, hasher, clock):
    async with AsyncTestClient(app=create_app(make_settings(database_url))) as client:
        staff = await helpers.account(client, conn, hasher, ["staff"])
        secret, codes = await helpers.enrol_totp(client, staff)
    clock.step()
    rotated = make_settings(database_url, secret_key="another secret key, at least 32 characters long")
    async with AsyncTestClient(app=create_app(rotated)) as client:
        challenge = (await _login(client, staff))["challenge"]
        assert_problem(await _second_step(client, challenge, totp_code(secret)), 401, "invalid_mfa_code")
        assert (await _second_step(client, challenge, codes[0])).status_code == 201


# Roles that must use two-factor: until they set it up, only enrolment is open.

BLOCKED = [("GET", "/v1/me"), ("GET", "/v1/staff/participants"), ("GET", "/v1/staff/watchlist"), ("GET", "/v1/groups")]


async def test_a_role_that_must_use_two_factor_reaches_only_enrolment_until_it_is_on(database_url, conn, hasher, clock):
    settings = make_settings(database_url, require_mfa=frozenset({"admin", "staff"}))
    async with AsyncTestClient(app=create_app(settings)) as client:
        staff = await helpers.account(client, conn, hasher, ["staff"])
        facilitator = await helpers.account(client, conn, hasher, ["facilitator"])
        assert staff.tokens["mfa_enrolment_required"] is True
        assert facilitator.tokens["mfa_enrolment_required"] is False
        for method, path in BLOCKED:
            answer = await client.request(method, path, headers=staff.headers)
            assert_problem(answer, 403, "mfa_enrolment_required")
        assert (await client.get("/v1/me", headers=facilitator.headers)).status_code == 200
        status = (await client.get("/v1/me/mfa", headers=staff.headers)).json()
        assert status["required"] is True and status["enabled"] is False
        refreshed = await client.post("/v1/auth/refresh", json={"refresh_token": staff.tokens["refresh_token"]})
        assert refreshed.json()["mfa_enrolment_required"] is True

        secret, _ = await helpers.enrol_totp(client, staff)
        staff.headers = helpers.bearer(refreshed.json())
        for method, path in BLOCKED:
            answer = await client.request(method, path, headers=staff.headers)
            assert answer.status_code == 200, (path, answer.text)
        # Turned off again, the session is back to enrolment only.
        clock.step()
        off = await client.request(
            "DELETE", "/v1/me/mfa", json={"password": PASSWORD, "code": totp_code(secret)}, headers=staff.headers
        )
        assert off.status_code == 204, off.text
        assert_problem(await client.get("/v1/me", headers=staff.headers), 403, "mfa_enrolment_required")


def test_only_the_set_up_and_the_password_change_stay_open_during_compulsory_enrolment():
    """The gate is app-wide; a handler stays open to a session that must enrol only by
    declaring it. A new route marked so by mistake fails here (BLOCKED above shows the gate
    closes the rest)."""
    from api.security import DURING_MFA_ENROLMENT
    from tests.attack.authorization_policy import SKIPPED_METHODS
    from tests.config import offline_app

    open_routes = {
        (method, route.path)
        for route in offline_app().routes
        for method, handler in getattr(route, "route_handler_map", {}).items()
        if method not in SKIPPED_METHODS
        and (handler[0] if isinstance(handler, tuple) else handler).opt.get(DURING_MFA_ENROLMENT)
    }
    assert open_routes == {
        ("GET", "/v1/me/mfa"),
        ("DELETE", "/v1/me/mfa"),
        ("POST", "/v1/me/mfa/totp"),
        ("POST", "/v1/me/mfa/totp/confirm"),
        ("POST", "/v1/me/password"),
    }


def test_admins_and_staff_must_use_two_factor_unless_configured_otherwise(monkeypatch):
    from api.settings import ConfigError, Settings

    monkeypatch.delenv("AFTERCARE_REQUIRE_MFA", raising=False)
    secret = "s" * 40
    assert Settings.from_env(database_url="postgresql://x/y", secret_key=secret).require_mfa == {"admin", "staff"}
    monkeypatch.setenv("AFTERCARE_REQUIRE_MFA", "none")
    assert Settings.from_env(database_url="postgresql://x/y", secret_key=secret).require_mfa == frozenset()
    monkeypatch.setenv("AFTERCARE_REQUIRE_MFA", "admin, staff,facilitator")
    assert Settings.from_env(database_url="postgresql://x/y", secret_key=secret).require_mfa == {
        "admin",
        "staff",
        "facilitator",
    }
    monkeypatch.setenv("AFTERCARE_REQUIRE_MFA", "staff,participant")
    with pytest.raises(ConfigError, match="participant"):
        Settings.from_env(database_url="postgresql://x/y", secret_key=secret)


@pytest.mark.parametrize("typed", ["１２３４５６", "12345６", "٣٣٣٣٣٣", "12 34 56 78", "ß" * 16, "\x00" * 6, "-" * 64])
async def test_a_code_of_any_shape_is_only_ever_a_wrong_code(client, staff, clock, typed):
    await helpers.enrol_totp(client, staff)
    challenge = (await _login(client, staff))["challenge"]
    assert_problem(await _second_step(client, challenge, typed), 401, "invalid_mfa_code")
