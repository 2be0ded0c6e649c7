"""Field rules shared by request shapes. msgspec turns a ValueError raised in a Struct's
`__post_init__` into a 400 that names the field (the message starts with it)."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable
from functools import cache
from typing import Annotated
from zoneinfo import available_timezones

import msgspec

from api.wording import plain
from db.zones import is_region_zone

# A name shown to others on one line: not blank, no control characters (line breaks, tabs) and
# no invisible formatting ones (zero-width spaces, bidi overrides) that would make it read
# differently from what it is, or impossible to type back (an admin's deletion repeats it).
_ONE_LINE_NAME = r"^(?![\s\S]*[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff])[\s\S]*\S"
# Text a peer writes (a post, a report's note): any characters a person types, line breaks
# too, but none that PostgreSQL cannot store or that hide what the text says (bidi
# overrides, zero-width characters), and not blank.
PEER_TEXT = r"^(?![\s\S]*[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff])[\s\S]*\S"
_PHONE = r"^[0-9+()\-. ]+$"
_EMAIL = r"^[^@\s]+@[^@\s]+$"

Alias = Annotated[
    str,
    msgspec.Meta(
        min_length=1, max_length=50, pattern=_ONE_LINE_NAME, description="First name or nickname (no last name needed)."
    ),
]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=_ONE_LINE_NAME)]
Timezone = Annotated[
    str, msgspec.Meta(min_length=1, max_length=64, description="IANA time zone, e.g. America/Chicago.")
]
Phone = Annotated[str, msgspec.Meta(min_length=3, max_length=32, pattern=_PHONE)]
Email = Annotated[str, msgspec.Meta(min_length=3, max_length=254, pattern=_EMAIL)]

_AT_PATH = re.compile(r"^(.*?) - at `\$\.?([^`]*)`$", re.S)
_MISSING = re.compile(r"missing required field `([^`]+)`")


def explain(exc: msgspec.ValidationError) -> str:
    """ "field: what is wrong" from a msgspec error (for the CLI; the API has its own path)."""
    text = str(exc)
    if match := _AT_PATH.match(text):
        message, field = match.groups()
        return f"{field or 'value'}: {plain(message)}"
    if missing := _MISSING.search(text):
        return f"{missing.group(1)}: is required"
    return plain(text)


@cache
def _python_region_zones() -> frozenset[str]:
    return frozenset(z for z in available_timezones() if is_region_zone(z))


_accepted: frozenset[str] | None = None
# The database _accepted was read from (None: set any other way). Kept with the set, so the
# two cannot disagree: the tests serve apps on PostgreSQL servers of other versions in one
# process, and a set read from one must not stand for another's.
_read_from: str | None = None


def accept_zones_known_to(postgres_names: Iterable[str], *, read_from: str | None = None) -> None:
    """Accept from now on only the zones the connected PostgreSQL knows too (read at the API's
    start, or a command's; `read_from` names that database). Until then, Python's alone."""
    global _accepted, _read_from
    _accepted = _python_region_zones() & frozenset(postgres_names)
    _read_from = read_from


def zones_read_from() -> str | None:
    """The database the accepted zones were read from, if they were."""
    return _read_from


def accepted_zones() -> frozenset[str]:
    """The zones a person or a group may be given: places both Python and PostgreSQL know."""
    return _python_region_zones() if _accepted is None else _accepted


NOT_AN_ACCEPTED_ZONE = "is not a time zone this server accepts: give an IANA place name like America/Chicago (GET /v1/timezones lists them)"


def check_timezone(value: str | None, field: str = "timezone") -> None:
    if value is not None and value not in accepted_zones():
        raise ValueError(f"{field}: {NOT_AN_ACCEPTED_ZONE}")


def check_not_future(value: dt.date | None, field: str, *, slack_days: int = 1) -> None:
    # A day of slack: "today" where the person is may be tomorrow in UTC.
    if value is not None and value > dt.date.today() + dt.timedelta(days=slack_days):
        raise ValueError(f"{field}: must not be in the future")


class Patch(msgspec.Struct, forbid_unknown_fields=True):
    """A PATCH body: fields left out stay as they are (msgspec.UNSET); `null` clears."""

    def changes(self) -> dict[str, object]:
        return {f: v for f in self.__struct_fields__ if (v := getattr(self, f)) is not msgspec.UNSET}


def same_name(typed: str, stored: str) -> bool:
    """Whether a name typed back matches the stored one, as a person reads them: the same
    Unicode form, spaces collapsed, case kept."""
    return _reading(typed) == _reading(stored)


def _reading(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())
