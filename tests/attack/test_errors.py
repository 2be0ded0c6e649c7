"""Bad input gets a clear problem+json 4xx that names what is wrong, and nothing is written."""

import pytest

from tests.helpers import assert_problem

ENROL = "/v1/staff/participants"
GOOD = {"alias": "Sam", "timezone": "America/Chicago", "iop_completed_on": "2026-11-01"}


async def count_people(conn):
    return await conn.fetchval("select count(*) from people where 'participant' = any(roles)")


async def test_malformed_json(client, conn, staff):
    response = await client.post(
        ENROL, content=b'{"alias": "Sam",', headers=staff.headers | {"Content-Type": "application/json"}
    )
    body = assert_problem(response, 400, "malformed_request")
    assert "JSON" in body["detail"]
    assert await count_people(conn) == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"alias": 42}, "alias"),
        ({"iop_completed_on": "yesterday"}, "iop_completed_on"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"timezone": "../../etc/passwd"}, "timezone"),
        ({"alias": "x" * 51}, "alias"),
        ({"alias": ""}, "alias"),
        ({"email": "not-an-email"}, "email"),
        ({"phone": "call me maybe"}, "phone"),
        ({"counselor_id": "not-a-uuid"}, "counselor_id"),
        ({"sobriety_date": "2999-01-01"}, "sobriety_date"),
        ({"surname": "Smith"}, "surname"),
    ],
)
async def test_bad_fields_are_named(client, conn, staff, change, field):
    response = await client.post(ENROL, json=GOOD | change, headers=staff.headers)
    body = assert_problem(response, 400, "validation_failed")
    assert field in [e["field"] for e in body["errors"]], body
    assert await count_people(conn) == 0


async def test_missing_required_field_and_missing_body(client, staff):
    body = assert_problem(await client.post(ENROL, json={"alias": "Sam"}, headers=staff.headers), 400)
    assert body["errors"][0]["field"] in ("timezone", "iop_completed_on")
    assert body["errors"][0]["message"] == "is required"
    empty = assert_problem(await client.post("/v1/auth/login"), 400)
    assert empty["errors"] == [{"field": "body", "source": "body", "message": "a JSON object is required"}]


async def test_blank_alias_and_plain_pattern_messages(client, staff):
    blank = assert_problem(await client.post(ENROL, json=GOOD | {"alias": "   "}, headers=staff.headers), 400)
    assert blank["errors"] == [
        {
            "field": "alias",
            "source": "body",
            "message": "must not be blank, nor hold line breaks, tabs or invisible formatting characters",
        }
    ]
    email = assert_problem(await client.post(ENROL, json=GOOD | {"email": "nope"}, headers=staff.headers), 400)
    assert email["errors"][0]["message"] == "is not an email address"


async def test_unknown_enum_value(client, admin):
    body = {"email": "a@example.org", "name": "A", "roles": ["superuser"]}
    problem = assert_problem(await client.post("/v1/staff/accounts", json=body, headers=admin.headers), 400)
    assert "roles" in problem["detail"]
    query = assert_problem(await client.get(ENROL, params={"status": "sleeping"}, headers=admin.headers), 400)
    assert "status" in query["detail"]


async def test_bad_query_and_path_values(client, staff):
    assert_problem(await client.get(ENROL, params={"limit": 0}, headers=staff.headers), 400)
    assert_problem(await client.get(ENROL, params={"limit": 1000}, headers=staff.headers), 400)
    assert_problem(await client.get(ENROL, params={"cursor": "garbage!"}, headers=staff.headers), 400)
    # A malformed id in the path is just an unknown address.
    assert_problem(await client.get(f"{ENROL}/not-a-uuid", headers=staff.headers), 404)


async def test_body_over_one_mebibyte_is_413(client, conn, staff):
    big = GOOD | {"alias": "x" * (1024 * 1024)}
    assert_problem(await client.post(ENROL, json=big, headers=staff.headers), 413, "body_too_large")
    assert await count_people(conn) == 0


