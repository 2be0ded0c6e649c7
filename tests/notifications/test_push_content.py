"""What a lock screen may show, quiet hours, and the retry clock: pure rules, plain tests."""

from __future__ import annotations

import datetime as dt
import inspect
import re

import pytest

from api.checkins.risk import crisis_text
from notifications import kinds, templates
from notifications.dispatch import Policy, retry_delay
from notifications.quiet import DEFAULT_QUIET, quiet_until
from tests.notifications.renderings import END, GROUP, SECRET_BODY, SECRET_TITLE, START, every_rendering

SENSITIVE = re.compile(
    r"alcohol|opioid|drug|drink|relapse|sober|sobriety|addict|recover|craving|mood|depress|anxi|suicid|"
    r"crisis|overdose|rehab|treatment|therapy|diagnos|iop|phq|gad|counsel|988|women|holiday|trigger|thursday",
    re.IGNORECASE,
)


def test_every_template_is_rendered_here():
    made = {name for name, f in inspect.getmembers(templates, inspect.isfunction) if f.__module__ == templates.__name__}
    assert {n for n in made if not n.startswith("_")} - {"clock", "day", "when"} == {
        "checkin_reminder",
        "missed_checkin",
        "crisis_support",
        "session_reminder",
        "session_cancelled",
        "session_moved",
        "waitlist_seat",
        "announcement",
        "staff_message",
        "group_reply",
        "group_post",
        "post_moderated",
        "help_now",
        "help_on_the_way",
    }
    assert {c.kind for c in every_rendering()} == set(kinds.KINDS)


@pytest.mark.parametrize("content", every_rendering(), ids=lambda c: c.kind)
def test_no_lock_screen_text_says_anything_sensitive(content):
    for text in (content.push_title, content.push_body):
        assert not SENSITIVE.search(text), f"{content.kind}: {text!r}"
        assert GROUP not in text and SECRET_TITLE not in text
    # The data payload carries ids and the kind only.
    assert all(key.endswith("_id") or key == "change" for key in content.data), content.data
    assert all(not SENSITIVE.search(value) for value in content.data.values())


def test_the_inbox_keeps_the_details():
    announcement = templates.announcement(group_id="g", announcement_id=1, title=SECRET_TITLE, body=SECRET_BODY)
    assert (announcement.title, announcement.body) == (SECRET_TITLE, SECRET_BODY)
    assert "988" in templates.crisis_support(crisis_text()).body
    seat = templates.waitlist_seat(group_id="g", group_name=GROUP)
    assert GROUP in seat.title


@pytest.mark.parametrize(
    ("zone", "expected"),
    [("America/Chicago", "7:00 PM"), ("Europe/Berlin", "2:00 AM"), ("Asia/Kolkata", "6:30 AM"), ("UTC", "1:00 AM")],
)
def test_times_are_in_the_recipients_zone(zone, expected):
    content = templates.session_reminder(
        session_id="s", group_id="g", group_name="G", starts_at=START, ends_at=END, timezone=zone, rsvped=True
    )
    assert content.push_body == f"A session you RSVP'd starts at {expected}."


def test_noon_and_midnight_read_as_people_say_them():
    assert templates.clock(dt.datetime(2026, 6, 1, 12, 5, tzinfo=dt.UTC), "UTC") == "12:05 PM"
    assert templates.clock(dt.datetime(2026, 6, 1, 0, 0, tzinfo=dt.UTC), "UTC") == "12:00 AM"
    assert templates.day(START, "America/Chicago") == "Mon, Dec 7"


def test_a_cancellation_is_urgent_within_two_hours_of_the_start():
    now = START - dt.timedelta(hours=2)
    assert kinds.cancellation_is_urgent(START, now)
    assert not kinds.cancellation_is_urgent(START, now - dt.timedelta(minutes=1))


CHICAGO = "America/Chicago"
NIGHT = DEFAULT_QUIET


def _utc(local: str, zone: str = CHICAGO) -> dt.datetime:
    from zoneinfo import ZoneInfo

    return dt.datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(zone)).astimezone(dt.UTC)


@pytest.mark.parametrize(
    ("local", "until"),
    [
        ("2027-01-14 21:59", None),
        ("2027-01-14 22:00", "2027-01-15 08:00"),
        ("2027-01-14 23:30", "2027-01-15 08:00"),
        ("2027-01-15 03:00", "2027-01-15 08:00"),
        ("2027-01-15 07:59", "2027-01-15 08:00"),
        ("2027-01-15 08:00", None),
        ("2027-01-15 12:00", None),
    ],
)
def test_quiet_hours_across_midnight(local, until):
    expected = _utc(until) if until else None
    assert quiet_until(_utc(local), CHICAGO, *NIGHT) == expected


def test_quiet_hours_within_a_day():
    nap = (dt.time(13, 0), dt.time(15, 0))
    assert quiet_until(_utc("2027-01-14 14:00"), CHICAGO, *nap) == _utc("2027-01-14 15:00")
    assert quiet_until(_utc("2027-01-14 15:00"), CHICAGO, *nap) is None
    assert quiet_until(_utc("2027-01-14 12:59"), CHICAGO, *nap) is None


def test_no_quiet_hours():
    assert quiet_until(_utc("2027-01-14 23:00"), CHICAGO, None, None) is None


def test_quiet_hours_over_the_autumn_change_last_an_hour_longer():
    """US clocks fall back on Sunday 2026-11-01: 22:00 to 08:00 is 11 hours that night."""
    start = _utc("2026-10-31 22:00")
    end = quiet_until(start, CHICAGO, *NIGHT)
    assert end == _utc("2026-11-01 08:00")
    assert end - start == dt.timedelta(hours=11)


def test_quiet_hours_over_the_spring_change_last_an_hour_shorter():
    start = _utc("2027-03-13 22:00")
    end = quiet_until(start, CHICAGO, *NIGHT)
    assert end - start == dt.timedelta(hours=9)
    assert end.astimezone(start.tzinfo) == _utc("2027-03-14 08:00")


def test_quiet_hours_are_the_recipients_own():
    now = _utc("2027-01-14 21:30")  # evening in Chicago, 4:30 in the morning in Berlin
    assert quiet_until(now, CHICAGO, *NIGHT) is None
    assert quiet_until(now, "Europe/Berlin", *NIGHT) == _utc("2027-01-15 08:00", "Europe/Berlin")


def test_retry_backoff_grows_with_jitter_and_a_cap():
    policy = Policy(retry_base_s=30, retry_cap_s=600)
    assert retry_delay(1, policy, 0.0) == dt.timedelta(seconds=15)
    assert retry_delay(1, policy, 1.0) == dt.timedelta(seconds=30)
    assert retry_delay(3, policy, 1.0) == dt.timedelta(seconds=120)
    assert retry_delay(10, policy, 1.0) == dt.timedelta(seconds=600)
    spread = {retry_delay(2, policy) for _ in range(20)}
    assert len(spread) > 1 and all(dt.timedelta(seconds=30) <= d <= dt.timedelta(seconds=60) for d in spread)
