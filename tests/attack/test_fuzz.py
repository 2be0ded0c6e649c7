"""Schemathesis fuzzes every operation of the app's own OpenAPI document, through real
HTTP to the real app on real PostgreSQL, signed in as a drawn role for each request.

What must hold for every generated request (schemathesis's own checks):
- no 5xx;
- the answer matches the document: a documented status code, content type, headers and
  body (problem+json errors included, see api/openapi.py);
- a request the document forbids (negative mode: wrong types, missing or unknown fields,
  values out of range...) is not accepted;
- an operation that needs a sign-in refuses a request without one.
Left out: "every request the document allows is accepted". Some rules cannot be written in
JSON Schema (a cursor must be one we issued, a range must end after it starts, dates within
two years): those answer a documented 400 problem, which the checks above still hold to.

Beside the documented operations, every path of the route table gets every method (OPTIONS,
HEAD and the writes it does not have) as every role: never a 5xx nor a framework's own
words. Dates and date-times are drawn at the ends of years 1-9999 too (and in our cursors).

Bounded and deterministic: at most `MAX_EXAMPLES` per operation, a fixed seed, no shrinking,
no example database. Each operation gets a fresh world (accounts for every role, a group
with sessions, a check-in and its alert, a device, a message, a calendar feed, posts in two
groups' discussions, a hidden reply, moderation items, a block), and its requests use those
real ids as well as random ones, so they reach past "not found"."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
from collections import Counter

import asyncpg
import httpx
import pytest
import schemathesis
from firebase_admin import _token_gen
from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis import strategies as st
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.app import create_app
from api.auth.credentials import Hasher
from api.pagination import encode_cursor
from tests import helpers
from tests.attack.authorization_policy import ALLOWED, POLICY
from tests.attack.authorization_world import World, build_world, fill_path
from tests.attack.wording import library_words
from tests.config import TEST_SECRET, make_settings
from tests.fake_google import FakeCertificateServer, SigningKey
from tests.live_server import LiveServer
from tests.summary import report

# Per operation. CI's default keeps the run near a minute; set AFTERCARE_FUZZ_EXAMPLES
# higher for a deeper search (the seed stays fixed, so a failure reproduces).
MAX_EXAMPLES = int(os.environ.get("AFTERCARE_FUZZ_EXAMPLES", "50"))
SEED = 20261127
ROLES = ("anonymous", "graduate", "facilitator", "staff", "admin")
# Requests sent, by (operation, generation mode): summed up at the end of the run.
REQUESTS: Counter[tuple[str, str]] = Counter()


@pytest.fixture(scope="module")
def live_api(database_url):
    # Firebase sign-in on, against a local fake of Google's certificates: fuzzed ID tokens
    # go through firebase-admin's real verification (and are refused), not the 404 of sign-in that is off.
    with (
        pytest.MonkeyPatch.context() as patch,
        FakeCertificateServer([SigningKey("fuzz-key")]) as certificates,
    ):
        patch.setattr(_token_gen, "ID_TOKEN_CERT_URI", certificates.url)
        with LiveServer(make_settings(database_url, firebase_project_id="aftercare-fuzz")) as server:
            yield server
    asyncio.run(_with_connection(database_url, helpers.empty_database))
    if REQUESTS:
        operations = len({operation for operation, _ in REQUESTS})
        modes = Counter()
        for (_, mode), count in REQUESTS.items():
            modes[mode] += count
        report(
            f"schemathesis: {operations} operations, {sum(modes.values())} requests "
            f"({', '.join(f'{n} {mode}' for mode, n in sorted(modes.items()))}), "
            f"at most {MAX_EXAMPLES} examples per operation, seed {SEED}"
        )


# Real ids besides the owner's, drawn too: a hidden reply (to show again), another group's
# post and its crisis flag (which only staff and that group's facilitator reach).
_MORE_REAL_IDS = {"post_id": ("hidden_post_id", "other_post_id"), "item_id": ("other_item_id",)}


@pytest.fixture
def world(live_api, database_url) -> dict:
    """A fresh world for each operation (the authorization matrix's: tests/attack/authorization_world.py),
    so that what one operation's examples delete (the graduate's account, a session, a
    device...) does not starve the next one: each role's headers, and the real ids by kind."""

    async def build(conn: asyncpg.Connection) -> World:
        async with httpx.AsyncClient(base_url=live_api.url) as client:
            return await build_world(client, conn, Hasher("cheapest"), TEST_SECRET)

    built = asyncio.run(_with_connection(database_url, build))
    ids = {name: [value] for name, value in built.ids.items()}
    for name, others in _MORE_REAL_IDS.items():
        ids[name] += [built.ids[other] for other in others]
    return {"headers": {role: built.headers(_POLICY_CALLER[role]) for role in ROLES}, "ids": ids}


