"""Turn every exception into problem+json: client mistakes into a 4xx that says what is
wrong, database trouble into a 503, and anything else into a 500 that reveals nothing."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

import asyncpg
import redis.exceptions
from litestar import Response
from litestar.exceptions import HTTPException, TooManyRequestsException, ValidationException
from litestar.handlers.base import BaseRouteHandler
from litestar.plugins.problem_details import ProblemDetailsException
from litestar.types import ExceptionHandlersMap

from api.body import sent_json
from api.deps import AnyRequest
from api.problems import invalid, invalid_fields, problem
from api.security import SIGN_IN_FIRST
from api.validation import NOT_AN_ACCEPTED_ZONE
from api.wording import MAX_ERRORS, bad_fields, named_in, plain, reword

logger = logging.getLogger("aftercare.errors")

# What every handler here answers: a problem+json body (ProblemDetailsException.to_response).
ProblemResponse = Response[dict[str, Any]]


def _field_errors(request: AnyRequest, extra: Any) -> list[dict[str, str]]:
    """Litestar's validation details, as `[{field, source, message}]` in people's words:
    every bad field of the body (Litestar names only the first), each parameter by the name
    the client sent (`from`, not the handler's `start`)."""
    signature = _signature(request)
    errors: list[dict[str, str]] = []
    body_done = False
    for item in extra if isinstance(extra, list) else []:
        message = str(item.get("message", "invalid value"))
        key = item.get("key")
        source = str(getattr(item.get("source", "body"), "value", item.get("source", "body")))
        if key is None or key == "data" or source == "body":
            if body_done:
                continue
            body_done = True
            if "data" in signature and (sent := sent_json(request)) is not None:
                errors += [
                    {"field": f, "source": "body", "message": m} for f, m in bad_fields(sent, signature["data"][0])
                ]
                continue
            field, message = _body_error(message)
        elif key in signature:
            kind, field = signature[key]
            message = reword(kind, message)
        else:
            field, message = key, plain(message)
        errors.append({"field": field or "body", "source": source, "message": message})
    return errors[:MAX_ERRORS]


def _body_error(message: str) -> tuple[str, str]:
    """A body error found without the body at hand: the field from the message itself."""
    if message == "'data'":  # Litestar's word for a missing body
        return "body", "a JSON object is required"
    return named_in(message)


def _signature(request: AnyRequest) -> dict[str, tuple[Any, str]]:
    """The handler's parameters: Python name -> (type with its limits, name in the request)."""
    # The scope's type says every request has one, but a request that matched no route
    # (a 404, a 405) reaches the error handlers without it.
    handler: BaseRouteHandler | None = request.scope.get("route_handler")
    if handler is None:
        return {}
    model = handler.signature_model
    named: dict[str, tuple[Any, str]] = {}
    # `_fields` holds each parameter's definition (its alias): Litestar has no public accessor.
    for key, field in model._fields.items():
        definition = field.kwarg_definition
        alias = getattr(definition, "query", None) or getattr(definition, "name", None) or key
        named[key] = (model.__annotations__.get(key, Any), alias)
    return named


def validation_to_problem(request: AnyRequest, exc: ValidationException) -> ProblemResponse:
    errors = _field_errors(request, exc.extra)
    if errors:
        return invalid_fields(errors).to_response(request)
    # Malformed JSON and the like arrive without field information.
    return problem(400, "validation_failed", exc.detail, errors=errors).to_response(request)


def http_to_problem(request: AnyRequest, exc: HTTPException) -> ProblemResponse:
    if isinstance(exc, ProblemDetailsException):
        return exc.to_response(request)
    if exc.status_code >= 500:
        # Litestar's own 5xx (a misconfiguration: "install an AuthMiddleware...") is our bug,
        # and its words are for us: log it, answer like any other.
        return internal_error_to_problem(request, exc)
    code = {
        400: "malformed_request",
        401: "not_authenticated",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        413: "body_too_large",
        429: "rate_limited",
    }.get(exc.status_code, "http_error")
    detail = exc.detail
    headers = dict(exc.headers or {})
    if exc.status_code == 401 and str(detail).startswith("No JWT token"):
        detail = SIGN_IN_FIRST
    elif exc.status_code == 400:
        # Litestar's own 400s are about a body it could not decode (malformed JSON...).
        detail = f"The request could not be read: {exc.detail}. Send a JSON object."
    elif exc.status_code == 413:
        detail = "The request body is larger than this API accepts (1 MiB)."
    elif exc.status_code == 429:
        # Sign-in's limit; a route with a limit of its own answers through rate_limit_answers.
        return _too_many(request, exc, code, "Too many attempts from this address. Wait a minute and try again.")
    return problem(exc.status_code, code, detail, headers=headers).to_response(request)


def _too_many(request: AnyRequest, exc: HTTPException, code: str, detail: str) -> ProblemResponse:
    headers = dict(exc.headers or {})
    headers.setdefault("Retry-After", headers.get("RateLimit-Reset", "60"))
    return problem(429, code, detail, headers=headers).to_response(request)


def rate_limit_answers(code: str, too_many: str, paused: str) -> ExceptionHandlersMap:
    """The answers of a route's own rate limit (a RateLimitConfig in its middleware), for its
    `exception_handlers`: a 429 that names the limit, and while the limiter's store is
    unreachable a 503 that says what is paused (it fails closed, as sign-in's does)."""

    def refused(request: AnyRequest, exc: TooManyRequestsException) -> ProblemResponse:
        return _too_many(request, exc, code, too_many)

    return {
        TooManyRequestsException: refused,
        redis.exceptions.RedisError: _unavailable("rate-limit store", "rate_limiter_unavailable", paused, 10),
    }


def unstorable_text_to_problem(request: AnyRequest, exc: asyncpg.CharacterNotInRepertoireError) -> ProblemResponse:
    # PostgreSQL text cannot hold a NUL character; everything else in Unicode is fine.
    return problem(
        400,
        "validation_failed",
        "A text value contains a character that cannot be stored (a NUL, \\u0000). Remove it.",
        errors=[],
    ).to_response(request)


# What each unique constraint means to the person who ran into it.
_CONFLICTS = {
    "people_email_key": ("email_taken", "An account with this email already exists."),
    "people_firebase_uid_key": ("firebase_linked", "This Firebase account is already linked to someone else."),
}


def unknown_zone_to_problem(request: AnyRequest, exc: asyncpg.InvalidParameterValueError) -> ProblemResponse:
    # The database's own check (migration 0005) refused a zone the API let through: the API's
    # list can be older than its database's (a server downgraded, or another one behind the
    # same URL). The person's mistake all the same, so a 400 naming the field; other invalid
    # parameters are ours.
    if "is not a place this server knows" not in str(exc):
        return internal_error_to_problem(request, exc)
    logger.warning("the database refused a time zone the API accepted on %s", request.url.path)
    return invalid("timezone", NOT_AN_ACCEPTED_ZONE).to_response(request)


def unique_violation_to_problem(request: AnyRequest, exc: asyncpg.UniqueViolationError) -> ProblemResponse:
    # The server's own detail would echo the clashing value: answer from the constraint name.
    logger.info("unique violation on %s", exc.constraint_name)
    code, detail = _CONFLICTS.get(exc.constraint_name or "", ("conflict", "That already exists."))
    return problem(409, code, detail).to_response(request)


def foreign_key_violation_to_problem(request: AnyRequest, exc: asyncpg.ForeignKeyViolationError) -> ProblemResponse:
    # What a row refers to was deleted by a request that committed first (an account deleted
    # while its owner posts, say): the client's state is stale, not the server broken.
    logger.warning("foreign key violation on %s", exc.constraint_name)
    return problem(409, "gone", "Something this refers to was removed meanwhile: reload, then try again.").to_response(
        request
    )


def _unavailable(
    what: str, code: str, detail: str, retry_after_s: int
) -> Callable[[AnyRequest, Exception], ProblemResponse]:
    """A handler for a dependency that is down: a 503 that says so, logged by type only."""

    def handler(request: AnyRequest, exc: Exception) -> ProblemResponse:
        logger.error("%s unavailable: %s on %s %s", what, type(exc).__name__, request.method, request.url.path)
        return problem(503, code, detail, headers={"Retry-After": str(retry_after_s)}).to_response(request)

    return handler


database_unavailable_to_problem = _unavailable(
    "database",
    "database_unavailable",
    "The service cannot reach its database right now. Try again in a few seconds.",
    5,
)
# Fail closed: without the shared counter, sign-in could be brute-forced across replicas.
rate_limiter_unavailable_to_problem = _unavailable(
    "rate-limit store",
    "rate_limiter_unavailable",
    "Sign-in is paused because the rate limiter is unreachable. Try again shortly.",
    10,
)


def _session_lost(exc: Exception) -> bool:
    """asyncpg's words for a connection the server ended under us (a restart): "connection
    is closed" on the next use, or, when the server's goodbye arrived mid-conversation, an
    InternalClientError from its protocol state. Any other InterfaceError is our bug."""
    return isinstance(exc, asyncpg.InternalClientError) or "connection is closed" in str(exc)


def lost_connection_to_problem(request: AnyRequest, exc: Exception) -> ProblemResponse:
    if not _session_lost(exc):
        return internal_error_to_problem(request, exc)
    if isinstance(exc, asyncpg.InternalClientError):
        # Most likely a restart's goodbye mid-conversation, but it could be a driver bug:
        # keep where it was raised, so that a recurring one can be told apart.
        frames = "".join(traceback.format_tb(exc.__traceback__))
        logger.warning("asyncpg internal error taken as a lost connection on %s\n%s", request.url.path, frames)
    return database_unavailable_to_problem(request, exc)


def internal_error_to_problem(request: AnyRequest, exc: Exception) -> ProblemResponse:
    # The exception's message can carry participant data (e.g. a database detail), so the
    # log gets its type and where it was raised, not its text.
    frames = "".join(traceback.format_tb(exc.__traceback__))
    logger.error("unhandled %s on %s %s\n%s", type(exc).__name__, request.method, request.url.path, frames)
    return problem(500, "internal_error", "Something went wrong on our side. It has been logged.").to_response(request)


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ValidationException: validation_to_problem,
    HTTPException: http_to_problem,
    asyncpg.UniqueViolationError: unique_violation_to_problem,
    asyncpg.ForeignKeyViolationError: foreign_key_violation_to_problem,
    asyncpg.CharacterNotInRepertoireError: unstorable_text_to_problem,
    asyncpg.InvalidParameterValueError: unknown_zone_to_problem,
    asyncpg.PostgresConnectionError: database_unavailable_to_problem,
    asyncpg.CannotConnectNowError: database_unavailable_to_problem,
    asyncpg.TooManyConnectionsError: database_unavailable_to_problem,
    asyncpg.QueryCanceledError: database_unavailable_to_problem,
    # The server shutting down or restarting (a fast shutdown ends every session).
    asyncpg.AdminShutdownError: database_unavailable_to_problem,
    asyncpg.CrashShutdownError: database_unavailable_to_problem,
    # A dropped connection; other InterfaceErrors are our bugs and stay 500s.
    asyncpg.ConnectionDoesNotExistError: database_unavailable_to_problem,
    asyncpg.InterfaceError: lost_connection_to_problem,
    asyncpg.InternalClientError: lost_connection_to_problem,
    ConnectionError: database_unavailable_to_problem,
    TimeoutError: database_unavailable_to_problem,
    redis.exceptions.RedisError: rate_limiter_unavailable_to_problem,
    Exception: internal_error_to_problem,
}
