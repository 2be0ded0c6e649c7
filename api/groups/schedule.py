"""Pure rules for group schedules: weekly slots in the group's own time zone become dated
sessions, right across daylight-saving changes. No I/O here."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

from db.zones import zone_of

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[Weekday, ...] = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
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
    number: int = 1
    """Stable within the group: a session's id names its slot by this number, so editing
    one slot's time, or adding another, leaves the other sessions (and RSVPs) where they are."""


@dataclass(frozen=True, slots=True)
class Occurrence:
    id: str
    local_date: dt.date
    slot: int
    starts_at: dt.datetime  # aware, UTC
    ends_at: dt.datetime


# Sessions exist within this distance of today; ids outside it are not sessions.
SESSION_HORIZON = dt.timedelta(days=2 * 366)
# How far ahead a facilitator may move a session: well inside the horizon, so that a moved
# session stays in every listing (one moved to the year 9999 once vanished from them all).
RESCHEDULE_AHEAD = dt.timedelta(days=366)


def session_id(group_id: UUID, local_date: dt.date, slot: int) -> str:
    return f"{group_id}.{local_date.isoformat()}.{slot}"


def parse_session_id(value: str, today: dt.date | None = None) -> tuple[UUID, dt.date, int] | None:
    """(group id, local date, slot number) from a session id in its one canonical spelling
    (so a session cannot be reached under a second name), within the horizon; else None."""
    try:
        group, day, slot = value.split(".")
        parsed = UUID(group), dt.date.fromisoformat(day), int(slot)
    except ValueError:
        return None
    if session_id(*parsed) != value or not 1 <= parsed[2] <= 999:
        return None
    today = today or dt.date.today()
    if abs(parsed[1] - today) > SESSION_HORIZON:
        return None
    return parsed


def local_times(local_date: dt.date, slot: Slot, timezone: str) -> tuple[dt.datetime, dt.datetime]:
    """The slot on that date as UTC instants. Wall-clock times are kept across DST changes
    (a 19:00 meeting stays at 19:00 local); a time that falls in a spring-forward gap is
    read with the offset before the change, as zoneinfo does (fold=0)."""
    zone = zone_of(timezone)
    starts = dt.datetime.combine(local_date, slot.start, tzinfo=zone)
    ends = dt.datetime.combine(local_date, slot.end, tzinfo=zone)
    return starts.astimezone(dt.UTC), ends.astimezone(dt.UTC)


def occurrence(group_id: UUID, slots: list[Slot], timezone: str, local_date: dt.date, number: int) -> Occurrence | None:
    """The scheduled session of slot `number` on that date, or None if there is none."""
    for slot in slots:
        if slot.number == number and slot.weekday == local_date.isoweekday():
            starts, ends = local_times(local_date, slot, timezone)
            return Occurrence(session_id(group_id, local_date, number), local_date, number, starts, ends)
    return None


def occurrences(
    group_id: UUID, slots: list[Slot], timezone: str, start: dt.datetime, end: dt.datetime
) -> list[Occurrence]:
    """Sessions overlapping [start, end), in time order."""
    zone = zone_of(timezone)
    first = start.astimezone(zone).date() - dt.timedelta(days=1)
    last = end.astimezone(zone).date() + dt.timedelta(days=1)
    found = []
    day = first
    while day <= last:
        for slot in slots:
            if slot.weekday == day.isoweekday():
                starts, ends = local_times(day, slot, timezone)
                if starts < end and ends > start:
                    found.append(Occurrence(session_id(group_id, day, slot.number), day, slot.number, starts, ends))
        day += dt.timedelta(days=1)
    return sorted(found, key=lambda o: (o.starts_at, o.id))


def number_slots(old: list[Slot], new: list[tuple[int, dt.time, dt.time]]) -> list[Slot]:
    """Give the edited schedule's slots their numbers. A slot keeps its number when its
    weekday and start are unchanged; on a weekday where one slot went and one came, the new
    one is the old one moved (same number); any other new slot gets a fresh number."""
    by_key = {(s.weekday, s.start): s for s in old}
    numbered: dict[tuple[int, dt.time], Slot] = {}
    for weekday, start, end in new:
        if (kept := by_key.get((weekday, start))) is not None:
            numbered[(weekday, start)] = Slot(weekday, start, end, kept.number)
    used = {s.number for s in numbered.values()}
    fresh = max((s.number for s in old), default=0)
    for weekday in range(1, 8):
        gone = [s for s in old if s.weekday == weekday and s.number not in used]
        came = [(w, st, en) for w, st, en in new if w == weekday and (w, st) not in numbered]
        if len(gone) == 1 and len(came) == 1:
            _, start, end = came[0]
            numbered[(weekday, start)] = Slot(weekday, start, end, gone[0].number)
        else:
            for _, start, end in sorted(came, key=lambda c: c[1]):
                fresh += 1
                numbered[(weekday, start)] = Slot(weekday, start, end, fresh)
    return sorted(numbered.values(), key=lambda s: (s.weekday, s.start))


def check_in_open(starts_at: dt.datetime, ends_at: dt.datetime, now: dt.datetime) -> bool:
    return starts_at - CHECK_IN_MARGIN <= now <= ends_at + CHECK_IN_MARGIN


def _derived(secret: str, purpose: str, session: str) -> bytes:
    """A value of the session's own for `purpose`: nothing to store, and neither guessable
    nor traceable to the session without the server's secret."""
    return hmac.new(secret.encode(), f"{purpose}:{session}".encode(), hashlib.sha256).digest()


def check_in_code(secret: str, session: str) -> str:
    """The session's 6-digit self check-in code: derived, so nothing needs storing, and
    unguessable without the server's secret."""
    return f"{int.from_bytes(_derived(secret, 'check-in', session)[:8], 'big') % 1_000_000:06d}"


def personal_feed_uid(secret: str, session: str) -> str:
    """The session's UID in graduates' personal calendars: stable, so calendar apps update the
    entry in place, but opaque. The session id names the group, and the group's public
    calendar (whose UIDs are session ids) would then tell its name and address."""
    return _derived(secret, "calendar-uid", session).hex()[:32]
