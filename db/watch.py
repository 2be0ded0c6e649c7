"""The watchlist and program metrics, read from the engagement state (db/engagement.py)."""

from __future__ import annotations

import datetime as dt
from typing import TypedDict
from uuid import UUID

import asyncpg

from db import engagement

# Who is on the list, in its order, straight from the state's "needs attention" index (for
# one counselor, or for everyone); the deleted graduates whose alerts were open
# (deleted_participants) among them, by the same order, until someone acknowledges them.
# Only the page's rows are looked at further: their adherence over the 14 days before their
# local date now (the slots kept for them, ahead ones included: a graduate who misses
# nothing is not visited when a slot ends, so the state's `today` may be days old), their
# alias and counselor.
WATCHLIST = (
    """
with attention as (
    select e.*, ($4::timestamptz at time zone e.zone)::date as local_today,
           """
    + engagement.overdue_at("$4")
    + """ as overdue_now
    from engagement e
    where e.needs_attention and ($1::uuid is null or e.counselor_id = $1)
), listed as (
    select e.person_id as id, case when e.zone is null then 'time_zone_unknown' else 'active' end as status,
           e.top_severity, e.open_alerts, e.consecutive_misses as consecutive, e.last_checkin_at as last_at,
           e.local_today as today, e.overdue_now as overdue, null::text as alias,
           null::uuid as counselor_id, null::timestamptz as deleted_at, null::jsonb as alerts
    from attention e
    where e.top_severity is not null or e.zone is null or e.overdue_now
    order by e.top_severity desc nulls last, e.consecutive_misses desc, e.last_checkin_at nulls first, e.person_id
    limit $2::int + $3::int
), page as materialized (
    select * from listed
    union all
    select person_id, 'account_deleted', top_severity, jsonb_array_length(alerts), 0, null, null, false,
           alias, counselor_id, deleted_at, alerts
    from deleted_participants
    where acknowledged_at is null and ($1::uuid is null or counselor_id = $1)
    order by top_severity desc nulls last, consecutive desc, last_at nulls first, id
    limit $2 offset $3
), adherence as (
    select s.person_id as id, count(*)::int as due, count(*) filter (where s.done)::int as done
    from page p join engagement_slots s on s.person_id = p.id and s.ends_on < p.today and s.ends_on >= p.today - 14
    group by s.person_id
)
select p.id as participant_id, p.status, coalesce(p.alias, pe.name) as alias,
       case when p.status = 'account_deleted' then p.counselor_id else pp.counselor_id end as counselor_id,
       p.last_at as last_checkin_at, p.consecutive as consecutive_misses,
       case when a.due > 0 then round(a.done::numeric / a.due, 3)::float8 end as adherence_14d,
       p.overdue, coalesce(p.open_alerts, 0) as open_alerts, p.top_severity, p.deleted_at, p.alerts,
       (select max(h.created_at) from help_requests h
        where h.person_id = p.id and h.created_at > $4::timestamptz - interval '7 days') as last_help_now_at
from page p
left join people pe on pe.id = p.id and p.status <> 'account_deleted'
left join participant_profiles pp on pp.person_id = pe.id
left join adherence a on a.id = p.id
order by p.top_severity desc nulls last, p.consecutive desc, p.last_at nulls first, p.id
"""
)


async def watchlist(
    conn: asyncpg.Connection, now: dt.datetime, counselor_id: UUID | None, limit: int, offset: int
) -> list[asyncpg.Record]:
    """Everyone overdue (their last ended slot has no check-in) or with an open alert, as of
    the last sweep and of every event since (a check-in, an alert, a plan change: those an
    event made stale are worked out first, in their own transaction, at `now`)."""
    await engagement.refresh_stale(conn, now)
    return await conn.fetch(WATCHLIST, counselor_id, limit, offset, now)