async def _with_connection(database_url: str, work):
    conn = await asyncpg.connect(database_url)
    try:
        return await work(conn)
    finally:
        await conn.close()


# Dates and date-times at the ends of what Python and PostgreSQL hold, and just outside the
# API's window (api/time_bounds.py): converted to UTC, the first two overflow. Drawn beside
# recent values (which reach past validation) and any value of years 1-9999.
EXTREME_DATE_TIMES = (
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999Z",
    "1969-12-31T23:59:59+14:00",
)
EXTREME_DATES = ("0001-01-01", "9999-12-31", "1969-12-31")
_OFFSETS = st.sampled_from(["Z", "+00:00", "+01:00", "-01:00", "+05:45", "+14:00", "-12:00"])
_RECENT = st.datetimes(min_value=dt.datetime(2024, 1, 1), max_value=dt.datetime(2029, 12, 31))


def _date_time(moments: st.SearchStrategy[dt.datetime]) -> st.SearchStrategy[str]:
    return st.builds(lambda moment, offset: moment.isoformat() + offset, moments, _OFFSETS)


schemathesis.openapi.format(
    "date-time", st.sampled_from(EXTREME_DATE_TIMES) | _date_time(_RECENT) | _date_time(st.datetimes())
)
schemathesis.openapi.format(
    "date", st.sampled_from(EXTREME_DATES) | _RECENT.map(lambda m: m.date().isoformat()) | st.dates().map(str)
)
# Cursors are opaque to the document, so the fuzzer cannot make one: these are ours, in
# each list's shape, carrying the extreme times.
EXTREME_CURSORS = tuple(
    cursor
    for moment in EXTREME_DATE_TIMES
    for cursor in (encode_cursor(moment, "6a1c7a8e-8a4f-4c57-9b7a-2f0c1b7f9d11"), encode_cursor(3, moment, 1))
)


def _load_schema():
    # The document the app serves at /schema/openapi.json, built without a database, so
    # that pytest can make one test per operation at collection time.
    app = create_app(make_settings("postgresql://unused/unused"))
    loaded = schemathesis.openapi.from_dict(app.openapi_schema.to_schema())
    loaded.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=MAX_EXAMPLES,
        deterministic=True,
        no_shrink=True,
        # The test signs in as each role itself (below); no made-up Authorization headers.
        with_security_parameters=False,
    )
    return loaded


schema = _load_schema()


# The policy's callers as the fuzzer's roles ("graduate": the one who owns the world's objects).
_POLICY_CALLER = {role: "owner" if role == "graduate" else role for role in ROLES}
_POLICY = {(method, re.sub(r"\{(\w+):\w+\}", r"{\1}", path)): rule for (method, path), rule in POLICY.items()}


def _allowed_roles(method: str, path: str) -> list[str]:
    rule = _POLICY[(method.upper(), path)]  # every operation has one (tests/attack/test_authorization.py)
    return [role for role in ROLES if rule.access[_POLICY_CALLER[role]] == ALLOWED]


def test_request_bodies_refuse_unknown_fields_in_the_document():
    # What the fuzzer's "unknown field" cases rely on (api/openapi.py, strict_struct_schemas).
    components = schema.raw_schema["components"]["schemas"]
    # A body that may be left out (`/unhide`) is "one of: the shape, or null".
    bodies = [
        ref.rsplit("/", 1)[1]
        for operations in schema.raw_schema["paths"].values()
        for operation in operations.values()
        for content in operation.get("requestBody", {}).get("content", {}).values()
        for ref in [content["schema"].get("$ref")]
        + [one.get("$ref") for one in content["schema"].get("oneOf", content["schema"].get("anyOf", []))]
        if ref
    ]
    assert len(set(bodies)) >= 20, bodies
    assert [name for name in bodies if components[name].get("additionalProperties") is not False] == []


