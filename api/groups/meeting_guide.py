"""The Meeting Guide JSON feed (code4recovery spec): our public groups out, and any feed in.
Pure functions; the routes and the CLI do the I/O.

Mapping, both ways:
- one meeting per distinct start/end time of a group, its weekdays in `day` (0 = Sunday);
  a group's second and later times get the slug `<slug>--2`, `--3`... and are merged back;
- topics with a spec code go in `types` (women W, men M, LGBTQ, dual diagnosis DD, ...);
  the others, in a last `Topics:` line of `notes`, which also holds the description;
- format: an address (not approximate) makes a group in person, a conference link or phone
  makes it online, both make it hybrid; neither means the meeting is inactive.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from api.validation import accepted_zones

TOPIC_TYPES = {
    "women": "W",
    "men": "M",
    "lgbtq": "LGBTQ",
    "dual_diagnosis": "DD",
    "young_adults": "Y",
    "seniors": "SEN",
    "newcomers": "BE",
    "meditation": "MED",
    "spanish_speaking": "S",
}
TYPE_TOPICS = {code: topic for topic, code in TOPIC_TYPES.items()}
TOPIC_LABELS = {"relapse_prevention": "relapse prevention", "family": "family"}
_LABEL_TOPICS = {label: topic for topic, label in TOPIC_LABELS.items()}
_TOPICS_LINE = re.compile(r"(?:\n\n|^)Topics: ([^\n]*)$")
_SLUG_PART = re.compile(r"^(.+)--([0-9]+)$")
_CLOCK = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")


@dataclass
class FeedGroup:
    """What the feed carries about one group (ours or imported)."""

    slug: str
    name: str
    description: str
    topics: list[str]
    format: str
    timezone: str
    slots: list[tuple[int, dt.time, dt.time]]  # ISO weekday, start, end
    address: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    conference_url: str | None = None
    conference_phone: str | None = None
    updated: dt.datetime | None = field(default=None, compare=False)


@dataclass
class Skipped:
    slug: str
    name: str
    reason: str


def _hhmm(value: dt.time) -> str:
    return value.strftime("%H:%M")


def export_feed(groups: list[FeedGroup]) -> list[dict[str, Any]]:
    meetings = []
    for group in groups:
        times: dict[tuple[dt.time, dt.time], list[int]] = {}
        for weekday, start, end in sorted(group.slots, key=lambda s: (s[1], s[2], s[0])):
            times.setdefault((start, end), []).append(weekday % 7)
        extra = [TOPIC_LABELS[t] for t in group.topics if t in TOPIC_LABELS]
        notes = group.description + (
            ("\n\n" if group.description else "") + "Topics: " + ", ".join(extra) if extra else ""
        )
        for n, ((start, end), days) in enumerate(times.items(), start=1):
            meeting: dict[str, Any] = {
                "name": group.name,
                "slug": group.slug if n == 1 else f"{group.slug}--{n}",
                "day": days[0] if len(days) == 1 else sorted(days),
                "time": _hhmm(start),
                "end_time": _hhmm(end),
                "timezone": group.timezone,
                "types": [TOPIC_TYPES[t] for t in group.topics if t in TOPIC_TYPES],
                "notes": notes,
            }
            if group.updated:
                meeting["updated"] = group.updated.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
            if group.format in ("in_person", "hybrid") and group.address:
                meeting["formatted_address"] = group.address
                meeting["approximate"] = "no"  # a place to go, even with no street number
                if group.latitude is not None:
                    meeting["latitude"], meeting["longitude"] = group.latitude, group.longitude
            if group.format in ("online", "hybrid"):
                if group.conference_url:
                    meeting["conference_url"] = group.conference_url
                if group.conference_phone:
                    meeting["conference_phone"] = group.conference_phone
            meetings.append(meeting)
    return meetings


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _address(meeting: dict[str, Any]) -> tuple[str | None, bool]:
    """(address, approximate). Without the spec's `approximate`, a feed that gives a street
    line (`address`) or a venue (`location`) means a place to walk to; a bare
    `formatted_address` with no number in it ("New York, NY, USA") only says where an
    online meeting is based."""
    street = _text(meeting.get("address"))
    formatted = _text(meeting.get("formatted_address"))
    if not formatted:
        parts = [street, *(_text(meeting.get(k)) for k in ("city", "state", "postal_code", "country"))]
        formatted = ", ".join(p for p in parts if p) or None
    if formatted is None:
        return None, True
    approximate = meeting.get("approximate")
    if approximate in ("yes", "no"):
        return formatted, approximate == "yes"
    place_given = street is not None or _text(meeting.get("location")) is not None
    return formatted, not place_given and not any(ch.isdigit() for ch in formatted)


def _clock(value: Any) -> dt.time | None:
    match = _CLOCK.match(value.strip()) if isinstance(value, str) else None
    return dt.time(int(match.group(1)), int(match.group(2))) if match else None


def _parse_meeting(meeting: Any, default_timezone: str | None, zones: frozenset[str]) -> FeedGroup | Skipped:
    if not isinstance(meeting, dict):
        return Skipped("?", "?", "not a meeting object")
    name = _text(meeting.get("name")) or ""
    raw_slug = meeting.get("slug")
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", str(raw_slug)).strip("-_") if isinstance(raw_slug, (str, int)) else ""
    if not name or not slug:
        return Skipped(slug or "?", name or "?", "no name or no slug")
    raw_types = meeting.get("types")
    types: list[Any] = raw_types if isinstance(raw_types, list) else []
    if "TC" in types:
        return Skipped(slug, name, "temporarily closed (type TC)")
    days = meeting.get("day")
    days = [days] if isinstance(days, int) and not isinstance(days, bool) else days
    if not isinstance(days, list) or not days or not all(isinstance(d, int) and 0 <= d <= 6 for d in days):
        return Skipped(slug, name, "no weekday (day 0-6): by appointment meetings are not imported")
    start = _clock(meeting.get("time"))
    if start is None:
        return Skipped(slug, name, "no start time (time HH:MM)")
    end = _clock(meeting.get("end_time"))
    if end is None or end <= start:  # the spec's default is one hour; we keep within the day
        end = min((dt.datetime.combine(dt.date.min, start) + dt.timedelta(hours=1)).time(), dt.time(23, 59))
        end = end if end > start else dt.time(23, 59)
    timezone = _text(meeting.get("timezone")) or default_timezone
    if timezone is None:
        return Skipped(slug, name, "no timezone in the feed: pass --timezone")
    if timezone not in zones:
        return Skipped(slug, name, f"unknown timezone {timezone!r}")
    address, approximate = _address(meeting)
    url = _text(meeting.get("conference_url"))
    url = url if url and re.match(r"^https?://\S+$", url) and len(url) <= 500 else None
    phone = _text(meeting.get("conference_phone"))
    phone = phone if phone and re.match(r"^[0-9+,*#()\-. ]{3,32}$", phone) else None
    in_person = address is not None and not approximate
    online = bool(url or phone)
    if not in_person and not online:
        return Skipped(slug, name, "inactive: no street address and no conference link or phone")
    notes = _text(meeting.get("notes")) or ""
    topics = [TYPE_TOPICS[t] for t in types if t in TYPE_TOPICS]
    if match := _TOPICS_LINE.search(notes):
        topics += [
            _LABEL_TOPICS[label.strip()] for label in match.group(1).split(",") if label.strip() in _LABEL_TOPICS
        ]
        notes = notes[: match.start()]
    lat, lon = meeting.get("latitude"), meeting.get("longitude")
    point = (
        (float(lat), float(lon))
        if in_person
        and isinstance(lat, (int, float))
        and isinstance(lon, (int, float))
        and -90 <= lat <= 90
        and -180 <= lon <= 180
        else None
    )
    return FeedGroup(
        slug=slug[:80],
        name=name[:120],
        description=notes[:4000],
        topics=sorted(set(topics)),
        format="hybrid" if in_person and online else "in_person" if in_person else "online",
        timezone=timezone,
        slots=[(7 if d == 0 else d, start, end) for d in sorted(set(days))],
        address=address[:300] if in_person and address else None,
        latitude=point[0] if point else None,
        longitude=point[1] if point else None,
        conference_url=url,
        conference_phone=phone,
    )


def parse_feed(data: Any, default_timezone: str | None = None) -> tuple[list[FeedGroup], list[Skipped]]:
    """Groups from a feed (an array of meetings, or one meeting object), and what was
    skipped with why. Meetings `<slug>--N` are merged into `<slug>`."""
    meetings = data if isinstance(data, list) else [data]
    zones = accepted_zones()
    groups: dict[str, FeedGroup] = {}
    skipped: list[Skipped] = []
    parts: list[tuple[str, FeedGroup]] = []
    for meeting in meetings:
        parsed = _parse_meeting(meeting, default_timezone, zones)
        if isinstance(parsed, Skipped):
            skipped.append(parsed)
            continue
        if match := _SLUG_PART.match(parsed.slug):
            parts.append((match.group(1), parsed))
        elif parsed.slug in groups:
            skipped.append(Skipped(parsed.slug, parsed.name, "duplicate slug in this feed"))
        else:
            groups[parsed.slug] = parsed
    for base, part in parts:
        if base in groups:
            groups[base].slots = _one_per_start(groups[base].slots + part.slots)
        else:
            groups[part.slug] = part
    return list(groups.values()), skipped


def _one_per_start(slots: list[tuple[int, dt.time, dt.time]]) -> list[tuple[int, dt.time, dt.time]]:
    """A group has one session per weekday and start time: the first listed wins."""
    kept: dict[tuple[int, dt.time], tuple[int, dt.time, dt.time]] = {}
    for slot in slots:
        kept.setdefault((slot[0], slot[1]), slot)
    return sorted(kept.values())