# The rollups (totals, and the deltas not folded in yet), summed per zone and day.
_TOTALS = """
totals as (
    select zone, day, sum(due)::int as due, sum(done)::int as done, sum(checkins)::int as checkins,
           sum(graduates)::int as graduates
    from (select zone, day, due, done, checkins, graduates from engagement_totals
          union all
          select zone, day, due, done, checkins, graduates from engagement_deltas) t
    group by zone, day
)"""

ACTIVE_GRADUATES = "with " + _TOTALS + " select coalesce(sum(graduates), 0)::int from totals where zone = ''"

# Per day the slots ended (in the last 30 days of each zone's calendar), and whether that day
# is within the zone's last 7 days.
ADHERENCE = (
    "with "
    + _TOTALS
    + """
select t.day, (t.day >= z.today - 7) as last_week, sum(t.done)::int as done, sum(t.due)::int as due
from totals t
join (select name, ($1::timestamptz at time zone name)::date as today from known_time_zones) z on z.name = t.zone
where t.day between z.today - 30 and z.today - 1
group by t.day, (t.day >= z.today - 7)
having sum(t.due) > 0
order by day, last_week
"""
)

CHECKINS_BY_DAY = (
    "with "
    + _TOTALS
    + """
select day, checkins from totals
where zone = '' and day >= ($1::timestamptz at time zone 'UTC')::date - 29 and day <> 'infinity' and checkins > 0
order by day
"""
)


def _share(done: int, due: int) -> float | None:
    return round(done / due, 3) if due else None


class CheckinsOnDay(TypedDict):
    day: dt.date
    checkins: int


class AdherenceOnDay(TypedDict):
    day: dt.date
    adherence: float
    slots: int


class Metrics(TypedDict):
    active_graduates: int
    adherence_7d: float | None
    adherence_30d: float | None
    open_alerts: dict[int, int]  # by severity, its number (1-4)
    checkins_by_day: list[CheckinsOnDay]
    adherence_by_day: list[AdherenceOnDay]
    attendance_rate_30d: float | None


async def metrics(conn: asyncpg.Connection, now: dt.datetime) -> Metrics:
    """The numbers, from the rollups (call `engagement.refresh_stale` first, outside the
    read-only snapshot these are read in)."""
    active: int = await conn.fetchval(ACTIVE_GRADUATES)
    per_day: dict[dt.date, tuple[int, int]] = {}  # done and due
    week = [0, 0]
    for row in await conn.fetch(ADHERENCE, now):
        done, due = per_day.get(row["day"], (0, 0))
        per_day[row["day"]] = (done + row["done"], due + row["due"])
        if row["last_week"]:
            week = [week[0] + row["done"], week[1] + row["due"]]
    month = [sum(d for d, _ in per_day.values()), sum(n for _, n in per_day.values())]
    severities = await conn.fetch(
        "select severity, count(*)::int as n from alerts where status <> 'resolved' group by severity"
    )
    checkins_per_day = await conn.fetch(CHECKINS_BY_DAY, now)
    attendance = await conn.fetchrow(
        """
        -- An excused absence is neither a presence nor a miss.
        select count(*) filter (where a.status = 'present')::int as present,
               count(*) filter (where a.status <> 'excused')::int as marked
        from session_attendance a join group_sessions s on s.id = a.session_id
        where s.starts_at >= $1::timestamptz - interval '30 days' and s.starts_at < $1
        """,
        now,
    )
    assert attendance is not None  # aggregates without `group by`: always one row
    return {
        "active_graduates": active,
        "adherence_7d": _share(*week),
        "adherence_30d": _share(*month),
        "open_alerts": {row["severity"]: row["n"] for row in severities},
        "checkins_by_day": [{"day": row["day"], "checkins": row["checkins"]} for row in checkins_per_day],
        "adherence_by_day": [
            # ADHERENCE leaves out days with no slot due; `if due` says so to the type checker too.
            {"day": day, "adherence": round(done / due, 3), "slots": due}
            for day, (done, due) in sorted(per_day.items())
            if due
        ],
        "attendance_rate_30d": round(attendance["present"] / attendance["marked"], 3) if attendance["marked"] else None,
    }
