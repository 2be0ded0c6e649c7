"""Time zones in the dashboard: the ones the API accepts (for every picker), and a stored zone
that cannot be worked with (bad data: an old row, a database upgrade) shown as not recognized,
with UTC in its place, instead of a stack trace. And one way to write a moment on every page:
"12:55 PM", "Nov 27, 12:55 PM", "Nov 27, 2026, 12:55 PM", in text and in tables alike."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import streamlit as st

from admin_dashboard.state import recent
from admin_dashboard.typed import plain

# The tz database's pseudo-zones: names Python may load that are no place.
PSEUDO_ZONES = ("localtime", "posixrules", "Factory")
ZONES_SECONDS = 3600  # the server's list changes with an upgrade of its tz database, not daily


def zone_named(name: str | None) -> ZoneInfo | None:
    """The zone, or None when this name cannot be worked with."""
    if not name or name in PSEUDO_ZONES or name.startswith(("posix/", "right/")):
        return None
    try:
        return ZoneInfo(name)
    # Unknown: ZoneInfoNotFoundError (a KeyError); malformed: ValueError; a folder: OSError.
    except (KeyError, ValueError, OSError):
        return None


def usable(name: str | None) -> str:
    """The name, or "UTC" in place of one that cannot be worked with."""
    return name if zone_named(name) else "UTC"


def reader_zone(api) -> str:
    """The signed-in person's zone (UTC while theirs is not recognized)."""
    return usable((api.me or {}).get("timezone"))


def accepted(api) -> list[str]:
    """The zones the API accepts, sorted (GET /v1/timezones), kept for the session."""
    return recent("timezones", lambda: api.get("/v1/timezones")["items"], ttl_s=ZONES_SECONDS)


def zone_picker(where, label: str, choices: list[str], current: str | None, *, key: str, help: str | None = None):
    """A picker over the accepted zones. A stored zone not among them is said to be not
    recognized and is not chosen for the user: they pick one (None until they do)."""
    if current and current not in choices:
        where.warning(f"The stored time zone “{plain(current)}” is not recognized. Choose one.")
    return where.selectbox(
        label,
        choices,
        index=choices.index(current) if current in choices else None,
        placeholder="Choose a time zone",
        key=key,
        help=help,
    )


# The same moments in a table's DatetimeColumn (day.js: "A" is AM/PM, where "a" wrote "am").
TABLE_TIME = "MMM D, h:mm A"
TABLE_DAY = "MMM D, YYYY"


def clock(moment: dt.datetime) -> str:
    """ "9:05 PM"."""
    return f"{moment.hour % 12 or 12}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}"


def _in_zone(iso: str | dt.datetime, zone: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(iso) if isinstance(iso, str) else iso
    return moment.astimezone(zone_named(zone) or dt.UTC)


def local_clock(iso: str | dt.datetime, zone: str) -> str:
    """ "9:05 PM" in `zone` (UTC if it is not recognized)."""
    return clock(_in_zone(iso, zone))


def local_time(iso: str | dt.datetime, zone: str) -> str:
    """ "Nov 27, 9:05 PM" in `zone` (UTC if it is not recognized)."""
    moment = _in_zone(iso, zone)
    return f"{moment:%b} {moment.day}, {clock(moment)}"


def local_day(iso: str | dt.datetime, zone: str) -> str:
    """ "Nov 27" in `zone` (UTC if it is not recognized)."""
    moment = _in_zone(iso, zone)
    return f"{moment:%b} {moment.day}"


def when(value: str | dt.datetime | None, zone: str) -> str:
    """ "Nov 27, 2026, 9:05 PM" in `zone` (UTC if it is not recognized); "–" for nothing."""
    if not value:
        return "–"
    moment = _in_zone(value, zone)
    return f"{moment:%b} {moment.day}, {moment.year}, {clock(moment)}"


def time_column(label: str, zone: str, format: str = TABLE_TIME, **options) -> st.column_config.DatetimeColumn:  # noqa: A002
    """A table's column of moments, written as `local_time` writes them, in `zone` (a
    `format` of the same clock may add the year or the seconds)."""
    return st.column_config.DatetimeColumn(label, format=format, timezone=usable(zone), **options)


def day_column(label: str, zone: str, **options) -> st.column_config.DatetimeColumn:
    """A table's column of days ("Nov 27, 2026"), in `zone`."""
    return st.column_config.DatetimeColumn(label, format=TABLE_DAY, timezone=usable(zone), **options)


def today_in(zone: str) -> dt.date:
    return dt.datetime.now(zone_named(zone) or dt.UTC).date()


def own_zone_note(api) -> None:
    """Said once, in the sidebar, when the reader's own zone is not recognized."""
    mine = (api.me or {}).get("timezone")
    if mine and zone_named(mine) is None:
        st.caption(f"Your time zone, “{plain(mine)}”, is not recognized: times are shown in UTC.")
