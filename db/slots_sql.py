"""Which slots ended lately for a set of active graduates, and whether each has a check-in:
what the engagement state (db/engagement.py) is worked out from. Parameter $1 is "now".

What a slot is comes from `checkin_slot`, the SQL twin of api/checkins/plan.py. Which slots
ended is worked out per *schedule*, not per graduate: a graduate's slots depend only on
their local date, their IOP completion date and their override, and graduates share these
(at most a few hundred schedules without overrides, whatever the number of graduates). The
per-person parts (slots before the activation date, a slot cut short by an override) are
filters on the shared slots. tests/checkins/test_slots_sql.py holds this to plan.py, day by day.
"""

from __future__ import annotations

# Zones are read through known_time_zones (`z.zone`: null for a zone this server does not
# know, see db/zones.py): such a graduate's dates are null, so they have no slots and no
# local time, and every statement goes on for everyone else instead of failing. The jobs
# report them (db/zones.py unknown_zone_graduates); the watchlist lists them.
_GRADUATES = """
graduates as materialized (  -- materialized: each graduate's local date is computed once
    select p.id, p.name as alias, z.name as timezone, pp.counselor_id, pp.iop_completed_on as iop,
           o.cadence as o_cadence, o.starts_on as o_from, o.ends_on as o_until,
           ($1::timestamptz at time zone z.name)::date as today,
           -- Slots count from the first sign-in, or from the return after a deactivation.
           (greatest(pp.activated_at, p.reactivated_at) at time zone z.name)::date as activated_on,
           (o.set_at at time zone z.name)::date as o_set_on
    from people p
    join participant_profiles pp on pp.person_id = p.id
    left join known_time_zones z on z.name = p.timezone
    left join checkin_plans o on o.person_id = p.id
    where p.is_active and pp.activated_at is not null {graduate_filter}
)"""

# Per schedule, every slot that ended (on its last local day) within the last {days} days
# and not before the IOP completion date. Only the days a slot can end on are asked about
# (checkin_slot then says whether one does): wherever a daily cadence may be in force, every
# day; Tuesdays and Thursdays where three-a-week may be (Mon-Tue, Wed-Thu); Sundays (Fri-Sun,
# Mon-Sun); and the days a phase or an override ends, where slots are clipped. A week of a
# weekly graduate's history is one call instead of seven. Integer offsets: no time zone
# arithmetic.
_SCHEDULE_SLOTS = """
schedules as materialized (  -- the graduates on each, with what sets them apart
    select today, iop, o_cadence, o_from, o_until,
           array_agg(id) as ids, array_agg(activated_on) as activated_ons, array_agg(o_set_on) as o_set_ons
    from graduates
    group by today, iop, o_cadence, o_from, o_until
), schedule_slots as materialized (  -- with its slots in arrays, oldest first
    select k.*, sl.starts, sl.ends, sl.due_14d
    from schedules k
    cross join lateral (
        select array_agg(s.starts_on order by s.starts_on) as starts, array_agg(s.ends_on order by s.starts_on) as ends,
               -- How many ended in the last 14 days (the adherence window).
               count(*) filter (where s.ends_on >= k.today - 14)::int as due_14d
        from generate_series(greatest(k.today - {days}, k.iop) - k.today, -1) as offset_days
        cross join lateral (select k.today + offset_days as day, extract(isodow from k.today + offset_days) as wd) d
        cross join lateral checkin_slot(d.day, k.iop, k.o_cadence, k.o_from, k.o_until) s
        where (d.day - k.iop <= 27 or k.o_cadence = 'daily'
               or d.wd = 7
               or (d.wd in (2, 4) and (d.day - k.iop <= 83 or k.o_cadence = 'three_weekly'))
               or d.day in (k.iop + 83, k.iop + 363, k.o_from - 1, k.o_until))
          and s.ends_on = d.day
    ) sl  -- arrays are null for a schedule with no slot ended lately
)"""

# A row per graduate with their schedule's slots (null arrays: none ended lately).
_GRADUATE_SCHEDULES = """
graduate_schedules as (
    select today, iop, o_from, starts, ends, due_14d,
           unnest(ids) as id, unnest(activated_ons) as activated_on, unnest(o_set_ons) as o_set_on
    from schedule_slots
)"""


def counted(starts_on: str, ends_on: str, graduate: str) -> str:
    """Whether a slot of a graduate's schedule counts for them: it started once they were
    active, and no override set while it ran cut it short (it was not owed in full)."""
    return (
        f"({starts_on} >= {graduate}.activated_on and not ({graduate}.o_from is not null"
        f" and {ends_on} = {graduate}.o_from - 1 and {graduate}.o_set_on > {starts_on}))"
    )


# Each graduate's ended slots that count, a row each (unnested in the select list: cheaper
# than a function scan per graduate).
_GRADUATE_SLOTS = (
    """
graduate_slots as (
    select id, today, starts_on, ends_on, due_14d
    from (select g.*, unnest(g.starts) as starts_on, unnest(g.ends) as ends_on from graduate_schedules g) g
    where """
    + counted("g.starts_on", "g.ends_on", "g")
    + """
)"""
)

# With whether each has a check-in. Materialized: `done` is looked up once per slot however
# often the statement reads it (inlined, each reference repeated the lookup). Looked up in
# person order: one after the other, the lookups read neighbouring index pages.
_SLOTS = """
slots as materialized (
    select s.id, s.today, s.starts_on, s.ends_on,
           exists (select from checkins c where c.person_id = s.id
                   and c.local_date between s.starts_on and s.ends_on) as done
    from (select * from graduate_slots order by id) s
)"""


def ended_slots(days: str, graduate_filter: str = "") -> str:
    """The `graduates`, `schedules`, `schedule_slots`, `graduate_schedules`, `graduate_slots`
    and `slots` CTEs (without the leading `with`): `slots` has a row per ended slot that
    counts, with `done`; `graduate_slots` the same rows without `done`, for statements that
    look it up for some only; `graduate_schedules` a row per graduate with their schedule's
    slots in arrays (see `counted`)."""
    return ",".join(
        (graduates(graduate_filter), _SCHEDULE_SLOTS.format(days=days), _GRADUATE_SCHEDULES, _GRADUATE_SLOTS, _SLOTS)
    )


def graduates(graduate_filter: str = "") -> str:
    """The `graduates` CTE alone (without the leading `with`)."""
    return _GRADUATES.format(graduate_filter=graduate_filter)
