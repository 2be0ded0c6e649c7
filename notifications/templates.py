"""What each notification says: the full text for the in-app inbox, and a discreet text for
the lock screen.

The lock-screen text (`push_title`, `push_body`) is fixed per kind, with at most a time in
it: it never names a condition, a group (its name can say what it is for), a topic, a mood,
a craving, or anything a person answered. Anyone can see a lock screen. The inbox, behind
the app's sign-in, holds the details. A test renders every kind with telling inputs and
checks the lock-screen text for them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from db.zones import python_zone
from notifications import kinds


@dataclass(frozen=True)
class Content:
    kind: str
    title: str
    body: str
    push_title: str
    push_body: str
    # Ids and the kind only (strings, as FCM's data payload wants): the app fetches the rest.
    data: dict[str, str] = field(default_factory=dict)


def _local(at: dt.datetime, timezone: str) -> tuple[dt.datetime, str]:
    """The moment where the recipient is, or in UTC (said so) while their zone cannot be
    loaded: a text written for a whole group must not fail for one member."""
    zone = python_zone(timezone)
    return (at.astimezone(zone), "") if zone is not None else (at.astimezone(dt.UTC), " UTC")


def clock(at: dt.datetime, timezone: str) -> str:
    """ "7:00 PM" in the recipient's zone (no locale: the same on every server)."""
    local, unknown_zone = _local(at, timezone)
    return f"{local.hour % 12 or 12}:{local.minute:02d} {'AM' if local.hour < 12 else 'PM'}{unknown_zone}"


def day(at: dt.datetime, timezone: str) -> str:
    """ "Tue, Dec 8" in the recipient's zone."""
    local, _ = _local(at, timezone)
    return f"{local:%a}, {local:%b} {local.day}"


def when(at: dt.datetime, timezone: str) -> str:
    """ "Tue, Dec 8 at 7:00 PM" in the recipient's zone."""
    return f"{day(at, timezone)} at {clock(at, timezone)}"


def _with_reason(text: str, reason: str | None) -> str:
    return text + (f" Reason: {reason}" if reason else "")


def checkin_reminder() -> Content:
    return Content(
        kind=kinds.CHECKIN_REMINDER,
        title="Your check-in is still open",
        body="Today is the last day for this check-in. It takes about a minute, and it helps your team support you.",
        push_title="Time for your check-in",
        push_body="It takes about a minute.",
    )


def missed_checkin() -> Content:
    return Content(
        kind=kinds.MISSED_CHECKIN,
        title="We missed you",
        body="A couple of check-ins went by without one. That happens. When you're ready, a quick "
        "check-in lets your counselor know how you are. If you want to talk now, call or text 988.",
        push_title="Thinking of you",
        push_body="Open the app when you have a moment.",
    )


def crisis_support(resources: str) -> Content:
    return Content(
        kind=kinds.CRISIS_SUPPORT,
        title="Help is available right now",
        body=resources,
        # Neutral: a lock screen must not tell anyone that a crisis was flagged.
        push_title="New message",
        push_body="Open the app to read it.",
    )


def session_reminder(
    *,
    session_id: str,
    group_id: str,
    group_name: str,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    timezone: str,
    rsvped: bool,
) -> Content:
    start = clock(starts_at, timezone)
    return Content(
        kind=kinds.SESSION_REMINDER,
        title=f"{group_name} starts at {start}",
        body=f"{day(starts_at, timezone)}, {start} to {clock(ends_at, timezone)}. Details are on the group's page.",
        push_title="Starting soon",
        push_body=f"A session you RSVP'd starts at {start}." if rsvped else f"A session of yours starts at {start}.",
        data={"session_id": session_id, "group_id": group_id},
    )


def session_cancelled(
    *, session_id: str, group_id: str, group_name: str, starts_at: dt.datetime, timezone: str, reason: str | None
) -> Content:
    starts = when(starts_at, timezone)
    return Content(
        kind=kinds.SESSION_CHANGED,
        title=f"{group_name}: the session on {starts} is cancelled",
        body=_with_reason(f"The session on {starts} will not take place.", reason),
        push_title="A session was cancelled",
        push_body=f"The session on {starts} will not take place.",
        data={"session_id": session_id, "group_id": group_id, "change": "cancelled"},
    )


