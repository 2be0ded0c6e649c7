"""The one window of dates and times this API accepts.

Python and PostgreSQL hold years 1 to 9999, but nothing in aftercare happens before 1970
or a century from now, and values near either end break things far from where they came
in: converting `0001-01-01T00:00:00+01:00` to UTC overflows Python's datetime, and a session
moved to the year 9999 drops out of every listing. So every date or date-time a request
carries (body, query or cursor) is checked here first and refused with a 400 that names
the field. Bounds are compared on the value's own calendar date, which needs no conversion
and so cannot overflow; a value inside the window is then safe to compare as an instant."""

from __future__ import annotations

import datetime as dt
import re

from api.deps import AnyRequest
from api.problems import invalid

EARLIEST = dt.date(1970, 1, 1)
YEARS_AHEAD = 100
# A sobriety date is a day of someone's life: it may well be before 1970.
EARLIEST_IN_A_LIFE = dt.date(1900, 1, 1)


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def years_after(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February, in a year without one
        return day.replace(year=day.year + years, day=28)


def out_of_bounds(
    value: dt.date | dt.datetime, *, earliest: dt.date = EARLIEST, latest: dt.date | None = None
) -> str | None:
    """What is wrong with `value`, said for a person, or None when it is within
    [earliest, latest] (latest: a hundred years from today unless given)."""
    latest = latest or years_after(_today(), YEARS_AHEAD)
    day = value.date() if isinstance(value, dt.datetime) else value
    if earliest <= day <= latest:
        return None
    return f"must be between {earliest.isoformat()} and {latest.isoformat()}"


def check_date(value: dt.date | dt.datetime | None, field: str, **bounds: dt.date) -> None:
    """For a request body's `__post_init__`: a ValueError msgspec turns into a 400 naming
    the field."""
    if value is not None and (message := out_of_bounds(value, **bounds)):
        raise ValueError(f"{field}: {message}")


def refuse_date(value: dt.date | dt.datetime | None, field: str, source: str = "query", **bounds: dt.date) -> None:
    """For a parameter a route reads itself: the same rule, as an `invalid()` problem."""
    if value is not None and (message := out_of_bounds(value, **bounds)):
        raise invalid(field, message, source)


# A date first: msgspec also reads a bare number ("0.0", "1e10") as a Unix timestamp.
_WRITTEN_AS_A_DATE = re.compile(r"^\d{4}-\d\d-\d\d")


def refuse_query_time(request: AnyRequest, field: str, value: dt.datetime | None) -> None:
    """A date-time query parameter, as Litestar parsed it: refused unless written as a date
    and time (RFC 3339) within the window."""
    if value is None:
        return
    if not _WRITTEN_AS_A_DATE.match(request.query_params.get(field, "")):
        raise invalid(field, "give a date and time with its offset, like 2026-12-01T00:00:00Z", "query")
    refuse_date(value, field)