@schema.parametrize()
# `data` draws the caller's role and, for path ids, real ones from the world.
@schema.given(data=st.data())
@seed(SEED)
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_survives_fuzzing(case, data, live_api, world):
    # Half the time a role the operation lets in (tests/attack/authorization_policy.py), so that
    # bodies and parameters get past "not allowed" and into validation and the handler.
    welcome = _allowed_roles(case.operation.method, case.operation.path) or list(ROLES)  # or public
    role = data.draw(st.sampled_from(welcome) | st.sampled_from(ROLES), label="role")
    # Real ids as well as random ones, so operations reach past "not found" (only where
    # the path is meant to be valid: a negative case keeps its broken path).
    negative_path = case.meta is not None and case.meta.is_negative_at(ParameterLocation.PATH)
    for name in [] if negative_path else list(case.path_parameters or {}):
        known = world["ids"].get(name)
        if known and data.draw(st.booleans(), label=f"real {name}"):
            case.path_parameters[name] = data.draw(st.sampled_from(known), label=name)
    negative_query = case.meta is not None and case.meta.is_negative_at(ParameterLocation.QUERY)
    if not negative_query and case.query and "cursor" in case.query and data.draw(st.booleans(), label="our cursor"):
        case.query["cursor"] = data.draw(st.sampled_from(EXTREME_CURSORS), label="cursor")
    mode = case.meta.generation.mode.value if case.meta is not None else "explicit"
    REQUESTS[(case.operation.label, mode)] += 1
    response = case.call_and_validate(
        base_url=live_api.url, headers=world["headers"][role], excluded_checks=[positive_data_acceptance]
    )
    _in_peoples_words(response)


def _in_peoples_words(response) -> None:
    """Whatever the fuzzer gets refused is said as a person would (tests/attack/test_error_wording.py)."""
    if response.status_code == 400 and response.json().get("code") == "validation_failed":
        assert not library_words(response.json()), response.text


# --- every method on every path -----------------------------------------------------------------

# Beside the documented operations, whatever method a client (or an attacker) sends: the
# ones a browser or a proxy sends on its own (OPTIONS, HEAD) and the write methods a path
# does not have. Writes come last, so that what they change is after the reads.
METHODS = ("OPTIONS", "HEAD", "GET", "PUT", "PATCH", "POST", "DELETE")
# 204: Litestar's answer to OPTIONS (the `Allow` header); the rest, problems.
UNDOCUMENTED_ANSWERS = {204, 401, 403, 404, 405}
# Words of a framework's internal message that must never reach a client.
INTERNALS = ("AuthMiddleware", "scope", "Traceback")
_EXTRA_PATHS = {"path": "openapi.json", "name": "swagger-ui.css"}  # /schema/{path}, /schema/assets/{name}


def _route_table() -> dict[str, set[str]]:
    app = create_app(make_settings("postgresql://unused/unused"))
    return {route.path: set(route.methods) - {"OPTIONS"} for route in app.routes}


ROUTE_TABLE = _route_table()


@pytest.mark.parametrize("template", sorted(ROUTE_TABLE) + ["/v1/staff/no-such-thing", "/v1/no-such-thing"])
def test_every_method_on_every_path_answers_without_a_server_error(template, live_api, world):
    documented = ROUTE_TABLE.get(template, set())
    path = fill_path(template, _EXTRA_PATHS | {name: values[0] for name, values in world["ids"].items()})
    wrong = []
    with httpx.Client(base_url=live_api.url, timeout=30) as client:
        for role in ROLES:
            for method in METHODS:
                answer = client.request(method, path, headers=world["headers"][role])
                status = answer.status_code
                allowed = status < 500 if method in documented else status in UNDOCUMENTED_ANSWERS
                leaked = status >= 400 and any(word in answer.text for word in INTERNALS)
                shaped = status < 400 or answer.headers.get("content-type", "").startswith("application/problem+json")
                if not (allowed and shaped) or leaked:
                    kind = answer.headers.get("content-type")
                    wrong.append(f"{method} as {role}: {status} {kind} {answer.text[:200]}")
    assert wrong == [], f"{template}:\n" + "\n".join(wrong)
