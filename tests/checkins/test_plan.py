"""The check-in plan: phases, their edges, overrides, and the SQL twin agreeing with it."""

import datetime as dt
import random

from api.checkins import plan
from api.checkins.plan import Override, Slot

D = dt.date
IOP = D(2026, 1, 7)  # a Wednesday


def test_weeks_one_to_four_are_daily():
    assert plan.slot_for(IOP, IOP) == Slot(IOP, IOP, "daily")
    assert plan.slot_for(IOP + dt.timedelta(days=27), IOP) == Slot(D(2026, 2, 3), D(2026, 2, 3), "daily")
    assert plan.slot_for(IOP - dt.timedelta(days=1), IOP) is None  # before completion: nothing


def test_weeks_five_to_twelve_are_three_a_week_clipped_at_the_change():
    first = IOP + dt.timedelta(days=28)  # Wednesday 4 February
    assert plan.slot_for(first, IOP) == Slot(D(2026, 2, 4), D(2026, 2, 5), "three_weekly")  # Wed-Thu
    assert plan.slot_for(D(2026, 2, 7), IOP) == Slot(D(2026, 2, 6), D(2026, 2, 8), "three_weekly")  # Fri-Sun
    assert plan.slot_for(D(2026, 2, 9), IOP) == Slot(D(2026, 2, 9), D(2026, 2, 10), "three_weekly")  # Mon-Tue
    # Day 83 is Tuesday 31 March: the last Mon-Tue slot of the phase.
    assert plan.slot_for(IOP + dt.timedelta(days=83), IOP) == Slot(D(2026, 3, 30), D(2026, 3, 31), "three_weekly")


def test_weeks_thirteen_to_fifty_two_are_weekly_then_nothing():
    start = IOP + dt.timedelta(days=84)  # Wednesday 1 April
    assert plan.slot_for(start, IOP) == Slot(D(2026, 4, 1), D(2026, 4, 5), "weekly")  # clipped Wed-Sun
    assert plan.slot_for(D(2026, 4, 8), IOP) == Slot(D(2026, 4, 6), D(2026, 4, 12), "weekly")
    last = IOP + dt.timedelta(days=363)
    assert plan.slot_for(last, IOP).ends_on == last
    assert plan.slot_for(last + dt.timedelta(days=1), IOP) is None


def test_slots_between_tile_the_dates_without_gaps():
    slots = plan.slots_between(IOP, IOP + dt.timedelta(days=400), IOP)
    assert slots[0].starts_on == IOP and slots[-1].ends_on == IOP + dt.timedelta(days=363)
    for a, b in zip(slots, slots[1:], strict=False):
        assert b.starts_on == a.ends_on + dt.timedelta(days=1)
    assert sum(s.cadence == "daily" for s in slots) == 28
    # Wed 4 Feb to Tue 31 Mar: Wed-Thu, Fri-Sun, seven full weeks of three, then Mon-Tue.
    assert sum(s.cadence == "three_weekly" for s in slots) == 2 + 21 + 1


def test_an_override_takes_a_stretch_and_the_default_resumes():
    lapse = Override("daily", D(2026, 5, 4), D(2026, 5, 17))  # back to daily for two weeks
    assert plan.slot_for(D(2026, 5, 4), IOP, lapse) == Slot(D(2026, 5, 4), D(2026, 5, 4), "daily")
    assert plan.slot_for(D(2026, 5, 1), IOP, lapse) == Slot(D(2026, 4, 27), D(2026, 5, 3), "weekly")  # clipped
    assert plan.slot_for(D(2026, 5, 20), IOP, lapse) == Slot(D(2026, 5, 18), D(2026, 5, 24), "weekly")
    paused = Override("none", D(2026, 5, 4))
    assert plan.slot_for(D(2026, 6, 1), IOP, paused) is None
    extended = Override("weekly", D(2027, 1, 6))
    assert plan.slot_for(D(2027, 6, 1), IOP, extended) == Slot(D(2027, 5, 31), D(2027, 6, 6), "weekly")


