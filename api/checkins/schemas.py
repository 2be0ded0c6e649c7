from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

from api.checkins.plan import CADENCES
from api.time_bounds import check_date

NeedSupport = Literal["no", "talk_soon", "crisis_now"]
ScreenItem = Annotated[int, msgspec.Meta(ge=0, le=3)]
Screen = Annotated[list[ScreenItem], msgspec.Meta(min_length=2, max_length=2, description="Two items, 0-3 each")]
Cadence = Literal["daily", "three_weekly", "weekly", "none"]
assert set(Cadence.__args__) == set(CADENCES)  # type: ignore[attr-defined]  # a Literal has __args__


class CheckinRequest(msgspec.Struct, forbid_unknown_fields=True):
    client_id: UUID
    """Made by the app; sending the same check-in again (after a lost answer) is safe."""
    client_time: dt.datetime
    """When the graduate checked in, with its offset (an offline phone sends it later)."""
    mood: Annotated[int, msgspec.Meta(ge=1, le=5)]
    craving: Annotated[int, msgspec.Meta(ge=0, le=10)]
    used: bool
    sleep: Annotated[int, msgspec.Meta(ge=1, le=5)]
    need_support: NeedSupport
    note: Annotated[str, msgspec.Meta(max_length=1000)] | None = None
    phq2: Screen | None = None
    gad2: Screen | None = None

    def __post_init__(self) -> None:
        if self.client_time.tzinfo is None:
            raise ValueError("client_time: needs an offset, like 2026-12-01T19:05:00-06:00")


class RiskReason(msgspec.Struct):
    code: str
    kind: str
    severity: Literal["low", "medium", "high", "critical"]
    message: str


class CrisisResource(msgspec.Struct):
    name: str
    phone: str | None
    text: str | None
    url: str | None


class CrisisResources(msgspec.Struct):
    items: list[CrisisResource]
    note: str
    next_cursor: None = None


class Checkin(msgspec.Struct):
    id: UUID
    client_id: UUID
    client_time: dt.datetime
    received_at: dt.datetime
    local_date: dt.date
    mood: int
    craving: int
    used: bool
    sleep: int
    need_support: NeedSupport
    note: str | None
    phq2: list[int] | None
    gad2: list[int] | None
    risk_reasons: list[RiskReason]
    crisis_resources: list[CrisisResource] | None = None
    """With a `crisis_now` check-in: call or text these now."""
    crisis_note: str | None = None


class Slot(msgspec.Struct):
    starts_on: dt.date
    ends_on: dt.date
    starts_at: dt.datetime
    ends_at: dt.datetime
    cadence: Cadence
    done: bool


class Due(msgspec.Struct):
    current_slot: Slot | None
    next_slot: Slot | None
    streak: int
    """Slots in a row with a check-in, up to now."""
    days_sober: int | None


class PlanRequest(msgspec.Struct, forbid_unknown_fields=True):
    cadence: Cadence | Literal["default"]
    """`default` removes the override: the stepped-down plan applies again."""
    starts_on: dt.date | None = None
    """Default: today where the graduate is."""
    ends_on: dt.date | None = None
    """Default: until changed."""

    def __post_init__(self) -> None:
        check_date(self.starts_on, "starts_on")
        check_date(self.ends_on, "ends_on")
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            raise ValueError("ends_on: must not be before starts_on")


class Plan(msgspec.Struct):
    cadence: Cadence | Literal["default"]
    starts_on: dt.date | None
    ends_on: dt.date | None
    current_slot: Slot | None


class AlertEvent(msgspec.Struct):
    id: int
    at: dt.datetime
    actor_id: UUID | None
    """Null: the system."""
    kind: Literal["opened", "reason", "checkin", "acknowledged", "outreach", "resolved", "help_now"]
    """`help_now`: the graduate asked their support circle for help (`details.help_request_id`)."""
    checkin_id: UUID | None
    channel: Literal["call", "text", "in_person", "other"] | None
    reached: bool | None
    note: str | None
    details: dict[str, Any]
    actor_name: str | None = None
    """Who acted, by name (null: the system)."""


class Alert(msgspec.Struct):
    id: int
    participant_id: UUID
    alias: str
    counselor_id: UUID | None
    kind: str
    severity: Literal["low", "medium", "high", "critical"]
    status: Literal["open", "acknowledged", "resolved"]
    reasons: list[dict[str, Any]]
    opened_at: dt.datetime
    updated_at: dt.datetime
    acknowledged_at: dt.datetime | None
    acknowledged_by: UUID | None
    resolved_at: dt.datetime | None
    resolved_by: UUID | None
    resolution_note: str | None
    events: list[AlertEvent] | None = None
    """The timeline, oldest first: with one alert, and in a list with `timeline=true`."""
    checkin: Checkin | None = None
    """With the timeline: the latest check-in that raised this alert or added a reason to it
    (null for an alert of missed check-ins)."""


class OutreachRequest(msgspec.Struct, forbid_unknown_fields=True):
    channel: Literal["call", "text", "in_person", "other"]
    reached: bool
    note: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


class ResolveRequest(msgspec.Struct, forbid_unknown_fields=True):
    note: Annotated[str, msgspec.Meta(max_length=2000)] | None = None
    """What came of it. Required (not blank) unless outreach is logged on the alert."""


class KeptAlert(msgspec.Struct):
    kind: str
    severity: Literal["low", "medium", "high", "critical"]


class WatchlistEntry(msgspec.Struct):
    participant_id: UUID
    """For `account_deleted`: the id the account had."""
    status: Literal["active", "time_zone_unknown", "account_deleted"]
    """`time_zone_unknown`: their zone cannot be worked with, so no slot, miss or reminder is
    worked out for them until it is fixed; `account_deleted`: they deleted their account
    while alerts were open (acknowledge with POST /v1/staff/deleted-accounts/{id}/acknowledge)."""
    alias: str
    counselor_id: UUID | None
    last_checkin_at: dt.datetime | None
    consecutive_misses: int
    adherence_14d: float | None
    """Share of the last 14 days' slots with a check-in."""
    overdue: bool
    """The last slot that ended has no check-in."""
    open_alerts: int
    top_severity: Literal["low", "medium", "high", "critical"] | None
    deleted_at: dt.datetime | None = None
    alerts: list[KeptAlert] | None = None
    """For `account_deleted`: the kinds and severities of the alerts that were open."""
    last_help_now_at: dt.datetime | None = None
    """When they last asked their support circle for help, within the last 7 days."""


class DayCount(msgspec.Struct):
    day: dt.date
    checkins: int


class DayAdherence(msgspec.Struct):
    day: dt.date
    adherence: float
    """Share of the slots that ended that day with a check-in."""
    slots: int


class Metrics(msgspec.Struct):
    active_graduates: int
    adherence_7d: float | None
    adherence_30d: float | None
    open_alerts: dict[str, int]
    """By severity."""
    checkins_by_day: list[DayCount]
    adherence_by_day: list[DayAdherence]
    sessions_this_week: int
    """Scheduled (not cancelled) sessions of active groups, Monday to Sunday (UTC)."""
    attendance_rate_30d: float | None
    """Present among attendance marks of the last 30 days' sessions."""
