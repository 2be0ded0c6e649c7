"""Every route of the app checked against the one declared policy (tests/attack/authorization_policy.py):
who may call it (the authorization matrix), that staff work on participant data leaves an
audit row, and that text with SQL, HTML and template syntax in it is stored and returned as
it was sent."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import asyncpg
import icalendar
import pytest

from tests import helpers
from tests.attack.authorization_policy import (
    ALLOWED,
    CALLERS,
    DELETED_GRADUATE,
    NEW_GRADUATE,
    POLICY,
    PRIVILEGED,
    SKIPPED_METHODS,
    Audited,
    Rule,
    first_allowed,
    request_body,
    wrong_kind_params,
)
from tests.attack.authorization_world import World, build_world, fill_path, foreign_ids, path_params
from tests.clock import ONCE
from tests.config import offline_app
from tests.summary import report

# --- the route table ----------------------------------------------------------------------------


def app_routes() -> set[tuple[str, str]]:
    """(method, path template) of every route the app serves, but the /schema docs."""
    return {
        (method, route.path)
        for route in offline_app().routes
        if not route.path.startswith("/schema")
        for method in getattr(route, "route_handler_map", {})
        if method not in SKIPPED_METHODS
    }


def openapi_path(template: str) -> str:
    """/v1/sessions/{session_id:str}/rsvp -> /v1/sessions/{session_id}/rsvp"""
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", template)


def request_schema(spec: dict, method: str, template: str) -> dict | None:
    operation = spec["paths"][openapi_path(template)][method.lower()]
    body = operation.get("requestBody")
    if not body:
        return None
    schema = resolve(spec, body["content"]["application/json"]["schema"])
    # An optional body (`UnhideRequest | None`): the object it may be.
    options = [option for option in schema.get("oneOf", []) if option.get("type") != "null"]
    return resolve(spec, options[0]) if len(options) == 1 and "properties" not in schema else schema


def documented_statuses(spec: dict, method: str, template: str) -> set[int]:
    return {int(status) for status in spec["paths"][openapi_path(template)][method.lower()]["responses"]}


def resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_every_route_has_exactly_one_policy_entry():
    routes = app_routes()
    missing = sorted(routes - POLICY.keys())
    stale = sorted(POLICY.keys() - routes)
    assert not missing, (
        "routes without a policy: add them to POLICY in tests/attack/authorization_policy.py: "
        + ", ".join(f"{m} {p}" for m, p in missing)
    )
    assert not stale, "POLICY names routes the app no longer has: remove or rename them: " + ", ".join(
        f"{m} {p}" for m, p in stale
    )


def test_every_request_body_has_a_sample_and_every_path_id_a_value():
    # Without a valid sample body an allowed caller would get a 400 and a forbidden one
    # could hide behind it; without a value for a path id the route cannot be called.
    spec = offline_app().openapi_schema.to_schema()
    known_ids = set(foreign_ids())
    for (method, path), rule in POLICY.items():
        takes_body = request_schema(spec, method, path) is not None
        assert takes_body == (rule.body is not None), (
            f"{method} {path}: give it a sample body exactly when it takes one"
        )
        for name in path_params(path):
            assert name in known_ids, f"{method} {path}: add {name!r} to foreign_ids() and World.ids"


# --- calling a route ----------------------------------------------------------------------------


# Which ids a call puts in the path.
OWN, UNKNOWN, WRONG = "the owner's ids", "unknown ids", "ids of the wrong kind"


def path_values(world: World, template: str, rule: Rule, ids: str) -> dict[str, str]:
    names = path_params(template)
    if ids == UNKNOWN:
        return {name: foreign_ids()[name] for name in names}
    keys = wrong_kind_params(rule) if ids == WRONG else rule.params
    return {name: world.ids[keys.get(name, name)] for name in names}


async def call(client, world: World, method: str, template: str, rule: Rule, caller: str, ids: str = OWN):
    """The route called by `caller` with its sample body: (the URL called, the answer)."""
    url = fill_path(template, path_values(world, template, rule, ids))
    body = await request_body(rule, world)
    response = await client.request(method, url, json=body, headers=world.headers(caller))
    return url, response


def media_problem(response, rule: Rule) -> str | None:
    """JSON answers are application/json (errors application/problem+json), never HTML."""
    if not response.content:
        return None
    wanted = rule.media_type if response.status_code < 400 else "application/problem+json"
    content_type = response.headers.get("content-type", "")
    return None if content_type.startswith(wanted) else f"content-type {content_type!r}, expected {wanted}"


def verdict(expected, response, rule: Rule, later: bool = False) -> str | None:
    """What is wrong with this answer for this expected outcome, or None. A 409 is allowed
    only for a `later` allowed caller, who may find the state changed by an earlier one; the
    first allowed caller finds the world as built."""
    status = response.status_code
    if status >= 500 and not (expected == ALLOWED and status in rule.also_allowed):
        return f"server error {status}"
    if problem := media_problem(response, rule):
        return problem
    if expected == ALLOWED:
        if 200 <= status < 300 or status in rule.also_allowed or (later and status == 409):
            return None
        return f"expected it allowed, got {status}"
    return None if status == expected else f"expected {expected}, got {status}"


def cells(rule: Rule, template: str) -> list[tuple[str, str]]:
    """(caller, ids) in the order they run: refused callers first, so each is refused in the
    world as built; then foreign ids; then the allowed callers, whose calls may be destructive
    (a deactivation, an account deleted)."""
    refused = [(c, OWN) for c in CALLERS if rule.access[c] != ALLOWED]
    allowed = [(c, OWN) for c in CALLERS if rule.access[c] == ALLOWED]
    params = path_params(template)
    foreign = [(first_allowed(rule), UNKNOWN)] if params else []
    if params and all(name in wrong_kind_params(rule) for name in params):
        foreign.append((first_allowed(rule), WRONG))
    return refused + foreign + allowed


# --- 1. the authorization matrix --------------------------------------------------------------


@pytest.mark.clock_instants(*ONCE)
async def test_authorization_matrix(client, conn, hasher, settings):
    spec = (await client.get("/schema/openapi.json")).json()
    started = time.monotonic()
    failures: list[str] = []
    checked = 0
    for (method, template), rule in POLICY.items():
        world = await build_world(client, conn, hasher, settings.secret_key)
        allowed_calls = 0  # made so far in this world
        for caller, ids in cells(rule, template):
            expected = rule.access[caller] if ids == OWN else rule.foreign
            if rule.renew and expected == ALLOWED and allowed_calls > 0:
                await rule.renew(world)
            url, response = await call(client, world, method, template, rule, caller, ids)
            checked += 1
            who = caller if ids == OWN else f"{caller} with {ids}"
            if problem := verdict(expected, response, rule, later=allowed_calls > 0):
                failures.append(f"{method} {url} as {who}: {problem}: {response.text[:300]}")
            elif response.status_code not in documented_statuses(spec, method, template):
                # A client reads what it may get from the document (the fuzz suite holds it too).
                failures.append(f"{method} {url} as {who}: {response.status_code}, not in the document's answers")
            allowed_calls += expected == ALLOWED
            if caller not in PRIVILEGED:
                leaked = [s for s in world.secrets if s in response.text]
                if leaked:
                    failures.append(f"{method} {url} as {who}: shows the owner's private data {leaked}")
    routes = len(POLICY)
    report(
        f"authorization matrix: {routes} routes x {len(CALLERS)} callers = {routes * len(CALLERS)} cells, "
        f"+ {checked - routes * len(CALLERS)} with foreign ids = {checked} checked "
        f"in {time.monotonic() - started:.1f} s"
    )
    assert not failures, "\n".join(failures)


# --- 2. audit completeness ------------------------------------------------------------------------


def lets_staff_in_but_not_everyone(rule: Rule) -> bool:
    """Staff (or admins) may call it, but not every signed-in caller: work that is theirs."""
    staff_in = rule.access["staff"] == ALLOWED or rule.access["admin"] == ALLOWED
    return staff_in and not all(rule.access[c] == ALLOWED for c in CALLERS if c != "anonymous")


@pytest.mark.clock_instants(*ONCE)
async def test_staff_work_on_participant_data_is_audited(client, conn, hasher, settings):
    undeclared = sorted(
        f"{m} {p}" for (m, p), rule in POLICY.items() if lets_staff_in_but_not_everyone(rule) and not rule.audit
    )
    assert not undeclared, "say whether staff calls here are audited (audit= in POLICY): " + ", ".join(undeclared)
    failures = []
    for (method, template), rule in POLICY.items():
        if not isinstance(rule.audit, Audited):
            continue
        world = await build_world(client, conn, hasher, settings.secret_key)
        caller = "staff" if rule.access["staff"] == ALLOWED else "admin"
        before = await conn.fetchval("select coalesce(max(id), 0) from audit_log")
        url, response = await call(client, world, method, template, rule, caller)
        assert 200 <= response.status_code < 300, f"{method} {url}: {response.text}"
        # A list read is one row holding every graduate shown: a row per graduate it names.
        rows = await conn.fetch(
            """
            select actor_id, action, about, method, path
            from audit_log, unnest(coalesce(participant_ids, array[participant_id])) as about
            where id > $1
            """,
            before,
        )
        about = {
            "owner": world.owner.id,
            NEW_GRADUATE: response.json().get("id") if response.content else None,
            DELETED_GRADUATE: world.ids["deleted_participant_id"],
            None: None,
        }[rule.audit.about]
        wanted = (uuid.UUID(world.people[caller].id), rule.audit.action, about and uuid.UUID(about), method, url)
        if wanted not in [tuple(r) for r in rows]:
            failures.append(f"{method} {url}: no audit row {wanted}; found {[tuple(r) for r in rows]}")
    assert not failures, "\n".join(failures)


# --- 3. inert text ------------------------------------------------------------------------------------

PAYLOAD = 'Robert\'); DROP TABLE people;-- <script>alert(1)</script> {{7*7}} ${7*7} %s %(x)s \\ "q" ünï 🙂'
MARKER = "DROP TABLE people"  # in every trimmed payload: where it shows, the whole payload must


def string_rules(schema: dict) -> dict | None:
    """The rules of a property that takes a string (alone or null), else None."""
    if schema.get("type") == "string":
        return schema
    for option in schema.get("oneOf", []) + schema.get("anyOf", []):
        if option.get("type") == "string":
            return option | {k: v for k, v in schema.items() if k not in ("oneOf", "anyOf")}
    return None


def free_text(schema: dict) -> bool:
    """A plain string: no enum or format; a pattern only if it lets any text through (the
    "not blank" rule does; emails, phones, links, clock times and codes do not)."""
    rules = string_rules(schema)
    if rules is None or "enum" in rules or "format" in rules or "const" in rules:
        return False
    return "pattern" not in rules or re.search(rules["pattern"], PAYLOAD) is not None


def object_schemas(spec: dict, schema: dict) -> list[dict]:
    """The object schemas a property holds: itself, its items, its options."""
    schema = resolve(spec, schema)
    if "properties" in schema:
        return [schema]
    inner = ([schema["items"]] if "items" in schema else []) + schema.get("oneOf", []) + schema.get("anyOf", [])
    return [found for option in inner for found in object_schemas(spec, option)]


def nested_free_text(spec: dict, schema: dict, where: str = "body") -> list[str]:
    """Free-text fields inside objects within a body (this test replaces top-level ones only)."""
    found = []
    for name, prop in resolve(spec, schema).get("properties", {}).items():
        for inner in object_schemas(spec, prop):
            found += [f"{where}.{name}.{n}" for n, p in inner["properties"].items() if free_text(resolve(spec, p))]
            found += nested_free_text(spec, inner, f"{where}.{name}")
    return found


def text_cases(spec: dict) -> list[tuple[str, str, Rule, str, str]]:
    """(method, path, rule, field, payload) for every free-text field of every request body."""
    cases = []
    for (method, path), rule in POLICY.items():
        schema = request_schema(spec, method, path)
        if schema is None:
            continue
        nested = nested_free_text(spec, schema)
        assert not nested, f"{method} {path}: free text below the top level ({nested}): extend this test"
        for name, prop in schema.get("properties", {}).items():
            if free_text(prop):
                payload = PAYLOAD[: string_rules(prop).get("maxLength", len(PAYLOAD))]
                assert MARKER in payload, f"{method} {path} {name}: too short for the payload"
                cases.append((method, path, rule, name, payload))
    return cases


def strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return []


def strings_shown(response) -> list[str]:
    """The texts of a JSON or iCalendar answer (iCalendar values unescaped, as a phone reads them)."""
    if response.headers["content-type"].startswith("text/calendar"):
        calendar = icalendar.Calendar.from_ical(response.content)
        # X- properties (the calendar's name) come back escaped, as on the wire: undo that too.
        return [
            helpers.ical_text(str(value)) if name.startswith("X-") else str(value)
            for part in calendar.walk()
            for name, value in part.property_items()
            if isinstance(value, str)
        ]
    return strings_in(response.json())


def holds(strings: list[str], payload: str) -> bool:
    """The payload is there whole, byte for byte: a value of its own, or inside a text made
    around it (a notification telling an author why their post was hidden)."""
    return any(payload in s for s in strings)


def mangled(strings: list[str], payload: str) -> list[str]:
    """Texts showing part of the payload but not all of it, byte for byte (escaped, cut...)."""
    return [s for s in strings if MARKER in s and payload not in s]


async def stored_texts(conn: asyncpg.Connection) -> dict[str, list[str]]:
    """Every stored text holding the marker, by table.column (JSON columns: their strings)."""
    columns = await conn.fetch(
        """
        select table_name, column_name, data_type from information_schema.columns
        where table_schema = 'public' and data_type in ('text', 'character varying', 'jsonb')
        """
    )
    found: dict[str, list[str]] = {}
    for c in columns:
        values = await conn.fetch(
            f'select "{c["column_name"]}"::text as v from "{c["table_name"]}" '
            f'where strpos("{c["column_name"]}"::text, $1) > 0',
            MARKER,
        )
        texts = [v["v"] for v in values]
        if c["data_type"] == "jsonb":
            texts = [s for t in texts for s in strings_in(json.loads(t)) if MARKER in s]
        if texts:
            found[f"{c['table_name']}.{c['column_name']}"] = texts
    return found


async def table_names(conn: asyncpg.Connection) -> set[str]:
    return {r["tablename"] for r in await conn.fetch("select tablename from pg_tables where schemaname = 'public'")}


async def check_text(client, conn, world: World, method, path, rule: Rule, field: str, payload: str) -> list[str]:
    """Send the payload in `field` as the route's first allowed caller; what went wrong."""
    caller = first_allowed(rule)
    url = fill_path(path, path_values(world, path, rule, OWN))
    body = (await request_body(rule, world)) | {field: payload}
    response = await client.request(method, url, json=body, headers=world.headers(caller))
    where = f"{method} {url} {field} as {caller}"
    problems = [f"{where}: {p}" for p in [media_problem(response, rule)] if p]
    stored = await stored_texts(conn)
    stored_strings = [s for texts in stored.values() for s in texts]
    if field in rule.strict_text:
        names = [e["field"] for e in response.json().get("errors", [])] if response.status_code == 400 else []
        if field not in names:
            problems.append(f"{where}: expected a 400 naming {field}, got {response.status_code} {response.text}")
        if MARKER in response.text:  # an error never repeats what was sent
            problems.append(f"{where}: the refusal repeats the text sent: {response.text}")
        if stored_strings:
            problems.append(f"{where}: refused, yet stored in {sorted(stored)}")
        return problems
    if field in rule.secret_text:
        if response.status_code != rule.secret_text[field]:
            problems.append(f"{where}: expected {rule.secret_text[field]}, got {response.status_code} {response.text}")
        if MARKER in response.text or stored_strings:
            problems.append(f"{where}: a credential was returned or stored as sent ({sorted(stored)})")
        return problems
    if not 200 <= response.status_code < 300:
        return problems + [f"{where}: expected 2xx, got {response.status_code} {response.text}"]
    shown = strings_in(response.json()) if response.content else []
    for reader, template in rule.read_back:
        read = await client.get(
            fill_path(template, path_values(world, template, rule, OWN)), headers=world.headers(reader)
        )
        assert read.status_code == 200, f"{where}: reading back {template}: {read.text}"
        shown += strings_shown(read)
    if not holds(shown, payload):
        problems.append(f"{where}: the text does not come back as sent (declare read_back if it shows elsewhere)")
    if bad := mangled(shown, payload):
        problems.append(f"{where}: returned altered: {bad}")
    if not rule.stores_text:
        if stored_strings:
            problems.append(f"{where}: stored, though this route only shows text back: {stored}")
        return problems
    if not holds(stored_strings, payload):
        problems.append(f"{where}: not stored verbatim; stored: {stored}")
    if bad := mangled(stored_strings, payload):
        problems.append(f"{where}: stored altered: {bad}")
    return problems


@pytest.mark.clock_instants(*ONCE)
async def test_text_is_stored_and_returned_inertly(client, conn, hasher, settings):
    spec = (await client.get("/schema/openapi.json")).json()
    tables = await table_names(conn)
    cases = text_cases(spec)
    assert len(cases) >= 20, cases  # the payload really went into the text fields there are
    failures = []
    for method, path, rule, field, payload in cases:
        world = await build_world(client, conn, hasher, settings.secret_key)
        failures += await check_text(client, conn, world, method, path, rule, field, payload)
        assert await table_names(conn) == tables, f"{method} {path} {field}: tables changed"
    print(f"\ninert text: {len(cases)} fields of {len({(m, p) for m, p, *_ in cases})} routes")
    assert not failures, "\n".join(failures)
