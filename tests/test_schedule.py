"""The pure schedule rules: dated sessions from weekly slots, across DST changes."""

import datetime as dt
import uuid

from api.groups import schedule as rules

GROUP = uuid.UUID("00000000-0000-4000-8000-000000000001")
UTC = dt.UTC


def at(*args):
    return dt.datetime(*args, tzinfo=UTC)


def test_weekly_slot_becomes_dated_sessions():
    slots = [rules.Slot(1, dt.time(19), dt.time(20, 30))]  # Mondays 19:00-20:30
    found = rules.occurrences(GROUP, slots, "America/Chicago", at(2026, 1, 1), at(2026, 1, 31))
    assert [o.local_date for o in found] == [dt.date(2026, 1, d) for d in (5, 12, 19, 26)]
    assert found[0].starts_at == at(2026, 1, 6, 1, 0)  # 19:00 CST = 01:00 UTC next day
    assert found[0].ends_at - found[0].starts_at == dt.timedelta(minutes=90)
    assert found[0].id == f"{GROUP}.2026-01-05.1"


def test_spring_forward_keeps_the_wall_clock_time():
    # US clocks go forward on Sunday 8 March 2026: a Saturday 19:00 and a Monday 19:00.
    slots = [rules.Slot(6, dt.time(19), dt.time(20)), rules.Slot(1, dt.time(19), dt.time(20))]
    found = rules.occurrences(GROUP, slots, "America/New_York", at(2026, 3, 7), at(2026, 3, 10))
    assert [o.starts_at for o in found] == [at(2026, 3, 8, 0, 0), at(2026, 3, 9, 23, 0)]  # EST -5, then EDT -4
    assert all(o.starts_at.astimezone(rules.ZoneInfo("America/New_York")).hour == 19 for o in found)


def test_autumn_back_keeps_the_wall_clock_time_and_length():
    # Europe falls back on Sunday 25 October 2026; a Sunday 10:00-11:00 group in Berlin.
    slots = [rules.Slot(7, dt.time(10), dt.time(11))]
    found = rules.occurrences(GROUP, slots, "Europe/Berlin", at(2026, 10, 17), at(2026, 11, 2))
    assert [o.starts_at for o in found] == [at(2026, 10, 18, 8), at(2026, 10, 25, 9), at(2026, 11, 1, 9)]
    assert all(o.ends_at - o.starts_at == dt.timedelta(hours=1) for o in found)


def test_a_session_across_the_change_itself_has_its_real_length():
    # 01:00-04:00 on the night the US clocks go back (01:00-02:00 happens twice): four real hours.
    slots = [rules.Slot(7, dt.time(1), dt.time(4))]
    [found] = rules.occurrences(GROUP, slots, "America/Chicago", at(2026, 11, 1), at(2026, 11, 2))
    assert found.ends_at - found.starts_at == dt.timedelta(hours=4)


def test_two_slots_a_day_are_numbered_in_start_order():
    slots = [rules.Slot(3, dt.time(18), dt.time(19)), rules.Slot(3, dt.time(8), dt.time(9))]
    found = rules.occurrences(GROUP, slots, "UTC", at(2026, 1, 7), at(2026, 1, 8))
    assert [(o.ordinal, o.starts_at.hour) for o in found] == [(1, 8), (2, 18)]
    assert rules.occurrence(GROUP, slots, "UTC", dt.date(2026, 1, 7), 2).starts_at == at(2026, 1, 7, 18)
    assert rules.occurrence(GROUP, slots, "UTC", dt.date(2026, 1, 7), 3) is None
    assert rules.occurrence(GROUP, slots, "UTC", dt.date(2026, 1, 8), 1) is None  # a Thursday


def test_range_edges_are_overlap():
    slots = [rules.Slot(1, dt.time(10), dt.time(11))]
    monday = dt.date(2026, 1, 5)
    assert rules.occurrences(GROUP, slots, "UTC", at(2026, 1, 5, 10, 30), at(2026, 1, 5, 10, 31))  # inside
    assert not rules.occurrences(GROUP, slots, "UTC", at(2026, 1, 5, 11), at(2026, 1, 5, 12))  # ends at start
    assert not rules.occurrences(GROUP, slots, "UTC", at(2026, 1, 5, 9), at(2026, 1, 5, 10))  # starts at end
    assert monday.isoweekday() == 1


def test_session_ids_parse_back_and_junk_does_not():
    sid = rules.session_id(GROUP, dt.date(2026, 1, 5), 2)
    assert rules.parse_session_id(sid) == (GROUP, dt.date(2026, 1, 5), 2)
    for junk in ("", "x", f"{GROUP}.2026-13-01.1", f"{GROUP}.2026-01-05.0", f"{GROUP}.2026-01-05.1.2", "a.b.c"):
        assert rules.parse_session_id(junk) is None


def test_check_in_window_edges():
    starts, ends = at(2026, 1, 5, 19), at(2026, 1, 5, 20)
    assert rules.check_in_open(starts, ends, at(2026, 1, 5, 18, 30))
    assert not rules.check_in_open(starts, ends, at(2026, 1, 5, 18, 29, 59))
    assert rules.check_in_open(starts, ends, at(2026, 1, 5, 20, 30))
    assert not rules.check_in_open(starts, ends, at(2026, 1, 5, 20, 30, 1))


def test_check_in_codes_are_six_digits_and_differ_by_session_and_secret():
    a = rules.check_in_code("secret", f"{GROUP}.2026-01-05.1")
    assert len(a) == 6 and a.isdigit()
    assert a != rules.check_in_code("secret", f"{GROUP}.2026-01-12.1")
    assert a != rules.check_in_code("other", f"{GROUP}.2026-01-05.1")
