"""RFC 9457 problem details: the one shape of every error this API answers.

Each problem we raise carries a stable machine-readable `code` beside the human `detail`,
so the app can react (for example, send the graduate back to their counselor) without
parsing prose."""

from __future__ import annotations

from typing import Any, NoReturn, TypeVar, overload

from litestar.plugins.problem_details import ProblemDetailsException

T = TypeVar("T")

_TITLES = {
    400: "Bad request",
    401: "Not signed in",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    408: "Request timeout",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    423: "Locked",
    429: "Too many requests",
    500: "Internal server error",
    501: "Not enabled",
    503: "Service unavailable",
}


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> ProblemDetailsException:
    return ProblemDetailsException(
        status_code=status,
        title=_TITLES.get(status, "Error"),
        detail=detail,
        headers=headers,
        extra={"code": code, **extra},
    )


def invalid(field: str, message: str, source: str = "body") -> ProblemDetailsException:
    """A 400 that names the bad field, in the same shape as request validation errors."""
    return invalid_fields([{"field": field, "source": source, "message": message}])


def invalid_fields(errors: list[dict[str, str]]) -> ProblemDetailsException:
    """A 400 listing every bad field at once (`[{field, source, message}]`), so a person
    fixes a form in one go rather than one field per try."""
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem(400, "validation_failed", detail, errors=errors)


def not_found(what: str) -> ProblemDetailsException:
    """Unknown and foreign ids answer alike, so nobody learns what exists."""
    return problem(404, "not_found", f"No such {what}.")


# `found(None, what)` is the 404 itself, for a check the caller made: it never returns.
@overload
def found(row: None, what: str) -> NoReturn: ...
@overload
def found(row: T | None, what: str) -> T: ...
def found(row: T | None, what: str) -> T:
    """The object-level check every route uses: a row the caller may see, or a 404."""
    if row is None:
        raise not_found(what)
    return row
