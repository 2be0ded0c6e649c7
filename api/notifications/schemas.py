from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

from api.groups.schemas import ClockTime
from notifications.kinds import KINDS

Kind = Literal[
    "checkin_reminder",
    "missed_checkin",
    "session_reminder",
    "session_changed",
    "waitlist_seat",
    "announcement",
    "staff_message",
    "crisis_support",
    "group_reply",
    "group_post",
    "help_now",
]
assert set(Kind.__args__) == set(KINDS)  # type: ignore[attr-defined]  # one list, said twice for OpenAPI


class DeviceRegistration(msgspec.Struct, forbid_unknown_fields=True):
    token: Annotated[
        str, msgspec.Meta(min_length=1, max_length=4096, pattern=r"^\S+$", description="FCM registration token")
    ]
    platform: Literal["ios", "android"]
    app_version: Annotated[str, msgspec.Meta(max_length=40)] | None = None


class Device(msgspec.Struct):
    id: int
    platform: str
    app_version: str | None
    created_at: dt.datetime
    refreshed_at: dt.datetime


class QuietHours(msgspec.Struct, forbid_unknown_fields=True):
    start: ClockTime
    end: ClockTime

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ValueError("quiet_hours.end: must differ from start (use null for no quiet hours)")


class Preferences(msgspec.Struct):
    kinds: dict[str, bool]
    """Every kind, on (pushed) or off (only in the inbox)."""
    quiet_hours: QuietHours | None
    """In your own time zone; null: none. Urgent messages come through them."""
    timezone: str
    urgent_kinds: list[str]
    """Kinds that may be urgent (they ignore quiet hours when they are)."""
    always_on: list[str]
    """Kinds that cannot be switched off (crisis support): always pushed."""


class PreferencesUpdate(msgspec.Struct, forbid_unknown_fields=True):
    kinds: dict[Kind, bool] | msgspec.UnsetType = msgspec.UNSET
    """Only the kinds you name change; those in `always_on` cannot be switched off (400)."""
    quiet_hours: QuietHours | None | msgspec.UnsetType = msgspec.UNSET
    """null turns quiet hours off; left out, they stay as they are."""


class InboxItem(msgspec.Struct):
    id: int
    kind: str
    title: str
    body: str
    data: dict[str, Any]
    urgent: bool
    created_at: dt.datetime
    read_at: dt.datetime | None


class Inbox(msgspec.Struct):
    items: list[InboxItem]
    next_cursor: str | None
    unread_count: int


class ReadAll(msgspec.Struct):
    marked: int
    unread_count: int


class StaffMessage(msgspec.Struct, forbid_unknown_fields=True):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=120, pattern=r"\S")]
    body: Annotated[str, msgspec.Meta(min_length=1, max_length=4000, pattern=r"\S")]
    participant_id: UUID | None = None
    group_id: UUID | None = None
    urgent: bool = False
    """Comes through quiet hours: for outreach that cannot wait until morning."""

    def __post_init__(self) -> None:
        if (self.participant_id is None) == (self.group_id is None):
            raise ValueError("participant_id: give exactly one of participant_id and group_id")


class MessageDraft(msgspec.Struct, forbid_unknown_fields=True):
    """A staff message being written: either part may still be empty."""

    title: Annotated[str, msgspec.Meta(max_length=120)] = ""
    body: Annotated[str, msgspec.Meta(max_length=4000)] = ""


class Shown(msgspec.Struct):
    title: str
    body: str


class MessagePreview(msgspec.Struct):
    lock_screen: Shown
    """The push: what anyone near the phone can read. Never the message itself."""
    inbox: Shown
    """The inbox item, behind the app's sign-in: the message as written."""


class MessageSent(msgspec.Struct):
    recipients: int
    """How many people it went to (a group's members; deactivated people get none)."""
    notification_ids: list[int]