def session_moved(
    *,
    session_id: str,
    group_id: str,
    group_name: str,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    timezone: str,
    reason: str | None,
) -> Content:
    starts = when(starts_at, timezone)
    return Content(
        kind=kinds.SESSION_CHANGED,
        title=f"{group_name}: a session moved to {starts}",
        body=_with_reason(f"The session now runs {starts} to {clock(ends_at, timezone)}.", reason),
        push_title="A session was moved",
        push_body=f"It now starts {starts}.",
        data={"session_id": session_id, "group_id": group_id, "change": "moved"},
    )


def waitlist_seat(*, group_id: str, group_name: str) -> Content:
    return Content(
        kind=kinds.WAITLIST_SEAT,
        title=f"You have a seat in {group_name}",
        body=f"A seat opened in {group_name} and it is yours: you are now a member. Its sessions are in the app.",
        push_title="A seat opened for you",
        push_body="Open the app for the details.",
        data={"group_id": group_id},
    )


def announcement(*, group_id: str, announcement_id: int, title: str, body: str) -> Content:
    return Content(
        kind=kinds.ANNOUNCEMENT,
        title=title,
        body=body,
        push_title="New message from your group",
        push_body="Open the app to read it.",
        data={"group_id": group_id, "announcement_id": str(announcement_id)},
    )


def staff_message(*, title: str, body: str) -> Content:
    return Content(
        kind=kinds.STAFF_MESSAGE,
        title=title,
        body=body,
        push_title="New message",
        push_body="Open the app to read it.",
    )


def group_reply(*, group_id: str, group_name: str, post_id: int) -> Content:
    # Nothing of the reply, and no group name, on the lock screen; the inbox names the group.
    return Content(
        kind=kinds.GROUP_REPLY,
        title="Someone replied to you",
        body=f"Someone replied to your post in {group_name}. Open the discussion to read it.",
        push_title="Someone replied to you",
        push_body="Open the app to read it.",
        data={"group_id": group_id, "post_id": str(post_id)},
    )


def group_post(*, group_id: str, group_name: str) -> Content:
    return Content(
        kind=kinds.GROUP_POST,
        title=f"New posts in {group_name}",
        body=f"There are new posts in {group_name}'s discussion.",
        push_title="New posts in one of your groups",
        push_body="Open the app to read them.",
        data={"group_id": group_id},
    )


def post_moderated(*, group_id: str, group_name: str, post_id: int, hidden: bool, reason: str | None) -> Content:
    """To a post's author, privately: a moderator hid their post (and why), or showed it again."""
    if hidden:
        title = "A moderator hid one of your posts"
        body = f"Your post in {group_name} was hidden by a moderator. Why: {reason}"
    else:
        title = "Your post is visible again"
        body = f"A moderator made your post in {group_name} visible again." + (f" {reason}" if reason else "")
    return Content(
        kind=kinds.STAFF_MESSAGE,
        title=title,
        body=body,
        push_title="New message",
        push_body="Open the app to read it.",
        data={"group_id": group_id, "post_id": str(post_id)},
    )


HELP_NOW_LOCK_TITLE = "Someone in your circle asked you to reach out"


def help_now(*, request_id: int, asker_alias: str, message: str | None) -> Content:
    """To each member of a graduate's circle. The lock screen names nobody and no reason:
    being in someone's circle is theirs to tell."""
    said = f' They wrote: "{message}"' if message else ""
    return Content(
        kind=kinds.HELP_NOW,
        title=f"{asker_alias} asked you to reach out",
        body=f"{asker_alias} is having a hard moment and asked their circle for help.{said} Answer in the app: "
        '"I\'m reaching out" if you can call or text them now, or "I can\'t right now". '
        "If you think they are in danger, call 911.",
        push_title=HELP_NOW_LOCK_TITLE,
        push_body="Open the app to see how you can help.",
        data={"help_request_id": str(request_id)},
    )


def help_on_the_way(*, request_id: int, responder_id: str, responder_alias: str) -> Content:
    """To the graduate who asked: someone in their circle is reaching out."""
    return Content(
        kind=kinds.HELP_NOW,
        title=f"{responder_alias} is reaching out",
        body=f"{responder_alias} saw your call for help and is reaching out to you now. "
        "If you are in danger, call 911, or call or text 988 any time.",
        push_title="Someone in your circle answered",
        push_body="Open the app to read it.",
        # Whose answer: their alias leaves this inbox with their account.
        data={"help_request_id": str(request_id), "responder_id": responder_id},
    )
