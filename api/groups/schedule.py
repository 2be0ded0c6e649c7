"""Pure rules for group schedules: weekly slots in the group's own time zone become dated
sessions, right across daylight-saving changes. No I/O here."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from uuid import UUID
from zoneinfo import ZoneInfo

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# Self check-in is open from this long before a session starts until this long after it ends.
CHECK_IN_MARGIN = dt.timedelta(minutes=30)
# Start times by part of the day, for the listing filter.
TIMES_OF_DAY = {
    "morning": (dt.time(0, 0), dt.time(12, 0)),
    "afternoon": (dt.time(12, 0), dt.time(17, 0)),
    "evening": (dt.time(17, 0), dt.time(23, 59, 59)),
}


@dataclass(frozen=True, slots=True)
class Slot:
    weekday: int  # 1 = Monday ... 7 = Sunday
    start: dt.time
    end: dt.time


@dataclass(frozen=True, slots=True)
class Occurrence:
    id: str
    local_date: dt.date
    ordinal: int
    starts_at: dt.datetime  # aware, UTC
    ends_at: dt.datetime


def session_id(group_id: UUID, local_date: dt.date, ordinal: int) -> str:
    return f"{group_id}.{local_date.isoformat()}.{ordinal}"


def parse_session_id(value: str) -> tuple[UUID, dt.date, int] | None:
    """(group id, local date, ordinal), or None when `value` is not a session id."""
    try:
        group, day, ordinal = value.split(".")
        parsed = UUID(group), dt.date.fromisoformat(day), int(ordinal)
    except ValueError:
        return None
    return parsed if 1 <= parsed[2] <= 20 else None


def local_times(local_date: dt.date, slot: Slot, timezone: str) -> tuple[dt.datetime, dt.datetime]:
    """The slot on that date as UTC instants. Wall-clock times are kept across DST changes
    (a 19:00 meeting stays at 19:00 local); a time that falls in a spring-forward gap is
    read with the offset before the change, as zoneinfo does (fold=0)."""
    zone = ZoneInfo(timezone)
    starts = dt.datetime.combine(local_date, slot.start, tzinfo=zone)
    ends = dt.datetime.combine(local_date, slot.end, tzinfo=zone)
    return starts.astimezone(dt.UTC), ends.astimezone(dt.UTC)


def slots_on(slots: list[Slot], local_date: dt.date) -> list[Slot]:
    """That day's slots in start order; their position (from 1) is the session's ordinal."""
    return sorted((s for s in slots if s.weekday == local_date.isoweekday()), key=lambda s: s.start)


def occurrence(
    group_id: UUID, slots: list[Slot], timezone: str, local_date: dt.date, ordinal: int
) -> Occurrence | None:
    """The scheduled session with this date and ordinal, or None if the schedule has none."""
    day = slots_on(slots, local_date)
    if not 1 <= ordinal <= len(day):
        return None
    starts, ends = local_times(local_date, day[ordinal - 1], timezone)
    return Occurrence(session_id(group_id, local_date, ordinal), local_date, ordinal, starts, ends)


def occurrences(
    group_id: UUID, slots: list[Slot], timezone: str, start: dt.datetime, end: dt.datetime
) -> list[Occurrence]:
    """Sessions overlapping [start, end), in time order."""
    zone = ZoneInfo(timezone)
    first = start.astimezone(zone).date() - dt.timedelta(days=1)
    last = end.astimezone(zone).date() + dt.timedelta(days=1)
    found = []
    day = first
    while day <= last:
        for ordinal, slot in enumerate(slots_on(slots, day), start=1):
            starts, ends = local_times(day, slot, timezone)
            if starts < end and ends > start:
                found.append(Occurrence(session_id(group_id, day, ordinal), day, ordinal, starts, ends))
        day += dt.timedelta(days=1)
    return sorted(found, key=lambda o: (o.starts_at, o.id))


def check_in_open(starts_at: dt.datetime, ends_at: dt.datetime, now: dt.datetime) -> bool:
    return starts_at - CHECK_IN_MARGIN <= now <= ends_at + CHECK_IN_MARGIN


def check_in_code(secret: str, session: str) -> str:
    """The session's 6-digit self check-in code: derived, so nothing needs storing, and
    unguessable without the server's secret."""
    digest = hmac.new(secret.encode(), f"check-in:{session}".encode(), hashlib.sha256).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 1_000_000:06d}"
