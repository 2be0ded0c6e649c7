"""The support circle's pure rules (api/circle/rules.py): the hourly limit's wait, and when a
call for help tells the counselor."""

from __future__ import annotations

import datetime as dt

from api.checkins.risk import HIGH, MEDIUM
from api.circle import rules

NOW = dt.datetime(2026, 12, 6, 21, 0, tzinfo=dt.UTC)


def test_under_three_calls_an_hour_there_is_no_wait():
    assert rules.retry_after_s([], NOW) is None
    assert rules.retry_after_s([NOW - dt.timedelta(minutes=5), NOW], NOW) is None


def test_the_wait_lasts_until_the_oldest_of_the_last_three_is_an_hour_old():
    asked = [NOW - dt.timedelta(minutes=50), NOW - dt.timedelta(minutes=20), NOW - dt.timedelta(minutes=1)]
    assert rules.retry_after_s(asked, NOW) == 600
    # Never 0: a client told "retry after 0 s" would ask again at once.
    assert rules.retry_after_s([NOW - dt.timedelta(minutes=60), NOW, NOW], NOW - dt.timedelta(microseconds=1)) == 1
    four = [NOW - dt.timedelta(minutes=59), *asked]
    assert rules.retry_after_s(four, NOW) == 600  # the last three count


def test_a_single_call_on_a_calm_day_raises_no_alert():
    assert rules.alert_reasons(earlier_calls_24h=0, used_or_crisis_today=False, crisis_words=False) == []


def test_a_second_call_use_or_crisis_words_each_give_a_medium_reason():
    reasons = rules.alert_reasons(earlier_calls_24h=1, used_or_crisis_today=True, crisis_words=True)
    assert [r.code for r in reasons] == ["help_now_again", "help_now_after_checkin", "help_now_crisis_words"]
    assert {r.severity for r in reasons} == {MEDIUM} and {r.kind for r in reasons} == {"help_now"}


def test_nobody_coming_is_high_and_says_whether_anyone_was_reached():
    assert rules.nobody_came(0).severity == HIGH and "could be reached" in rules.nobody_came(0).message
    assert "none of the 3 reached" in rules.nobody_came(3).message
