"""Abuse: guessing credentials, oversized and malformed input, and what error answers repeat
(what every answer carries, and cross-site use: tests/attack/test_headers.py). The numbers that
matter are printed too (run with -s to see them).

Many cases are generated from the app itself (every request body field, every parameter
of every operation), so a new route is covered without touching this file."""

from __future__ import annotations

import datetime as dt
import re
import socket
import time
import uuid

import msgspec
import msgspec.inspect as mi
import pytest
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.auth.credentials import CODE_ALPHABET, VERIFIER_LENGTH
from api.settings import Settings
from db import people as people_db
from tests import helpers
from tests.config import make_settings
from tests.helpers import ENROL, LOGIN, PASSWORD, assert_problem, login_body
from tests.live_server import LiveServer
from tests.summary import report

ACTIVATE = "/v1/auth/activate"
MARKER = "Zq9Marker"  # sent in bad values; no answer may repeat it


async def _account(conn, hasher, roles=("staff",)) -> str:
    """A password account made in the database only: signing in would spend an attempt."""
    email = f"{roles[0]}-{uuid.uuid4().hex[:8]}@example.org"
    await people_db.insert_account(
        conn, email=email, password_hash=await hasher.hash(PASSWORD), name="S", roles=list(roles), timezone="UTC"
    )
    return email


# --- Guessing: the rate limit, the password lock-out, the activation-code lock ------------


async def test_one_address_gets_the_rate_limit_then_429(database_url, conn, hasher):
    limit = Settings.auth_rate_limit_per_minute  # the real default, not the tests' raised one
    app = create_app(make_settings(database_url, auth_rate_limit_per_minute=limit))
    email = await _account(conn, hasher)
    async with AsyncTestClient(app=app) as client:
        allowed = 0
        while (answer := await client.post(LOGIN, json=login_body(email, "wrong password"))).status_code != 429:
            assert_problem(answer, 401, "invalid_credentials")
            allowed += 1
            assert allowed <= 100, "no rate limit"
        body = assert_problem(answer, 429, "rate_limited")
        assert int(answer.headers["retry-after"]) > 0 and "wait" in body["detail"].lower()
        # One budget per address for every way in, and the right password gets no exception.
        assert_problem(await client.post(ACTIVATE, json={"code": "AAAA-BBBB-CC"}), 429)
        assert_problem(await client.post(LOGIN, json=login_body(email, PASSWORD)), 429)
    report(f"sign-in attempts one address gets per minute before 429: {allowed} (setting {limit})")
    assert allowed == limit


async def test_wrong_passwords_lock_the_account_even_for_the_right_one(client, conn, hasher, settings):
    # `client` raises only the rate limit (conftest): the per-account-and-address count is what stops here.
    assert settings.login_max_failures == Settings.login_max_failures
    email = await _account(conn, hasher)

    async def locked() -> bool:
        return await conn.fetchval(
            "select coalesce(bool_or(f.locked_until > now()), false) from sign_in_failures f "
            "join people p on p.id = f.person_id where p.email = $1",
            email,
        )

    wrong = 0
    while not await locked():
        wrong_answer = assert_problem(
            await client.post(LOGIN, json=login_body(email, "wrong")), 401, "invalid_credentials"
        )
        wrong += 1
        assert wrong <= 100, "never locked"
    # Locked: the right password gets the very answer a wrong one gets, so a guesser learns nothing.
    right_answer = assert_problem(
        await client.post(LOGIN, json=login_body(email, PASSWORD)), 401, "invalid_credentials"
    )
    assert right_answer == wrong_answer
    lock_left = await conn.fetchval(
        "select f.locked_until - now() from sign_in_failures f join people p on p.id = f.person_id where p.email = $1",
        email,
    )
    report(
        f"wrong passwords before the account locks: {wrong} (setting {Settings.login_max_failures}); "
        f"locked for {lock_left.total_seconds() / 60:.0f} min, answered 401 invalid_credentials, right password too"
    )
    assert wrong == Settings.login_max_failures
    assert (
        dt.timedelta(minutes=Settings.login_lock_minutes - 1)
        < lock_left
        <= dt.timedelta(minutes=Settings.login_lock_minutes)
    )


