"""Staff accounts' life cycle: set-up codes instead of admin-chosen passwords, passwords
people choose and change themselves, and resets by an admin (issue 16)."""

import datetime as dt

import pytest
import time_machine

from tests import helpers
from tests.clock import ONCE
from tests.helpers import assert_problem

ACCOUNTS = "/v1/staff/accounts"
SETUP = "/v1/auth/setup"
OWN = "/v1/me/password"
CHOSEN = "violet tram umbrella quietly"


async def new_account(client, admin, **fields) -> dict:
    body = {"email": "robin.hale@example.org", "name": "Robin Hale", "roles": ["staff"]} | fields
    response = await client.post(ACCOUNTS, json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def set_up(client, code: str, password: str = CHOSEN) -> dict:
    response = await client.post(SETUP, json={"code": code, "password": password})
    assert response.status_code == 201, response.text
    return response.json()


async def login(client, email: str, password: str):
    return await client.post(helpers.LOGIN, json={"email": email, "password": password})


async def test_a_new_account_has_no_password_only_a_code_stored_hashed(client, conn, admin):
    created = await new_account(client, admin)
    code = created["setup_code"]
    assert len(code) == 12 and created["account"]["email"] == "robin.hale@example.org"
    person = await conn.fetchrow("select password_hash from people where email = 'robin.hale@example.org'")
    assert person["password_hash"] is None
    stored = await conn.fetchrow("select selector, verifier_hash, purpose from activation_codes")
    assert stored["purpose"] == "setup" and stored["selector"] == code[:4]
    assert stored["verifier_hash"].startswith("$argon2") and code.replace("-", "")[4:] not in stored["verifier_hash"]


async def test_the_admin_cannot_choose_the_password_any_more(client, admin):
    body = {"email": "x@example.org", "name": "X", "roles": ["staff"], "password": "correct horse battery staple"}
    assert_problem(await client.post(ACCOUNTS, json=body, headers=admin.headers), 400)


async def test_the_person_chooses_their_password_with_the_code_and_is_signed_in(client, conn, admin):
    created = await new_account(client, admin, roles=["facilitator"])
    tokens = await set_up(client, created["setup_code"])
    assert tokens["roles"] == ["facilitator"] and tokens["person_id"] == created["account"]["id"]
    assert (await client.get("/v1/me", headers=helpers.bearer(tokens))).status_code == 200
    assert (await login(client, "robin.hale@example.org", CHOSEN)).status_code == 201
    actions = await conn.fetch("select action, actor_id from audit_log order by id")
    expected = ["account.create", "account.setup_code_issued", "account.setup_code_used"]
    assert [a["action"] for a in actions][-3:] == expected
    assert str(actions[-1]["actor_id"]) == created["account"]["id"]


async def test_a_set_up_code_works_once(client, admin):
    code = (await new_account(client, admin))["setup_code"]
    await set_up(client, code)
    assert_problem(await client.post(SETUP, json={"code": code, "password": CHOSEN + " again"}), 401, "code_used")


@pytest.mark.clock_instants(*ONCE)
async def test_a_set_up_code_expires_after_72_hours(client, admin):
    created = await new_account(client, admin)
    expires = dt.datetime.fromisoformat(created["setup_code_expires_at"])
    assert expires == dt.datetime.now(dt.UTC) + dt.timedelta(hours=72)
    with time_machine.travel(expires - dt.timedelta(seconds=1), tick=False):
        weak = await client.post(SETUP, json={"code": created["setup_code"], "password": "password1234"})
        assert_problem(weak, 400, "validation_failed")  # still redeemable: the password is refused
    with time_machine.travel(expires, tick=False):
        late = await client.post(SETUP, json={"code": created["setup_code"], "password": CHOSEN})
        assert_problem(late, 401, "code_expired")


async def test_wrong_set_up_codes_lock_the_code(client, conn, admin, settings):
    code = (await new_account(client, admin))["setup_code"]
    wrong = code[:5] + ("0000-00" if code[5:] != "0000-00" else "1111-11")
    for _ in range(settings.activation_max_attempts - 1):
        assert_problem(await client.post(SETUP, json={"code": wrong, "password": CHOSEN}), 401, "invalid_code")
    assert_problem(await client.post(SETUP, json={"code": wrong, "password": CHOSEN}), 423, "code_locked")
    assert_problem(await client.post(SETUP, json={"code": code, "password": CHOSEN}), 423, "code_locked")
    assert await conn.fetchval("select password_hash from people where email = 'robin.hale@example.org'") is None


async def test_codes_only_redeem_for_their_own_purpose(client, admin, staff):
    setup_code = (await new_account(client, admin))["setup_code"]
    activation_code = (await helpers.enroll(client, staff))["activation_code"]
    assert_problem(await client.post("/v1/auth/activate", json={"code": setup_code}), 401, "invalid_code")
    assert_problem(await client.post(SETUP, json={"code": activation_code, "password": CHOSEN}), 401, "invalid_code")


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short pass", "at least 12 characters"),
        ("password1234", "too easy to guess"),
        ("qwertyuiopasdf", "too easy to guess"),
        ("robin.hale-is-here-2026", "email"),
        ("xyzzy Hale plover 77", "name"),
    ],
)
async def test_weak_passwords_are_refused_with_the_reason(client, conn, admin, password, why):
    code = (await new_account(client, admin))["setup_code"]
    refused = assert_problem(await client.post(SETUP, json={"code": code, "password": password}), 400)
    assert refused["errors"][0]["field"] == "password" and why in refused["detail"]
    assert await conn.fetchval("select used_at is null and failed_attempts = 0 from activation_codes")
    await set_up(client, code)  # the code still works once the password is good


