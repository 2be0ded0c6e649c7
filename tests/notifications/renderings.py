"""Every notification template rendered with telling inputs: what the lock-screen rules
(tests/notifications/test_push_content.py) and the two push transports
(tests/notifications/test_push_transports.py) are held to."""

from __future__ import annotations

import datetime as dt

from api.checkins.risk import crisis_text
from notifications import templates

START = dt.datetime(2026, 12, 8, 1, 0, tzinfo=dt.UTC)  # Mon Dec 7, 7:00 PM in Chicago
END = START + dt.timedelta(minutes=90)

# Inputs as telling as they come: a group named for what it treats, an announcement about
# it, a person's own words. None of it may reach a lock screen.
GROUP = "Alcohol & Opioid Relapse Prevention (Dual Diagnosis) for Women"
SECRET_TITLE = "Relapse triggers over the holidays"
SECRET_BODY = "Bring your craving log and your PHQ-9; we talk about depression, anxiety and drinking."


def every_rendering() -> list[templates.Content]:
    """Every template, rendered with telling inputs."""
    rendered = {
        "checkin_reminder": templates.checkin_reminder(),
        "missed_checkin": templates.missed_checkin(),
        "crisis_support": templates.crisis_support(crisis_text()),
        "session_reminder": templates.session_reminder(
            session_id="s",
            group_id="g",
            group_name=GROUP,
            starts_at=START,
            ends_at=END,
            timezone="America/Chicago",
            rsvped=True,
        ),
        "session_reminder_member": templates.session_reminder(
            session_id="s",
            group_id="g",
            group_name=GROUP,
            starts_at=START,
            ends_at=END,
            timezone="Asia/Kolkata",
            rsvped=False,
        ),
        "session_cancelled": templates.session_cancelled(
            session_id="s",
            group_id="g",
            group_name=GROUP,
            starts_at=START,
            timezone="Europe/Berlin",
            reason=SECRET_BODY,
        ),
        "session_moved": templates.session_moved(
            session_id="s",
            group_id="g",
            group_name=GROUP,
            starts_at=START,
            ends_at=END,
            timezone="UTC",
            reason=SECRET_BODY,
        ),
        "waitlist_seat": templates.waitlist_seat(group_id="g", group_name=GROUP),
        "announcement": templates.announcement(group_id="g", announcement_id=1, title=SECRET_TITLE, body=SECRET_BODY),
        "staff_message": templates.staff_message(title=SECRET_TITLE, body=SECRET_BODY),
        "group_reply": templates.group_reply(group_id="g", group_name=GROUP, post_id=1),
        "group_post": templates.group_post(group_id="g", group_name=GROUP),
        "post_moderated": templates.post_moderated(
            group_id="g", group_name=GROUP, post_id=1, hidden=True, reason=SECRET_BODY
        ),
        "post_unhidden": templates.post_moderated(
            group_id="g", group_name=GROUP, post_id=1, hidden=False, reason=SECRET_BODY
        ),
        # An alias can be anything a person chose, a word the lock screen must never show.
        "help_now": templates.help_now(request_id=1, asker_alias="Sober Sam", message=SECRET_BODY),
        "help_on_the_way": templates.help_on_the_way(request_id=1, responder_id="r", responder_alias="Recovering Rita"),
    }
    return list(rendered.values())
