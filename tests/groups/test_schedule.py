"""The pure schedule rules: dated sessions from weekly slots, across DST changes."""

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

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
    assert all(o.starts_at.astimezone(ZoneInfo("America/New_York")).hour == 19 for o in found)


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


def test_two_slots_a_day_keep_their_own_numbers():
    slots = [rules.Slot(3, dt.time(18), dt.time(19), 1), rules.Slot(3, dt.time(8), dt.time(9), 2)]
    found = rules.occurrences(GROUP, slots, "UTC", at(2026, 1, 7), at(2026, 1, 8))
    assert [(o.slot, o.starts_at.hour) for o in found] == [(2, 8), (1, 18)]  # time order, stable numbers
    assert rules.occurrence(GROUP, slots, "UTC", dt.date(2026, 1, 7), 1).starts_at == at(2026, 1, 7, 18)
    assert rules.occurrence(GROUP, slots, "UTC", dt.date(2026, 1, 7), 3) is None
    assert rules.occurrence(GROUP, slots, "UTC", dt.date(2026, 1, 8), 1) is None  # a Thursday


T = dt.time


def test_slot_numbers_survive_edits():
    old = [rules.Slot(2, T(19), T(20), 1), rules.Slot(4, T(19), T(20), 2)]
    # An earlier slot added on Tuesday: the 19:00 one keeps number 1, the new one gets 3.
    added = rules.number_slots(old, [(2, T(8), T(9)), (2, T(19), T(20)), (4, T(19), T(20))])
    assert [(s.weekday, s.start, s.number) for s in added] == [(2, T(8), 3), (2, T(19), 1), (4, T(19), 2)]
    # Tuesday's slot moved to 18:00: still number 1. Thursday dropped, Friday new: number 3.
    moved = rules.number_slots(old, [(2, T(18), T(19)), (5, T(10), T(11))])
    assert [(s.weekday, s.start, s.number) for s in moved] == [(2, T(18), 1), (5, T(10), 3)]
    # A longer session at the same start keeps its number too.
    longer = rules.number_slots(old, [(2, T(19), T(21)), (4, T(19), T(20))])
    assert [(s.number, s.end) for s in longer] == [(1, T(21)), (2, T(20))]
    # A first schedule is numbered 1, 2, ...
    assert [s.number for s in rules.number_slots([], [(1, T(9), T(10)), (3, T(9), T(10))])] == [1, 2]


def test_a_slot_in_the_spring_forward_gap():
    # 02:30 does not exist on 8 March 2026 in Chicago; it is read with the offset before the
    # change (fold=0), so the session starts at 08:30 UTC, i.e. 03:30 CDT on the wall clock.
    slots = [rules.Slot(7, T(2, 30), T(3, 30))]
    [found] = rules.occurrences(GROUP, slots, "America/Chicago", at(2026, 3, 8), at(2026, 3, 9))
    assert found.starts_at == at(2026, 3, 8, 8, 30) and found.ends_at == at(2026, 3, 8, 8, 30)


def test_range_edges_are_overlap():
    slots = [rules.Slot(1, dt.time(10), dt.time(11))]
    monday = dt.date(2026, 1, 5)
    assert rules.occurrences(GROUP, slots, "UTC", at(2026, 1, 5, 10, 30), at(2026, 1, 5, 10, 31))  # inside
    assert not rules.occurrences(GROUP, slots, "UTC", at(2026, 1, 5, 11), at(2026, 1, 5, 12))  # ends at start
    assert not rules.occurrences(GROUP, slots, "UTC", at(2026, 1, 5, 9), at(2026, 1, 5, 10))  # starts at end
    assert monday.isoweekday() == 1


def test_session_ids_parse_back_and_other_spellings_do_not():
    today = dt.date(2026, 1, 1)
    GROUP = uuid.UUID("abcdef00-0000-4000-8000-0000000000ff")  # noqa: N806 (letters, so case matters)
    sid = rules.session_id(GROUP, dt.date(2026, 1, 5), 2)
    assert rules.parse_session_id(sid, today) == (GROUP, dt.date(2026, 1, 5), 2)
    spellings = [
        f"{GROUP}.2026-01-05.02",
        f"{GROUP}.2026-01-05.+2",
        str(GROUP).upper() + ".2026-01-05.2",
        GROUP.hex + ".2026-01-05.2",
        f"{GROUP}.20260105.2",
        f"{GROUP}.2026-01-05.\u0662",
    ]
    junk = [
        "",
        "x",
        f"{GROUP}.2026-13-01.1",
        f"{GROUP}.2026-01-05.0",
        f"{GROUP}.2026-01-05.1.2",
        "a.b.c",
        f"{GROUP}.9999-12-31.1",
        f"{GROUP}.0001-01-01.1",
    ]
    for other in spellings + junk:
        assert rules.parse_session_id(other, today) is None, other


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