def _wrong_verifiers(right: str):
    for digit in CODE_ALPHABET:
        if (guess := digit * VERIFIER_LENGTH) != right:
            yield guess


async def test_wrong_codes_lock_the_code_even_for_the_right_one(client, staff, settings):
    assert settings.activation_max_attempts == Settings.activation_max_attempts
    code = (await helpers.enroll(client, staff))["activation_code"]
    raw = code.replace("-", "")
    selector, right = raw[:4], raw[4:]
    guesses = 0
    for verifier in _wrong_verifiers(right):
        answer = await client.post(ACTIVATE, json={"code": selector + verifier})
        guesses += 1
        if answer.status_code == 423:
            break
        assert_problem(answer, 401, "invalid_code")
    assert_problem(answer, 423, "code_locked")
    assert_problem(await client.post(ACTIVATE, json={"code": code}), 423, "code_locked")
    report(
        f"wrong guesses before an activation code locks: {guesses} "
        f"(setting {Settings.activation_max_attempts}); then 423 code_locked, right code too; "
        f"chance a locked-out guesser had: {guesses} in {len(CODE_ALPHABET) ** VERIFIER_LENGTH:,}"
    )
    assert guesses == Settings.activation_max_attempts


# --- Bodies: size, shape, encoding, type ---------------------------------------------------


def _read_answer(sock: socket.socket, timeout_s: float) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 answer from a raw socket: status, headers, body (by Content-Length)."""
    sock.settimeout(timeout_s)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed without an answer: {data!r}")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, value in (line.split(":", 1) for line in lines)}
    while len(body) < int(headers.get("content-length", 0)):
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed in the middle of the body: {body!r}")
        body += chunk
    return int(status_line.split()[1]), headers, body


def _exchange(port: int, head: bytes, *parts: bytes, timeout_s: float = 10) -> tuple[int, dict, bytes, float]:
    """Send a request as raw bytes (any framing, true or not) to a real server; the answer
    and how long it took. A server may answer before reading all, so sending may fail."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        try:
            for part in (head, *parts):
                sock.sendall(part)
        except OSError:
            pass
        status, headers, body = _read_answer(sock, timeout_s)
    return status, headers, body, time.monotonic() - started


@pytest.fixture
def live_port(database_url, conn):
    settings = make_settings(database_url, body_timeout_s=1.0)
    with LiveServer(settings) as server:
        yield int(server.url.rsplit(":", 1)[1])


POST_LOGIN = b"POST /v1/auth/login HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n"
BIG = b'{"email": "' + b"a" * (2 * 1024 * 1024) + b'", "password": "x"}'


def _chunked(body: bytes, size: int = 65536) -> bytes:
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


@pytest.mark.parametrize(
    ("how", "head", "body"),
    [
        pytest.param(how, head, body, id=how)
        for how, head, body in [
            ("announced, not sent", POST_LOGIN + b"Content-Length: %d\r\n\r\n" % len(BIG), b""),
            ("announced and sent", POST_LOGIN + b"Content-Length: %d\r\n\r\n" % len(BIG), BIG),
            ("chunked, no length", POST_LOGIN + b"Transfer-Encoding: chunked\r\n\r\n", _chunked(BIG)),
        ]
    ],
)
def test_a_body_over_the_limit_is_413(live_port, how, head, body):
    status, headers, answer, took = _exchange(live_port, head, body)
    print(f"\n2 MiB body, {how}: {status} in {took:.2f} s")
    assert status == 413 and headers["content-type"].startswith("application/problem+json")
    assert msgspec.json.decode(answer)["code"] == "body_too_large"


