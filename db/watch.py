"""The watchlist and program metrics: set-based, over every graduate at once."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

import asyncpg

from db.slots_sql import ended_slots, graduates

WATCHLIST = (
    "with "
    + ended_slots("14", "and ($2::uuid is null or pp.counselor_id = $2)")
    + """
, per_person as (
    select id, count(*)::int as due, count(*) filter (where done)::int as done,
           (array_agg(done order by ends_on desc))[1] as last_done
    from slots group by id
), last_checkin as (
    select g.id as person_id, l.client_time as last_at, l.local_date as last_date
    from graduates g
    cross join lateral (select c.client_time, c.local_date from checkins c where c.person_id = g.id
                        order by c.local_date desc, c.client_time desc limit 1) l
), misses as (
    select s.id, count(*)::int as consecutive
    from slots s left join last_checkin l on l.person_id = s.id
    where not s.done and s.starts_on > coalesce(l.last_date, '-infinity'::date)
    group by s.id
), open_alerts as (
    select a.person_id, count(*)::int as open_alerts, max(a.severity) as top_severity
    from alerts a join graduates g on g.id = a.person_id
    where a.status <> 'resolved'
    group by a.person_id
)
select g.id as participant_id, g.alias, g.counselor_id, l.last_at as last_checkin_at,
       coalesce(m.consecutive, 0) as consecutive_misses,
       case when pp.due > 0 then round(pp.done::numeric / pp.due, 3)::float8 end as adherence_14d,
       coalesce(pp.last_done = false, false) as overdue,
       coalesce(oa.open_alerts, 0) as open_alerts, oa.top_severity
from graduates g
left join per_person pp on pp.id = g.id
left join last_checkin l on l.person_id = g.id
left join misses m on m.id = g.id
left join open_alerts oa on oa.person_id = g.id
where pp.last_done = false or oa.open_alerts > 0
order by oa.top_severity desc nulls last, coalesce(m.consecutive, 0) desc, l.last_at nulls first, g.id
limit $3 offset $4
"""
)


async def watchlist(
    conn: asyncpg.Connection, now: dt.datetime, counselor_id: UUID | None, limit: int, offset: int
) -> list[asyncpg.Record]:
    """Everyone overdue now (their last ended slot has no check-in) or with an open alert."""
    return await conn.fetch(WATCHLIST, now, counselor_id, limit, offset)


ACTIVE_GRADUATES = "with " + graduates() + " select count(*)::int from graduates"

# The last 30 days' ended slots, computed once: per day they ended, and whether that day is
# within the last 7 days of the graduate's own calendar.
ADHERENCE = (
    "with "
    + ended_slots("30")
    + """
select ends_on as day, (ends_on >= today - 7) as last_week,
       count(*) filter (where done)::int as done, count(*)::int as due
from slots group by ends_on, (ends_on >= today - 7) order by ends_on
"""
)


def _share(done: int, due: int) -> float | None:
    return round(done / due, 3) if due else None


async def metrics(conn: asyncpg.Connection, now: dt.datetime) -> dict:
    active = await conn.fetchval(ACTIVE_GRADUATES, now)
    per_day = {}
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
    checkins_per_day = await conn.fetch(
        """
        select local_date as day, count(*)::int as checkins from checkins
        where local_date >= ($1::timestamptz at time zone 'UTC')::date - 29
        group by local_date order by local_date
        """,
        now,
    )
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
    return {
        "active_graduates": active,
        "adherence_7d": _share(*week),
        "adherence_30d": _share(*month),
        "open_alerts": {row["severity"]: row["n"] for row in severities},
        "checkins_by_day": [dict(row) for row in checkins_per_day],
        "adherence_by_day": [
            {"day": day, "adherence": _share(done, due), "slots": due} for day, (done, due) in sorted(per_day.items())
        ],
        "attendance_rate_30d": round(attendance["present"] / attendance["marked"], 3) if attendance["marked"] else None,
    }
