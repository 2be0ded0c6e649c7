"""The kinds of notification, and the one rule about them that is not text: urgency."""

from __future__ import annotations

import datetime as dt

CHECKIN_REMINDER = "checkin_reminder"
MISSED_CHECKIN = "missed_checkin"
SESSION_REMINDER = "session_reminder"
SESSION_CHANGED = "session_changed"
WAITLIST_SEAT = "waitlist_seat"
ANNOUNCEMENT = "announcement"
STAFF_MESSAGE = "staff_message"
CRISIS_SUPPORT = "crisis_support"
GROUP_REPLY = "group_reply"
GROUP_POST = "group_post"
HELP_NOW = "help_now"

# The order the app shows them in its settings.
KINDS = (
    CHECKIN_REMINDER,
    MISSED_CHECKIN,
    SESSION_REMINDER,
    SESSION_CHANGED,
    WAITLIST_SEAT,
    ANNOUNCEMENT,
    STAFF_MESSAGE,
    CRISIS_SUPPORT,
    GROUP_REPLY,
    GROUP_POST,
    HELP_NOW,
)

# Kinds that are off until a person switches them on: new posts in a busy group would be
# noise to most people (PRODUCT.md section 10).
DEFAULT_OFF = (GROUP_POST,)

# Kinds nobody can switch off: help in a crisis, and a circle member's call for help, are
# pushed whatever the settings say (a member mutes one circle for a while instead).
ALWAYS_ON = (CRISIS_SUPPORT, HELP_NOW)


def wanted(kind: str, disabled: set[str] | list[str], enabled: set[str] | list[str]) -> bool:
    """Whether a person's settings let `kind` be pushed: the always-on kinds always, the
    default-off ones once switched on, every other kind until switched off."""
    if kind in ALWAYS_ON:
        return True
    if kind in DEFAULT_OFF:
        return kind in enabled
    return kind not in disabled


# A cancellation this close to the start is news that cannot wait for the morning.
CANCELLED_URGENT_WITHIN = dt.timedelta(hours=2)


def cancellation_is_urgent(starts_at: dt.datetime, now: dt.datetime) -> bool:
    return now <= starts_at <= now + CANCELLED_URGENT_WITHIN


def too_late_after_quiet_hours(kind: str, quiet_until: dt.datetime, expires_at: dt.datetime | None) -> bool:
    """A session change that quiet hours would hold until after the session starts comes
    through them: cancelled at 11 PM for 7 AM, it is news before 7 AM or never. (A check-in
    reminder held past its slot just lapses: that is what quiet hours are for.)"""
    return kind == SESSION_CHANGED and expires_at is not None and quiet_until >= expires_at
