"""Redeeming activation codes: every way it can go wrong, and the lock-out."""

from datetime import UTC

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from api.app import create_app
from tests import helpers
from tests.clock import ONCE
from tests.config import make_settings
from tests.helpers import assert_problem


async def test_code_is_short_typable_and_stored_only_hashed(client, conn, staff):
    enrolled = await helpers.enroll(client, staff)
    code = enrolled["activation_code"]
    assert len(code) == 12 and code[4] == "-" and code[9] == "-"
    assert not set(code.replace("-", "")) & set("ILOU")
    stored = await conn.fetchrow("select selector, verifier_hash from activation_codes")
    assert stored["selector"] == code[:4]
    assert code.replace("-", "")[4:] not in stored["verifier_hash"]
    assert stored["verifier_hash"].startswith("$argon2")


async def test_activation_gives_a_working_session(client, conn, staff):
    enrolled = await helpers.enroll(client, staff)
    tokens = await helpers.activate(client, enrolled["activation_code"])
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 900
    assert tokens["roles"] == ["participant"]
    me = await client.get("/v1/me", headers=helpers.bearer(tokens))
    assert me.json()["id"] == enrolled["id"]
    assert await conn.fetchval("select activated_at is not null from participant_profiles") is True


async def test_code_typed_loosely_still_works(client, staff):
    code = (await helpers.enroll(client, staff))["activation_code"]
    sloppy = " " + code.lower().replace("-", " ") + " "
    await helpers.activate(client, sloppy)


async def test_wrong_code(client, staff):
    code = (await helpers.enroll(client, staff))["activation_code"]
    other = code[:5] + ("0000-00" if code[5:] != "0000-00" else "1111-11")
    assert_problem(await client.post("/v1/auth/activate", json={"code": other}), 401, "invalid_code")
    unknown_selector = ("ZZZZ" if code[:4] != "ZZZZ" else "YYYY") + code[4:]
    assert_problem(await client.post("/v1/auth/activate", json={"code": unknown_selector}), 401, "invalid_code")


async def test_malformed_code_is_a_400_naming_the_field(client):
    body = assert_problem(await client.post("/v1/auth/activate", json={"code": "abc"}), 400, "validation_failed")
    assert body["errors"][0]["field"] == "code"


async def test_code_works_once(client, staff):
    code = (await helpers.enroll(client, staff))["activation_code"]
    await helpers.activate(client, code)
    assert_problem(await client.post("/v1/auth/activate", json={"code": code}), 401, "code_used")


async def test_expired_code(client, conn, staff):
    code = (await helpers.enroll(client, staff))["activation_code"]
    await conn.execute("update activation_codes set expires_at = now() - interval '1 second'")
    assert_problem(await client.post("/v1/auth/activate", json={"code": code}), 401, "code_expired")


@pytest.mark.clock_instants(*ONCE)
async def test_code_expires_after_seven_days(client, staff):
    enrolled = await helpers.enroll(client, staff)
    from datetime import datetime, timedelta

    expires = datetime.fromisoformat(enrolled["activation_expires_at"])
    assert abs(expires - (datetime.now(UTC) + timedelta(days=7))) < timedelta(minutes=1)


async def test_reissued_code_replaces_the_old_one(client, staff):
    enrolled = await helpers.enroll(client, staff)
    response = await client.post(f"/v1/staff/participants/{enrolled['id']}/activation-code", headers=staff.headers)
    assert response.status_code == 201, response.text
    new_code = response.json()["activation_code"]
    assert new_code != enrolled["activation_code"]
    old = await client.post("/v1/auth/activate", json={"code": enrolled["activation_code"]})
    assert_problem(old, 401, "code_replaced")
    await helpers.activate(client, new_code)


async def test_wrong_guesses_lock_the_code_even_for_the_right_code(client, conn, staff):
    code = (await helpers.enroll(client, staff))["activation_code"]
    selector = code[:4]
    wrong = [f"{selector}-{v[:4]}-{v[4:]}" for v in ("000000", "111111", "222222", "333333", "444444")]
    wrong = [w for w in wrong if w != code][:5]
    for attempt in wrong[:4]:
        assert_problem(await client.post("/v1/auth/activate", json={"code": attempt}), 401, "invalid_code")
    assert_problem(await client.post("/v1/auth/activate", json={"code": wrong[4]}), 423, "code_locked")
    assert await conn.fetchval("select failed_attempts from activation_codes") == 5
    assert_problem(await client.post("/v1/auth/activate", json={"code": code}), 423, "code_locked")


async def test_deactivated_graduate_cannot_activate(client, staff):
    enrolled = await helpers.enroll(client, staff)
    response = await client.post(f"/v1/staff/participants/{enrolled['id']}/deactivate", headers=staff.headers)
    assert response.status_code == 200
    response = await client.post("/v1/auth/activate", json={"code": enrolled["activation_code"]})
    assert_problem(response, 403, "account_deactivated")


async def test_sign_in_is_rate_limited(database_url, conn):
    app = create_app(make_settings(database_url, auth_rate_limit_per_minute=3))
    async with AsyncTestClient(app=app) as client:
        answers = [await client.post("/v1/auth/activate", json={"code": "AAAA-BBBB-CC"}) for _ in range(4)]
    assert [a.status_code for a in answers[:3]] == [401, 401, 401]
    body = assert_problem(answers[3], 429, "rate_limited")
    assert "wait" in body["detail"].lower()
    assert "retry-after" in {k.lower() for k in answers[3].headers}


@pytest.mark.parametrize("path", ["/v1/auth/refresh", "/v1/auth/logout"])
async def test_refresh_and_logout_are_not_counted_against_sign_in(database_url, conn, path):
    app = create_app(make_settings(database_url, auth_rate_limit_per_minute=1))
    async with AsyncTestClient(app=app) as client:
        answers = [await client.post(path, json={"refresh_token": "nope"}) for _ in range(3)]
    assert all(a.status_code in (401, 204) for a in answers)


async def test_codes_never_share_a_live_selector(conn):
    await conn.execute(
        "insert into people (id, roles, name) values "
        "('00000000-0000-0000-0000-000000000001', array['participant'], 'A'),"
        "('00000000-0000-0000-0000-000000000002', array['participant'], 'B')"
    )
    await conn.execute(
        "insert into activation_codes (person_id, selector, verifier_hash, expires_at) "
        "values ('00000000-0000-0000-0000-000000000001', 'ABCD', 'x', now() + interval '1 day')"
    )
    with pytest.raises(asyncpg.UniqueViolationError):
        await conn.execute(
            "insert into activation_codes (person_id, selector, verifier_hash, expires_at) "
            "values ('00000000-0000-0000-0000-000000000002', 'ABCD', 'y', now() + interval '1 day')"
        )