def test_a_body_that_stops_arriving_is_a_408(live_port):
    # It announces 1,000 bytes and sends 8: without a deadline the request would wait forever.
    status, headers, answer, took = _exchange(live_port, POST_LOGIN + b"Content-Length: 1000\r\n\r\n", b'{"email"')
    print(f"\nbody announced but never sent: {status} after {took:.2f} s (body_timeout_s 1.0)")
    assert status == 408 and headers["content-type"].startswith("application/problem+json")
    assert msgspec.json.decode(answer)["code"] == "body_timeout"
    assert took < 3


def test_a_content_length_shorter_than_the_body_is_refused(live_port):
    # The server reads what was announced; the rest cannot be a request. Which layer says so
    # (the app: malformed JSON, or uvicorn: "Invalid HTTP request") depends on timing.
    status, _, _, took = _exchange(live_port, POST_LOGIN + b"Content-Length: 20\r\n\r\n", BIG[:100_000])
    print(f"\nContent-Length 20 with 100 kB sent: {status} in {took:.2f} s")
    assert status == 400


NESTED = {
    "arrays": b"[" * 100_000 + b"]" * 100_000,
    "objects": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "in a field": b'{"alias":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
}


@pytest.mark.parametrize("shape", NESTED)
async def test_deeply_nested_json_is_a_quick_400(client, staff, shape):
    started = time.monotonic()
    answer = await client.post(
        ENROL, content=NESTED[shape], headers=staff.headers | {"Content-Type": "application/json"}
    )
    took = time.monotonic() - started
    print(f"\n100,000 levels of nested {shape}: {answer.status_code} in {took:.3f} s")
    assert "nested too deeply" in assert_problem(answer, 400, "malformed_request")["detail"]
    assert took < 1


@pytest.mark.parametrize("body", [b"[]", b'["a"]', b"5", b"null", b"true", b'"text"'])
async def test_a_json_body_that_is_not_an_object_is_a_400(client, staff, body):
    answer = await client.post(ENROL, content=body, headers=staff.headers | {"Content-Type": "application/json"})
    assert_problem(answer, 400, "validation_failed")


@pytest.mark.parametrize(
    "bad",
    [
        b"\xff\xfe",  # never UTF-8
        b"\xc0\xaf",  # an overlong "/"
        b"\xed\xa0\x80",  # a UTF-16 surrogate, encoded
        b"Sa\x80m",  # a lone continuation byte
    ],
)
async def test_invalid_utf8_in_a_json_body_is_a_400(client, conn, staff, bad):
    body = b'{"alias": "' + bad + b'", "timezone": "UTC", "iop_completed_on": "2026-01-01"}'
    answer = await client.post(ENROL, content=body, headers=staff.headers | {"Content-Type": "application/json"})
    assert "UTF-8" in assert_problem(answer, 400, "malformed_request")["detail"]
    assert await conn.fetchval("select count(*) from people where 'participant' = any(roles)") == 0


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml", None],
)
async def test_a_body_not_declared_json_is_a_415_and_no_attempt(client, conn, hasher, content_type):
    # What a page on any site can make a browser send without a CORS preflight.
    email = await _account(conn, hasher)
    headers = {"Content-Type": content_type} if content_type else {}
    answer = await client.post(LOGIN, content=msgspec.json.encode(login_body(email, "wrong")), headers=headers)
    assert_problem(answer, 415, "unsupported_media_type")
    assert await conn.fetchval("select failed_logins from people where email = $1", email) == 0


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON"])
async def test_json_with_parameters_or_capitals_is_json(client, conn, hasher, content_type):
    email = await _account(conn, hasher)
    body = msgspec.json.encode(login_body(email, PASSWORD))
    assert (await client.post(LOGIN, content=body, headers={"Content-Type": content_type})).status_code == 201


# --- Text fields: every one has a maximum, and a huge value is a 400 naming it -------------


def _request_bodies():
    """(method, route path, body type) of every operation that takes a JSON body."""
    app = create_app(make_settings("postgresql://unused"))
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                if data := handler.parsed_fn_signature.parameters.get("data"):
                    yield sorted(handler.http_methods)[0], route.path, data.annotation


