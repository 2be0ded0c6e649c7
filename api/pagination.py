"""Cursor pagination: `{"items": [...], "next_cursor": ...}` everywhere.

A cursor is the sort key of the last item returned, opaque to the client (base64 of JSON),
so pages stay stable while rows are added."""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import re
from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

import asyncpg
import msgspec
from litestar.params import PathParameter, QueryParameter

from api.problems import invalid, problem
from api.time_bounds import out_of_bounds

T = TypeVar("T")

Limit = Annotated[int, QueryParameter(ge=1, le=200, description="Items per page (1-200).")]
# `from` and `to` bound a listing in time (they are Python keywords, hence the names).
FromDate = Annotated[dt.date | None, QueryParameter(name="from", description="First local date (YYYY-MM-DD)")]
ToDate = Annotated[dt.date | None, QueryParameter(name="to", description="Last local date (YYYY-MM-DD)")]
# The sessions listings' bounds: a date-time, or a plain date for "from that day on" where the
# group meets, so that nobody has to work out an offset (text: msgspec cannot take either).
FromTime = Annotated[
    str | None,
    QueryParameter(
        name="from",
        max_length=64,
        description="Start: a date-time with offset, or a date (YYYY-MM-DD): the start of that day in the group's"
        " time zone (your own sessions: yours)",
    ),
]
ToTime = Annotated[
    str | None,
    QueryParameter(
        name="to",
        max_length=64,
        description="End (not included): a date-time with offset, or a date: the start of that day in the group's"
        " time zone (your own sessions: yours)",
    ),
]
# A bigint row id in a path: out of range is a 400, not an error from the database.
RowId = Annotated[int, PathParameter(ge=1, le=2**63 - 1)]
Cursor = Annotated[str | None, QueryParameter(max_length=200, description="`next_cursor` from the previous page.")]


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def moment(value: str | None, field: str, zone: dt.tzinfo) -> dt.datetime | None:
    """A `FromTime`/`ToTime` value as an instant: a date is the start of that day in `zone`
    (where midnight is skipped, the day's first hour). A date-time without offset stays naive."""
    if value is None:
        return None
    try:
        if _DATE.fullmatch(value):
            return dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), zone).astimezone(dt.UTC)
        return msgspec.convert(value, dt.datetime)
    # Not a date-time, a date that is not one (02-30), or one too near year 1 or 9999.
    except (msgspec.ValidationError, ValueError, OverflowError):
        pass
    raise invalid(field, "must be a date like 2026-03-01 or a date-time like 2026-03-01T09:00:00-06:00", "query")


class Page(msgspec.Struct, Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(*values: Any) -> str:
    raw = json.dumps(
        [v.isoformat() if isinstance(v, dt.datetime) else str(v) if isinstance(v, UUID) else v for v in values]
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _bad_cursor() -> Exception:
    return problem(
        400,
        "validation_failed",
        "cursor: not a cursor from this list; start again without one.",
        errors=[{"field": "cursor", "source": "query", "message": "not a cursor from this list"}],
    )


_BIGINT = range(-(2**63), 2**63)


def _cursor_value(kind: type, value: Any) -> Any:
    if kind is int and type(value) is int and value in _BIGINT:
        return value
    if kind is dt.datetime and isinstance(value, str):
        parsed = dt.datetime.fromisoformat(value)
        if parsed.tzinfo is not None and out_of_bounds(parsed) is None:
            return parsed
    if kind is UUID and isinstance(value, str):
        return UUID(value)
    if kind is str and isinstance(value, str):
        return value
    if kind is float and type(value) in (int, float) and math.isfinite(value):
        return float(value)
    raise ValueError(f"not a {kind.__name__}")


def decode_cursor(cursor: str, *types: type) -> tuple[Any, ...]:
    """The values `encode_cursor` was given, checked against `types`, or a 400."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != len(types):
            raise ValueError("wrong shape")
        return tuple(_cursor_value(kind, value) for kind, value in zip(types, values, strict=True))
    except (ValueError, TypeError, UnicodeDecodeError):  # JSONDecodeError is a ValueError
        raise _bad_cursor() from None


def time_id_page(
    rows: list[asyncpg.Record], limit: int, to_item: Callable[[asyncpg.Record], T], time_key: str = "created_at"
) -> Page[T]:
    """A page of rows ordered by (time, id) descending, fetched with `limit + 1`."""
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = encode_cursor(rows[-1][time_key], rows[-1]["id"]) if more else None
    return Page(items=[to_item(row) for row in rows], next_cursor=cursor)


def time_id_after(cursor: str | None) -> tuple[dt.datetime, UUID] | None:
    return decode_cursor(cursor, dt.datetime, UUID) if cursor else None
