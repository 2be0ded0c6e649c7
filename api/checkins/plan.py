"""Pure rules for when a graduate owes a check-in. No I/O here.

The default plan steps down with time since IOP completion (day 0 = the completion date):
weeks 1-4 daily; weeks 5-12 three slots a week (Mon-Tue, Wed-Thu, Fri-Sun); weeks 13-52
weekly (Mon-Sun); after that none. Staff may override a stretch of dates with another
cadence ("none" included), open-ended or not.

A slot is a run of local dates; a check-in whose local date falls in it satisfies it. Slots
are clipped where the cadence changes, so the first three-a-week slot may be a lone Wednesday.
The database mirrors these rules in the SQL function `checkin_slot` (db/migrations), and a
test holds the two to the same answers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from db.zones import zone_of

DAILY, THREE_WEEKLY, WEEKLY, NONE = "daily", "three_weekly", "weekly", "none"
CADENCES = (DAILY, THREE_WEEKLY, WEEKLY, NONE)
# (first day, last day, cadence), days counted from the IOP completion date.
DEFAULT_PHASES = ((0, 27, DAILY), (28, 83, THREE_WEEKLY), (84, 363, WEEKLY))
_FAR = dt.date(9999, 12, 31)


@dataclass(frozen=True, slots=True)
class Override:
    cadence: str
    starts_on: dt.date
    ends_on: dt.date | None = None  # None: until staff change it


@dataclass(frozen=True, slots=True)
class Slot:
    starts_on: dt.date
    ends_on: dt.date
    cadence: str

    def window(self, timezone: str) -> tuple[dt.datetime, dt.datetime]:
        """From local midnight on the first day to local midnight after the last, as UTC."""
        zone = zone_of(timezone)
        start = dt.datetime.combine(self.starts_on, dt.time(0), tzinfo=zone)
        end = dt.datetime.combine(self.ends_on + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
        return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def _segment(day: dt.date, iop: dt.date, override: Override | None) -> tuple[str, dt.date, dt.date] | None:
    """The cadence in force on `day` and the dates it runs over (around `day`)."""
    if override is not None and override.starts_on <= day <= (override.ends_on or _FAR):
        return override.cadence, override.starts_on, override.ends_on or _FAR
    offset = (day - iop).days
    for first, last, cadence in DEFAULT_PHASES:
        if first <= offset <= last:
            start, end = iop + dt.timedelta(days=first), iop + dt.timedelta(days=last)
            if override is not None:  # the default runs up to (or resumes after) the override
                if override.starts_on > day:
                    end = min(end, override.starts_on - dt.timedelta(days=1))
                elif override.ends_on is not None and override.ends_on < day:
                    start = max(start, override.ends_on + dt.timedelta(days=1))
            return cadence, start, end
    return None


def slot_for(day: dt.date, iop: dt.date, override: Override | None = None) -> Slot | None:
    """The slot that `day` (a local date) belongs to, or None when nothing is due then."""
    segment = _segment(day, iop, override)
    if segment is None or segment[0] == NONE:
        return None
    cadence, start, end = segment
    weekday = day.isoweekday()
    if cadence == DAILY:
        first, last = day, day
    elif cadence == THREE_WEEKLY:
        back = weekday - 1 if weekday <= 2 else weekday - 3 if weekday <= 4 else weekday - 5
        first = day - dt.timedelta(days=back)
        last = first + dt.timedelta(days=1 if weekday <= 4 else 2)
    else:
        first = day - dt.timedelta(days=weekday - 1)
        last = first + dt.timedelta(days=6)
    return Slot(max(first, start), min(last, end), cadence)


def slots_between(first: dt.date, last: dt.date, iop: dt.date, override: Override | None = None) -> list[Slot]:
    """The slots that touch [first, last], in order."""
    found: list[Slot] = []
    # Nothing is due before the plan starts: skip straight there (the app asks for a year).
    day = max(first, iop if override is None else min(iop, override.starts_on))
    while day <= last:
        slot = slot_for(day, iop, override)
        if slot is None:
            day += dt.timedelta(days=1)
            continue
        found.append(slot)
        day = slot.ends_on + dt.timedelta(days=1)
    return found


def next_slot(after: dt.date, iop: dt.date, override: Override | None = None, horizon_days: int = 400) -> Slot | None:
    """The first slot starting after `after`, looking no further than `horizon_days`."""
    day = after + dt.timedelta(days=1)
    for _ in range(horizon_days):
        if (slot := slot_for(day, iop, override)) is not None:
            return slot
        day += dt.timedelta(days=1)
    return None


def streak(slots_newest_first: list[tuple[Slot, bool]]) -> int:
    """Satisfied slots in a row, counting back from the newest (an unfinished current slot
    that is not done yet is left out by the caller)."""
    count = 0
    for _, done in slots_newest_first:
        if not done:
            break
        count += 1
    return count


def days_sober(sobriety_date: dt.date | None, timezone: str, now: dt.datetime | None = None) -> int | None:
    if sobriety_date is None:
        return None
    today = (now or dt.datetime.now(dt.UTC)).astimezone(zone_of(timezone)).date()
    return max((today - sobriety_date).days, 0)