async def test_changing_my_password_ends_my_other_sessions_but_keeps_this_one(client, conn, staff):
    other = (await login(client, staff.email, helpers.PASSWORD)).json()
    response = await client.post(
        OWN, json={"current_password": helpers.PASSWORD, "new_password": CHOSEN}, headers=staff.headers
    )
    assert response.status_code == 204, response.text
    assert (await client.get("/v1/me", headers=staff.headers)).status_code == 200
    assert_problem(await client.get("/v1/me", headers=helpers.bearer(other)), 401)
    assert_problem(await client.post("/v1/auth/refresh", json={"refresh_token": other["refresh_token"]}), 401)
    assert (await login(client, staff.email, helpers.PASSWORD)).status_code == 401
    assert (await login(client, staff.email, CHOSEN)).status_code == 201
    live = await conn.fetchval("select count(*) from auth_sessions where revoked_at is null")
    assert live == 2  # this one and the new sign-in
    assert await conn.fetchval("select count(*) from audit_log where action = 'account.password_changed'") == 1


async def test_a_wrong_current_password_changes_nothing(client, conn, staff):
    before = await conn.fetchval("select password_hash from people where id = $1", staff.id)
    body = {"current_password": "not my password at all", "new_password": CHOSEN}
    refused = assert_problem(await client.post(OWN, json=body, headers=staff.headers), 403, "wrong_password")
    assert "current_password" in refused["detail"]
    assert await conn.fetchval("select password_hash from people where id = $1", staff.id) == before
    assert await conn.fetchval("select count(*) from audit_log where action = 'account.password_change_refused'") == 1


@pytest.mark.parametrize("new_password", ["short", "password1234", "staff-password-99", "Staff Staff Staff!"])
async def test_my_new_password_must_be_strong(client, conn, staff, new_password):
    before = await conn.fetchval("select password_hash from people where id = $1", staff.id)
    body = {"current_password": helpers.PASSWORD, "new_password": new_password}
    refused = assert_problem(await client.post(OWN, json=body, headers=staff.headers), 400, "validation_failed")
    assert refused["errors"][0]["field"] == "new_password"
    assert await conn.fetchval("select password_hash from people where id = $1", staff.id) == before


