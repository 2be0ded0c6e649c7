"""Field rules shared by request shapes. msgspec turns a ValueError raised in a Struct's
`__post_init__` into a 400 that names the field (the message starts with it)."""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Annotated
from zoneinfo import available_timezones

import msgspec

Alias = Annotated[
    str, msgspec.Meta(min_length=1, max_length=50, description="First name or nickname; never a last name requirement.")
]
Timezone = Annotated[
    str, msgspec.Meta(min_length=1, max_length=64, description="IANA time zone, e.g. America/Chicago.")
]
Phone = Annotated[str, msgspec.Meta(min_length=3, max_length=32, pattern=r"^[0-9+()\-. ]+$")]
Email = Annotated[str, msgspec.Meta(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def check_timezone(value: str | None, field: str = "timezone") -> None:
    if value is not None and value not in _zones():
        raise ValueError(f"{field}: {value!r} is not an IANA time zone name (like America/Chicago)")


def check_not_future(value: dt.date | None, field: str, *, slack_days: int = 1) -> None:
    # A day of slack: "today" where the person is may be tomorrow in UTC.
    if value is not None and value > dt.date.today() + dt.timedelta(days=slack_days):
        raise ValueError(f"{field}: must not be in the future")