async def test_duplicate_is_409_not_500(client, admin):
    body = {"email": "dup@example.org", "name": "A", "roles": ["staff"]}
    assert (await client.post("/v1/staff/accounts", json=body, headers=admin.headers)).status_code == 201
    response = await client.post("/v1/staff/accounts", json=body | {"email": "DUP@example.org"}, headers=admin.headers)
    problem = assert_problem(response, 409, "email_taken")
    assert problem["detail"] == "An account with this email already exists."


async def test_unknown_route_and_method(client, staff):
    assert_problem(await client.get("/v1/nothing-here"), 404)
    assert_problem(await client.put("/v1/me", json={}, headers=staff.headers), 405)


async def test_options_on_a_role_guarded_route_answers_its_methods_not_a_server_error(client, staff):
    # The auth middleware skips OPTIONS (a browser's preflight has no token), so the
    # controller's role guard once found no user and Litestar's 500 leaked its own words.
    for headers in ({}, staff.headers):
        for path in ("/v1/staff/participants", "/v1/checkins", "/v1/staff/alerts/1"):
            answer = await client.options(path, headers=headers)
            assert answer.status_code == 204, answer.text
            assert "OPTIONS" in answer.headers["allow"]
            assert answer.content == b""


async def test_wrong_content_is_not_a_500(client, staff):
    response = await client.post(
        ENROL, content=b"\xff\xfe not json", headers=staff.headers | {"Content-Type": "application/json"}
    )
    assert_problem(response, 400)
    response = await client.post(ENROL, json=["a", "list"], headers=staff.headers)
    assert_problem(response, 400)


async def test_a_failed_enrolment_leaves_nothing_half_written(client, conn, staff, monkeypatch):
    from api.participants import routes

    async def fail(*args, **kwargs):
        raise RuntimeError("code service broke")

    monkeypatch.setattr(routes, "issue_activation_code", fail)
    assert_problem(await client.post(ENROL, json=GOOD, headers=staff.headers), 500, "internal_error")
    assert await count_people(conn) == 0
    assert await conn.fetchval("select count(*) from participant_profiles") == 0
    assert await conn.fetchval("select count(*) from audit_log") == 0


async def test_statements_are_cut_off_by_the_server(database_url):
    import asyncpg
    import pytest

    from db.pool import create_pool

    pool = await create_pool(database_url, statement_timeout_ms=100)
    try:
        with pytest.raises(asyncpg.QueryCanceledError):
            await pool.execute("select pg_sleep(2)")
    finally:
        await pool.close()


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        ("post", "/v1/auth/login", {"email": "a\u0000@b.c", "password": "x"}),
        ("post", ENROL, GOOD | {"alias": "Sa\u0000m"}),
        ("patch", "/v1/me", {"alias": "Sa\u0000m"}),
    ],
)
async def test_nul_characters_are_a_400(client, conn, admin, method, path, payload):
    response = await getattr(client, method)(path, json=payload, headers=admin.headers)
    assert_problem(response, 400, "validation_failed")
    assert await count_people(conn) == 0


@pytest.mark.parametrize(
    ("path", "values"),
    [
        (ENROL, ["2026-01-01T00:00:00+00:00", 5]),
        (ENROL, ["2026-01-01T00:00:00", "8d3c1c1e-0000-4000-8000-000000000000"]),  # no offset
        (ENROL, [1, 2]),
        ("/v1/staff/audit", ["Infinity"]),
        ("/v1/staff/audit", [10**30]),
        ("/v1/staff/audit", [1.5]),
        ("/v1/staff/audit", {"id": 1}),
    ],
)
async def test_forged_cursors_are_a_400(client, admin, path, values):
    import base64
    import json

    cursor = base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")
    response = await client.get(path, params={"cursor": cursor}, headers=admin.headers)
    assert assert_problem(response, 400, "validation_failed")["errors"][0]["field"] == "cursor"


async def test_nul_in_a_query_filter_is_a_400(client, admin):
    assert_problem(await client.get("/v1/staff/audit", params={"action": "a\u0000"}, headers=admin.headers), 400)
