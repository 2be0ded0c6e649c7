"""The error answers of every operation, written into the OpenAPI document.

Litestar documents a handler's success answer by itself; the problems (RFC 9457) it can
answer come from rules every handler shares, so they are added here, in one place, from
what each handler is: a body or parameters can be invalid (400), a signed-in operation can
be refused (401, 403), an id in the path can name nothing the caller may see (404), a body
can be too large, late or not JSON (413, 408, 415), and the database can be away (503). What only some operations
answer (a conflict, a lock-out, a rate limit) they declare on their own decorator with
`may_answer(...)`. The fuzzing test (tests/attack/test_fuzz.py) holds the document to the truth.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import msgspec
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.plugins import OpenAPISchemaPlugin
from litestar.routes import HTTPRoute

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.openapi.spec import Schema
    from litestar.typing import FieldDefinition

PROBLEM_JSON = "application/problem+json"


class FieldError(msgspec.Struct):
    field: str
    source: str
    message: str


class Problem(msgspec.Struct):
    """An RFC 9457 problem, with our stable `code` for the app to act on."""

    status: int
    title: str
    detail: str
    code: str
    errors: list[FieldError] | msgspec.UnsetType = msgspec.UNSET


class SignInProblem(Problem):
    """A sign-in's 401: with two-factor on, a right password answers `code` `mfa_required`
    and these two fields (for /v1/auth/mfa); otherwise they are absent."""

    challenge: str | msgspec.UnsetType = msgspec.UNSET
    challenge_expires_in: int | msgspec.UnsetType = msgspec.UNSET


_WHEN = {
    400: "The request is malformed or a value is invalid; `errors` names each field.",
    401: "Not signed in, or the session has ended.",
    403: "Signed in, but this needs another role or membership.",
    404: "Nothing with this id that you may see (someone else's looks the same as none).",
    408: "The request body did not arrive in time.",
    409: "The request conflicts with the current state; `code` says how.",
    413: "The request body is larger than this API accepts.",
    415: "The body is not sent as JSON (`Content-Type: application/json`).",
    422: "The request is understood but this case needs more from it; `code` says what.",
    423: "Locked after too many wrong attempts.",
    429: "Too many requests (from this address, or by this person: `code` says which limit): wait and retry "
    "(see Retry-After).",
    503: "A service this needs (the database, the rate limiter) is unreachable, or too many passwords and codes are "
    "being checked (`code` busy): retry shortly (see Retry-After).",
}

# Names Litestar fills in itself: never a client's parameter.
_RESERVED = {"request", "socket", "state", "scope", "headers", "cookies", "query", "body", "data"}


def strict_struct_schemas() -> list[OpenAPISchemaPlugin]:
    """A schema plugin saying what our request bodies do: refuse fields they do not know
    (`forbid_unknown_fields`) with `additionalProperties: false`, so that clients and
    fuzzers know it too. It extends Litestar's own plugin for msgspec Structs, which has no
    public name: should a Litestar release move it, the API still starts (the document is
    then merely less strict) and tests/attack/test_fuzz.py fails, saying so."""
    try:
        from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
    except ImportError:
        return []

    class StrictStructSchemaPlugin(StructSchemaPlugin):
        def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
            schema = super().to_openapi_schema(field_definition, schema_creator)
            # The plugin is only asked about Structs (`is_plugin_supported_field`).
            info = cast(msgspec.inspect.StructType, msgspec.inspect.type_info(field_definition.type_))
            if info.forbid_unknown_fields:
                schema.additional_properties = False
            return schema

    return [StrictStructSchemaPlugin()]


def problem_response(status: int) -> ResponseSpec:
    return ResponseSpec(
        data_container=Problem, media_type=PROBLEM_JSON, description=_WHEN[status], generate_examples=False
    )


def sign_in_refused() -> dict[int, ResponseSpec]:
    """/v1/auth/login's 401, which may carry a two-factor challenge."""
    description = "Email or password not right; or, with two-factor on, `mfa_required` and a `challenge`."
    return {
        401: ResponseSpec(
            data_container=SignInProblem, media_type=PROBLEM_JSON, description=description, generate_examples=False
        )
    }


def may_answer(*statuses: int) -> dict[int, ResponseSpec]:
    """For a handler's `responses=`: problems only this operation answers."""
    return {status: problem_response(status) for status in statuses}


def repeat_answers(model: type) -> dict[int, ResponseSpec]:
    """For an idempotent create: the 200 that answers a repeat with what was stored."""
    return {200: ResponseSpec(data_container=model, description="Already stored: what the first request made.")}


def _statuses(route: HTTPRoute, handler: HTTPRouteHandler) -> set[int]:
    parameters = set(handler.parsed_fn_signature.parameters) - set(handler.resolve_dependencies()) - _RESERVED
    has_body = "data" in handler.parsed_fn_signature.parameters
    statuses = {503}
    if has_body:
        statuses |= {400, 408, 413, 415}
    if parameters:
        statuses.add(400)
    if route.path_parameters:
        statuses.add(404)
    if not handler.opt.get("public"):
        statuses |= {401, 403}
    return statuses


def document_problems(app: Litestar) -> None:
    """Give every operation the problems it can answer (its own declarations win)."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if not handler.resolve_include_in_schema():
                continue
            shared = {status: problem_response(status) for status in _statuses(route, handler)}
            handler.responses = shared | dict(handler.responses or {})