async def test_graduates_have_no_password_to_change(client, graduate):
    body = {"current_password": "anything at all", "new_password": CHOSEN}
    assert_problem(await client.post(OWN, json=body, headers=graduate.headers), 403)


async def test_a_reset_ends_sessions_refuses_the_old_password_and_the_new_code_works(client, conn, admin, staff):
    response = await client.post(f"{ACCOUNTS}/{staff.id}/reset", headers=admin.headers)
    assert response.status_code == 200, response.text
    reset = response.json()
    assert reset["account"]["id"] == staff.id
    assert_problem(await client.get("/v1/me", headers=staff.headers), 401)
    assert (await login(client, staff.email, helpers.PASSWORD)).status_code == 401
    assert await conn.fetchval("select password_hash from people where id = $1", staff.id) is None
    tokens = await set_up(client, reset["setup_code"])
    assert tokens["roles"] == ["staff"]
    assert (await login(client, staff.email, CHOSEN)).status_code == 201
    audited = await conn.fetch("select action, details from audit_log where action like 'account.%' order by id")
    assert [a["action"] for a in audited] == ["account.reset", "account.setup_code_issued", "account.setup_code_used"]


async def test_a_reset_replaces_an_unused_set_up_code(client, admin):
    first = (await new_account(client, admin))["setup_code"]
    account_id = (await client.get(ACCOUNTS, headers=admin.headers)).json()["items"][0]["id"]
    second = (await client.post(f"{ACCOUNTS}/{account_id}/reset", headers=admin.headers)).json()["setup_code"]
    assert_problem(await client.post(SETUP, json={"code": first, "password": CHOSEN}), 401, "code_replaced")
    await set_up(client, second)


async def test_resetting_yourself_or_an_unknown_account_is_refused(client, admin, graduate):
    assert_problem(await client.post(f"{ACCOUNTS}/{admin.id}/reset", headers=admin.headers), 409, "cannot_reset_self")
    assert_problem(await client.post(f"{ACCOUNTS}/{graduate.id}/reset", headers=admin.headers), 404)
    unknown = "00000000-0000-4000-8000-000000000000"
    assert_problem(await client.post(f"{ACCOUNTS}/{unknown}/reset", headers=admin.headers), 404)


async def test_only_admins_reset(client, staff):
    assert_problem(await client.post(f"{ACCOUNTS}/{staff.id}/reset", headers=staff.headers), 403)


async def test_a_very_long_password_is_scored_by_its_start_and_accepted(client, staff):
    long_one = ("violet tram umbrella quietly " * 40)[:1024]
    body = {"current_password": helpers.PASSWORD, "new_password": long_one}
    assert (await client.post(OWN, json=body, headers=staff.headers)).status_code == 204
    assert (await login(client, staff.email, long_one)).status_code == 201


async def test_a_short_email_or_name_does_not_rule_out_every_password_with_its_letters(client, admin):
    code = (await new_account(client, admin, email="al@example.org", name="Al Jo"))["setup_code"]
    await set_up(client, code, "calm jolly almond tractor")  # "al" and "jo" inside, yet not their name


async def test_a_reset_between_checking_and_storing_a_change_wins(client, conn, staff, monkeypatch):
    from db import people as people_db

    read = people_db.get_password_holder

    async def read_then_reset(app_conn, person_id):
        holder = await read(app_conn, person_id)
        await app_conn.execute("update people set password_hash = null where id = $1", person_id)  # a reset
        return holder

    monkeypatch.setattr(people_db, "get_password_holder", read_then_reset)
    body = {"current_password": helpers.PASSWORD, "new_password": CHOSEN}
    assert_problem(await client.post(OWN, json=body, headers=staff.headers), 409, "password_changed_meanwhile")
    assert await conn.fetchval("select password_hash from people where id = $1", staff.id) is None
