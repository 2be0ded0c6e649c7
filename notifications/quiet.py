"""Quiet hours: a pure rule, in the recipient's own time zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

DEFAULT_QUIET = (dt.time(22, 0), dt.time(8, 0))


def quiet_until(now: dt.datetime, timezone: str, start: dt.time | None, end: dt.time | None) -> dt.datetime | None:
    """When `now` falls inside the quiet hours [start, end) where the person is, the UTC
    moment they end; else None. A window may cross midnight (22:00-08:00). The end is a
    wall-clock time, so across a daylight-saving change the night is an hour longer or
    shorter in real time."""
    if start is None or end is None or start == end:
        return None
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    crosses_midnight = start > end
    inside = (clock >= start or clock < end) if crosses_midnight else (start <= clock < end)
    if not inside:
        return None
    end_date = local.date() + dt.timedelta(days=1) if crosses_midnight and clock >= start else local.date()
    # An end inside a spring-forward gap (a time the wall clock skips) lands after the gap.
    ends = dt.datetime.combine(end_date, end, tzinfo=zone)
    return ends.astimezone(dt.UTC)