def _text_fields(info, path=()):
    """(JSON path, StrType) of every text value a body can hold, nested ones included."""
    if isinstance(info, mi.StrType):
        yield path, info
    elif isinstance(info, mi.UnionType):
        for member in info.types:
            yield from _text_fields(member, path)
    elif isinstance(info, (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)):
        yield from _text_fields(info.item_type, (*path, 0))
    elif isinstance(info, mi.StructType):
        for field in info.fields:
            yield from _text_fields(field.type, (*path, field.encode_name))
    elif isinstance(info, mi.DictType):
        for part in (info.key_type, info.value_type):
            yield from (item for item in _text_fields(part, (*path, "*")) if item[1] is None)
    elif isinstance(info, mi.AnyType):
        yield path, None  # free-form: nothing bounds it


def _bounded_text_fields():
    """(method, route path, JSON path, its maximum) of every bounded text field of a body."""
    for method, path, body_type in _request_bodies():
        for json_path, info in _text_fields(mi.type_info(body_type)):
            if info is not None and info.max_length is not None:  # the unbounded: the next test
                yield method, path, json_path, info.max_length


def _dotted(json_path) -> str:
    return "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in json_path).lstrip(".")


def test_every_text_field_of_a_request_body_has_a_max_length():
    unbounded = [
        f"{method} {path}: {_dotted(json_path)}"
        for method, path, body_type in _request_bodies()
        for json_path, info in _text_fields(mi.type_info(body_type))
        if info is None or info.max_length is None
    ]
    assert unbounded == [], "give these msgspec.Meta(max_length=...):\n" + "\n".join(unbounded)


def _nest(json_path, value):
    for step in reversed(json_path):
        value = [value] if isinstance(step, int) else {step: value}
    return value


def _concrete(path: str) -> str:
    """A route path with well-formed values for its parameters: the body is what is tested."""
    values = {"uuid": str(uuid.uuid4()), "int": "1", "str": "x"}
    return re.sub(r"\{[^}:]+:(\w+)\}", lambda m: values[m.group(1)], path)


async def _send_as_someone_allowed(client, method, path, body, actors):
    for actor in actors:  # an admin first; a participant where only participants may go
        answer = await client.request(method, path, json=body, headers=actor.headers)
        if answer.status_code != 403:
            return answer
    return answer


