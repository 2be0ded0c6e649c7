from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from api.groups.schedule import Weekday as Weekday  # re-exported: the schemas name it
from api.time_bounds import check_date
from api.validation import Patch, Phone, Timezone, check_timezone

Format = Literal["in_person", "online", "hybrid"]
Topic = Literal[
    "relapse_prevention",
    "family",
    "dual_diagnosis",
    "women",
    "men",
    "lgbtq",
    "young_adults",
    "seniors",
    "newcomers",
    "meditation",
    "spanish_speaking",
]
MyStatus = Literal["member", "waitlisted", "none"]
Attendance = Literal["present", "absent", "excused"]
ClockTime = Annotated[
    str, msgspec.Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="HH:MM, 24-hour, local")
]
Url = Annotated[str, msgspec.Meta(max_length=500, pattern=r"^https?://\S+$")]
Text = Annotated[str, msgspec.Meta(max_length=4000)]
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=500, pattern=r"\S")]


def parse_clock(value: str) -> dt.time:
    return dt.time.fromisoformat(value)


class ScheduleSlot(msgspec.Struct, forbid_unknown_fields=True):
    weekday: Weekday
    start: ClockTime
    end: ClockTime

    def __post_init__(self) -> None:
        if parse_clock(self.end) <= parse_clock(self.start):
            raise ValueError("schedule: a session must end after it starts, on the same day")


Schedule = Annotated[list[ScheduleSlot], msgspec.Meta(min_length=1, max_length=21)]


def check_schedule(schedule: list[ScheduleSlot]) -> None:
    for i, a in enumerate(schedule):
        for b in schedule[i + 1 :]:
            if a.weekday == b.weekday and a.start < b.end and b.start < a.end:
                raise ValueError(f"schedule: two {a.weekday} sessions overlap")


class GroupCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=120, pattern=r"\S")]
    format: Format
    timezone: Timezone
    schedule: Schedule
    description: Text = ""
    topics: Annotated[list[Topic], msgspec.Meta(max_length=11)] = []
    capacity: Annotated[int, msgspec.Meta(ge=1, le=10_000)] | None = None
    address: Annotated[str, msgspec.Meta(min_length=1, max_length=300)] | None = None
    latitude: Annotated[float, msgspec.Meta(ge=-90, le=90)] | None = None
    longitude: Annotated[float, msgspec.Meta(ge=-180, le=180)] | None = None
    conference_url: Url | None = None
    conference_phone: Phone | None = None
    public: bool = False
    """Listed in the public Meeting Guide feed and calendar, conference link included: only
    when staff choose to (a public online group can be joined by anyone)."""
    facilitator_ids: Annotated[list[UUID], msgspec.Meta(max_length=20)] = []
    slug: Annotated[str, msgspec.Meta(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")] | None = (
        None
    )

    def __post_init__(self) -> None:
        check_timezone(self.timezone)
        check_schedule(self.schedule)
        if self.slug is not None and re.search(r"--[0-9]+$", self.slug):
            # The Meeting Guide feed names a group's second and later times `<slug>--N`.
            raise ValueError("slug: must not end in -- and a number")


class GroupUpdate(Patch):
    """Only the fields sent change; `null` clears an optional one."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=120, pattern=r"\S")] | msgspec.UnsetType = msgspec.UNSET
    format: Format | msgspec.UnsetType = msgspec.UNSET
    timezone: Timezone | msgspec.UnsetType = msgspec.UNSET
    schedule: Schedule | msgspec.UnsetType = msgspec.UNSET
    description: Text | msgspec.UnsetType = msgspec.UNSET
    topics: Annotated[list[Topic], msgspec.Meta(max_length=11)] | msgspec.UnsetType = msgspec.UNSET
    capacity: Annotated[int, msgspec.Meta(ge=1, le=10_000)] | None | msgspec.UnsetType = msgspec.UNSET
    address: Annotated[str, msgspec.Meta(min_length=1, max_length=300)] | None | msgspec.UnsetType = msgspec.UNSET
    latitude: Annotated[float, msgspec.Meta(ge=-90, le=90)] | None | msgspec.UnsetType = msgspec.UNSET
    longitude: Annotated[float, msgspec.Meta(ge=-180, le=180)] | None | msgspec.UnsetType = msgspec.UNSET
    conference_url: Url | None | msgspec.UnsetType = msgspec.UNSET
    conference_phone: Phone | None | msgspec.UnsetType = msgspec.UNSET
    public: bool | msgspec.UnsetType = msgspec.UNSET
    facilitator_ids: Annotated[list[UUID], msgspec.Meta(max_length=20)] | msgspec.UnsetType = msgspec.UNSET

    def __post_init__(self) -> None:
        if self.timezone is not msgspec.UNSET:
            check_timezone(self.timezone)
        if self.schedule is not msgspec.UNSET:
            check_schedule(self.schedule)


class SlotOut(msgspec.Struct):
    weekday: Weekday
    start: str
    end: str


class Facilitator(msgspec.Struct):
    id: UUID
    name: str


class Group(msgspec.Struct):
    id: UUID
    slug: str
    name: str
    description: str
    topics: list[str]
    format: Format
    timezone: str
    schedule: list[SlotOut]
    capacity: int | None
    seats_left: int | None
    """Null when the group has no size limit."""
    member_count: int
    address: str | None
    latitude: float | None
    longitude: float | None
    conference_url: str | None
    """Members, facilitators and staff only."""
    conference_phone: str | None
    public: bool
    archived: bool
    my_status: MyStatus
    distance_km: float | None = None
    waitlist_position: int | None = None
    facilitators: list[Facilitator] | None = None


class Membership(msgspec.Struct):
    status: MyStatus
    waitlist_position: int | None = None


class Session(msgspec.Struct):
    id: str
    group_id: UUID
    local_date: dt.date
    """The scheduled date in the group's time zone (part of the id)."""
    starts_at: dt.datetime
    ends_at: dt.datetime
    status: Literal["scheduled", "cancelled"]
    moved: bool
    note: str | None
    """Why it was cancelled or moved."""
    my_rsvp: Literal["going", "not_going"] | None = None


class RsvpRequest(msgspec.Struct, forbid_unknown_fields=True):
    status: Literal["going", "not_going"]


class Rsvp(msgspec.Struct):
    session_id: str
    status: Literal["going", "not_going"]


class AttendanceRecord(msgspec.Struct, forbid_unknown_fields=True):
    participant_id: UUID
    status: Attendance


class AttendanceRequest(msgspec.Struct, forbid_unknown_fields=True):
    records: Annotated[list[AttendanceRecord], msgspec.Meta(min_length=1, max_length=500)]

    def __post_init__(self) -> None:
        seen = set()
        for i, record in enumerate(self.records):
            if record.participant_id in seen:
                raise ValueError(f"records[{i}].participant_id: listed twice")
            seen.add(record.participant_id)


class CheckInRequest(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{6}$", description="The 6-digit code the facilitator shows")]


class CheckedIn(msgspec.Struct):
    session_id: str
    attendance: Attendance
    """What holds: a facilitator's earlier mark is not overwritten."""


class CancelRequest(msgspec.Struct, forbid_unknown_fields=True):
    reason: Reason


class RescheduleRequest(msgspec.Struct, forbid_unknown_fields=True):
    starts_at: dt.datetime
    ends_at: dt.datetime
    reason: Reason

    def __post_init__(self) -> None:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("starts_at: times need an offset, like 2026-12-01T19:00:00-06:00")
        check_date(self.starts_at, "starts_at")
        check_date(self.ends_at, "ends_at")
        if not dt.timedelta(0) < self.ends_at - self.starts_at <= dt.timedelta(hours=12):
            raise ValueError("ends_at: must be after starts_at, by at most 12 hours")


class RosterEntry(msgspec.Struct):
    participant_id: UUID
    alias: str
    rsvp: Literal["going", "not_going"] | None
    attendance: Attendance | None
    attendance_source: Literal["facilitator", "self"] | None


class Roster(msgspec.Struct):
    session: Session
    check_in_code: str
    """Show it in the room: members check themselves in with it."""
    members: list[RosterEntry]


class Member(msgspec.Struct):
    participant_id: UUID
    alias: str
    status: Literal["member", "waitlisted"]
    since: dt.datetime


class AnnouncementCreate(msgspec.Struct, forbid_unknown_fields=True):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=120, pattern=r"\S")]
    body: Annotated[str, msgspec.Meta(min_length=1, max_length=4000, pattern=r"\S")]


class Announcement(msgspec.Struct):
    id: int
    group_id: UUID
    author_id: UUID | None
    title: str
    body: str
    created_at: dt.datetime


class CalendarFeed(msgspec.Struct):
    url: str
    """Secret: anyone with it can read your RSVP'd sessions. Make a new one to revoke it."""
