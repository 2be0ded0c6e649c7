"""SQL shared by the sweep, the watchlist and the metrics: every active graduate's slots
that ended lately, and whether each has a check-in. Parameter $1 is "now"."""

from __future__ import annotations

_GRADUATES = """
graduates as materialized (  -- materialized: each graduate's local date is computed once
    select p.id, p.name as alias, p.timezone, pp.counselor_id, pp.iop_completed_on as iop,
           o.cadence as o_cadence, o.starts_on as o_from, o.ends_on as o_until,
           ($1::timestamptz at time zone p.timezone)::date as today,
           -- Slots count from the first sign-in, or from the return after a deactivation.
           (greatest(pp.activated_at, p.reactivated_at) at time zone p.timezone)::date as activated_on,
           (o.set_at at time zone p.timezone)::date as o_set_on
    from people p
    join participant_profiles pp on pp.person_id = p.id
    left join checkin_plans o on o.person_id = p.id
    where p.is_active and pp.activated_at is not null {graduate_filter}
)"""

# One row per slot that ended (on its last local day) within the last {days} days, found by
# asking checkin_slot about each of those days (integer offsets: no time zone arithmetic).
_ENDED_SLOTS = """
slots as (
    select g.id, g.today, s.starts_on, s.ends_on,
           exists (select from checkins c where c.person_id = g.id
                   and c.local_date between s.starts_on and s.ends_on) as done
    from graduates g
    cross join lateral generate_series(greatest(g.today - {days}, g.iop, g.activated_on) - g.today, -1) as d(offset_days)
    cross join lateral checkin_slot(g.today + d.offset_days, g.iop, g.o_cadence, g.o_from, g.o_until) s
    where s.ends_on = g.today + d.offset_days and s.starts_on >= g.activated_on
      -- A slot cut short by an override set while it ran was not owed in full: not counted.
      and not (g.o_from is not null and s.ends_on = g.o_from - 1 and g.o_set_on > s.starts_on)
)"""


def ended_slots(days: str, graduate_filter: str = "") -> str:
    """The `graduates` and `slots` CTEs (without the leading `with`)."""
    return graduates(graduate_filter) + "," + _ENDED_SLOTS.format(days=days)


def graduates(graduate_filter: str = "") -> str:
    """The `graduates` CTE alone (without the leading `with`)."""
    return _GRADUATES.format(graduate_filter=graduate_filter)