async def test_a_huge_value_in_any_text_field_is_a_400_naming_it(client, admin, graduate):
    """Just over each field's maximum, and as long as the body limit leaves room for: a 400
    that names the field and does not repeat the value. One test over all fields (a
    parametrized test would sign in two people for each of the many)."""
    wrong, fields = [], list(_bounded_text_fields())
    for method, path, json_path, maximum in fields:
        field = _dotted(json_path)
        for length in (maximum + 1, 1024 * 1024 - 1024):
            body = _nest(json_path, (MARKER * (length // len(MARKER) + 1))[:length])
            answer = await _send_as_someone_allowed(client, method, _concrete(path), body, [admin, graduate])
            named = answer.status_code == 400 and field in [e["field"] for e in answer.json().get("errors", [])]
            if not named or MARKER in answer.text or not _is_problem(answer):
                wrong.append(f"{method} {path} {field} ({length} chars): {answer.status_code} {answer.text[:200]}")
    print(f"\nhuge values tried in {len(fields)} bounded text fields of request bodies")
    assert len(fields) > 30 and wrong == [], "\n".join(wrong)


def _is_problem(answer) -> bool:
    return answer.headers.get("content-type", "").startswith("application/problem+json")


@pytest.mark.parametrize(
    ("path", "param", "maximum"),
    [("/v1/groups", "q", 200), ("/v1/groups", "near", 64), (ENROL, "cursor", 200)],
)
async def test_a_huge_query_value_is_a_400_naming_it(client, admin, path, param, maximum):
    answer = await client.get(path, params={param: "x" * (maximum + 1)}, headers=admin.headers)
    problem = assert_problem(answer, 400, "validation_failed")
    assert problem["errors"][0]["field"] == param


# --- Garbage in every parameter of every operation -----------------------------------------

GARBAGE = ["%ff%fe", "%00", "%C0%AF", "..%2F..%2Fetc%2Fpasswd", "%E2%80%AE" + MARKER, "9" * 40, "a" * 5000]


def _operations():
    app = create_app(make_settings("postgresql://unused"))
    for path, operations in app.openapi_schema.to_schema()["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] in ("path", "query"):
                    yield method.upper(), path, parameter["in"], parameter["name"]


def _with_garbage(path: str, where: str, name: str, garbage: str) -> str:
    ids = {"uuid": str(uuid.uuid4())}
    concrete = re.sub(r"\{(\w+)\}", lambda m: garbage if m.group(1) == name else ids["uuid"], path)
    return f"{concrete}?{name}={garbage}" if where == "query" else concrete


async def test_garbage_in_any_parameter_is_a_4xx_problem(client, admin, graduate):
    """Invalid UTF-8, NULs, overlong encodings, traversal, long runs in every path and query
    parameter of every operation: never a 500, always problem+json, nothing repeated."""
    wrong, seen = [], {}
    operations = list(_operations())
    for method, path, where, name in operations:
        for garbage in GARBAGE:
            url = _with_garbage(path, where, name, garbage)
            for actor in (admin, graduate):
                answer = await client.request(method, url, headers=actor.headers)
                if answer.status_code != 403:
                    break
            seen[answer.status_code] = seen.get(answer.status_code, 0) + 1
            if answer.status_code >= 500 or (answer.status_code >= 400 and not _is_problem(answer)):
                wrong.append(f"{method} {url[:120]}: {answer.status_code} {answer.text[:200]}")
            elif MARKER in answer.text or "Traceback" in answer.text:
                wrong.append(f"{method} {url[:120]}: repeats what was sent: {answer.text[:200]}")
    print(f"\ngarbage in {len(operations)} parameters, answers by status: {dict(sorted(seen.items()))}")
    assert len(operations) > 30 and wrong == [], "\n".join(wrong)


# --- Error answers: problem+json, nothing repeated back ------------------------------------


async def test_error_answers_never_repeat_what_was_sent(client, admin):
    headers = {"Content-Type": "application/json"} | admin.headers
    good = {"alias": "Sam", "timezone": "UTC", "iop_completed_on": "2026-01-01"}
    account = {"email": "a@example.org", "name": "A", "roles": ["staff"]}
    requests = [
        ("GET", f"{ENROL}?status={MARKER}", None),
        ("GET", f"/v1/groups?weekday={MARKER}", None),
        ("GET", f"{ENROL}?limit={MARKER}", None),
        ("GET", f"{ENROL}/{MARKER}", None),
        ("GET", f"/v1/{MARKER}", None),
        ("POST", ENROL, good | {"timezone": MARKER}),
        ("POST", ENROL, good | {"iop_completed_on": MARKER}),
        ("POST", ENROL, good | {"email": MARKER}),
        ("POST", ENROL, good | {"counselor_id": MARKER}),
        ("POST", ENROL, good | {"phone": MARKER}),
        ("POST", "/v1/staff/accounts", account | {"roles": [MARKER]}),
        ("POST", LOGIN, {"email": MARKER, "password": MARKER}),
        ("POST", ACTIVATE, {"code": MARKER}),
    ]
    for method, url, body in requests:
        answer = await client.request(method, url, json=body, headers=headers)
        assert 400 <= answer.status_code < 500, (url, body, answer.text)
        assert_problem(answer, answer.status_code)
        assert MARKER not in answer.text, (url, body, answer.text)
    malformed = await client.post(ENROL, content=f'{{"alias": "{MARKER}",'.encode(), headers=headers)
    assert MARKER not in assert_problem(malformed, 400).get("detail", "")