def test_next_slot_and_streak():
    assert plan.next_slot(IOP, IOP) == Slot(D(2026, 1, 8), D(2026, 1, 8), "daily")
    assert plan.next_slot(IOP + dt.timedelta(days=363), IOP) is None
    slot = Slot(IOP, IOP, "daily")
    assert plan.streak([(slot, True), (slot, True), (slot, False), (slot, True)]) == 2


def test_slot_window_is_local_midnight_to_midnight_across_dst():
    # Fri-Sun over the US spring change (8 March 2026): 71 hours, not 72.
    start, end = Slot(D(2026, 3, 6), D(2026, 3, 8), "three_weekly").window("America/Chicago")
    assert start == dt.datetime(2026, 3, 6, 6, tzinfo=dt.UTC) and end == dt.datetime(2026, 3, 9, 5, tzinfo=dt.UTC)
    assert end - start == dt.timedelta(hours=71)


async def test_the_sql_function_agrees_with_the_python_rules(conn):
    rng = random.Random(7)
    cases = []
    for _ in range(3000):
        iop = D(2026, 1, 1) + dt.timedelta(days=rng.randrange(0, 400))
        day = iop + dt.timedelta(days=rng.randrange(-10, 420))
        override = None
        if rng.random() < 0.5:
            start = iop + dt.timedelta(days=rng.randrange(-5, 400))
            end = start + dt.timedelta(days=rng.randrange(0, 60)) if rng.random() < 0.6 else None
            override = Override(rng.choice(plan.CADENCES), start, end)
        cases.append((day, iop, override))
    rows = await conn.fetch(
        """
        select i, s.starts_on, s.ends_on, s.cadence
        from unnest($1::date[], $2::date[], $3::text[], $4::date[], $5::date[]) with ordinality
             as c(day, iop, cadence, o_from, o_until, i)
        left join lateral checkin_slot(c.day, c.iop, c.cadence, c.o_from, c.o_until) s on true
        order by i
        """,
        [c[0] for c in cases],
        [c[1] for c in cases],
        [c[2].cadence if c[2] else None for c in cases],
        [c[2].starts_on if c[2] else None for c in cases],
        [c[2].ends_on if c[2] else None for c in cases],
    )
    for (day, iop, override), row in zip(cases, rows, strict=True):
        expected = plan.slot_for(day, iop, override)
        got = None if row["cadence"] is None else Slot(row["starts_on"], row["ends_on"], row["cadence"])
        assert got == expected, (day, iop, override)


def test_slot_window_across_the_autumn_change():
    # Berlin falls back on Sunday 25 October 2026: that Mon-Sun week lasts 169 hours.
    start, end = Slot(D(2026, 10, 19), D(2026, 10, 25), "weekly").window("Europe/Berlin")
    assert start == dt.datetime(2026, 10, 18, 22, tzinfo=dt.UTC) and end == dt.datetime(2026, 10, 25, 23, tzinfo=dt.UTC)
    assert end - start == dt.timedelta(hours=169)


def test_slots_between_matches_walking_every_day():
    """slots_between skips the days before a plan starts; it must find exactly the slots a
    day-by-day walk finds, overrides included (random cases, fixed seed)."""
    import random

    def walk(first, last, iop, override):
        found, day = [], first
        while day <= last:
            slot = plan.slot_for(day, iop, override)
            found += [slot] if slot else []
            day = slot.ends_on + dt.timedelta(days=1) if slot else day + dt.timedelta(days=1)
        return found

    rng = random.Random(7)
    today = dt.date(2026, 11, 27)
    for _ in range(1000):
        iop = today - dt.timedelta(days=rng.randint(-30, 500))
        override = None
        if rng.random() < 0.5:
            start = iop + dt.timedelta(days=rng.randint(-60, 400))
            end = None if rng.random() < 0.3 else start + dt.timedelta(days=rng.randint(0, 100))
            override = plan.Override(rng.choice(plan.CADENCES), start, end)
        first = today - dt.timedelta(days=rng.randint(0, 400))
        assert plan.slots_between(first, today, iop, override) == walk(first, today, iop, override)
