"""The watchlist and program metrics: set-based, over every graduate at once."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

import asyncpg

from db.slots_sql import counted, ended_slots, graduates

# Who is on the list is decided for everyone, but cheaply: an open alert, or no check-in in
# the newest slot that ended (one index lookup, only for those without an alert), or a time
# zone the database does not know (no slots can be worked out for them: staff must see that).
# The ordering keys are then worked out for those listed only: the last check-in (one
# lookup), and the misses in a row, which are the slots that started after it (no check-in
# can be dated inside those: no lookup). The rest (adherence, and overdue for those with an
# alert) only for the page's rows. Lookups go in person order: neighbouring index pages.
# Deleted graduates whose alerts were open (deleted_participants) are listed among them, by
# the same order, until someone acknowledges them.
WATCHLIST = (
    "with "
    + ended_slots("14", "and ($2::uuid is null or pp.counselor_id = $2)")
    + """
, newest as (
    -- With each graduate's newest slot that counts: the newest one, or the one before it if an
    -- override cut the newest short (if a slot started before they activated, so did the earlier).
    select g.*,
           case when g.newest_counts then g.starts[g.n] when g.before_counts then g.starts[g.n - 1] end as last_starts_on,
           case when g.newest_counts then g.ends[g.n] when g.before_counts then g.ends[g.n - 1] end as last_ends_on
    from (select g.*, """
    + counted("g.starts[g.n]", "g.ends[g.n]", "g")
    + """ as newest_counts,
                 """
    + counted("g.starts[g.n - 1]", "g.ends[g.n - 1]", "g")
    + """ as before_counts
          from (select g.*, cardinality(g.starts) as n from graduate_schedules g) g) g
), open_alerts as (
    select person_id, count(*)::int as open_alerts, max(severity) as top_severity
    from alerts where status <> 'resolved' group by person_id
), overdue as (  -- those with no open alert whose newest slot has no check-in
    select n.id
    from (select n.id, n.last_starts_on, n.last_ends_on from newest n
          where n.last_ends_on is not null and not exists (select from open_alerts oa where oa.person_id = n.id)
          order by n.id) n
    where not exists (select from checkins c where c.person_id = n.id
                      and c.local_date between n.last_starts_on and n.last_ends_on)
), listed as materialized (
    select n.*, oa.open_alerts, oa.top_severity
    from newest n
    left join open_alerts oa on oa.person_id = n.id
    where oa.person_id is not null or n.id in (select id from overdue) or n.today is null
), keyed as materialized (
    -- Misses in a row: none if the last check-in is in (or after) the newest slot.
    select k.*, lc.client_time as last_at,
           case when lc.local_date >= k.last_starts_on then 0
                else (select count(*)::int from unnest(k.starts, k.ends) as s(starts_on, ends_on)
                      where s.starts_on > coalesce(lc.local_date, '-infinity'::date) and """
    + counted("s.starts_on", "s.ends_on", "k")
    + """)
           end as consecutive
    from (select * from listed order by id) k
    left join lateral (select c.client_time, c.local_date from checkins c where c.person_id = k.id
                       order by c.local_date desc, c.client_time desc limit 1) lc on true
), page as materialized (
    select id, case when today is null then 'time_zone_unknown' else 'active' end as status,
           top_severity, open_alerts, consecutive, last_at, starts, ends, activated_on, o_from, o_set_on,
           null::text as alias, null::uuid as counselor_id, null::timestamptz as deleted_at, null::jsonb as alerts
    from keyed
    union all
    select person_id, 'account_deleted', top_severity, jsonb_array_length(alerts), 0, null, null, null, null, null,
           null, alias, counselor_id, deleted_at, alerts
    from deleted_participants
    where acknowledged_at is null and ($2::uuid is null or counselor_id = $2)
    order by top_severity desc nulls last, consecutive desc, last_at nulls first, id
    limit $3 offset $4
), page_slots as materialized (
    select p.id, s.ends_on = max(s.ends_on) over (partition by p.id) as last,
           exists (select from checkins c where c.person_id = p.id
                   and c.local_date between s.starts_on and s.ends_on) as done
    from page p
    cross join lateral unnest(p.starts, p.ends) as s(starts_on, ends_on)
    where """
    + counted("s.starts_on", "s.ends_on", "p")
    + """
), adherence as (
    select id, count(*)::int as due, count(*) filter (where done)::int as done,
           bool_or(done) filter (where last) as last_done
    from page_slots group by id
)
-- The alias and counselor for the page's rows only (as in `graduates`); a deleted graduate's
-- from what was kept of them.
select p.id as participant_id, p.status, coalesce(p.alias, pe.name) as alias,
       case when p.status = 'account_deleted' then p.counselor_id else pp.counselor_id end as counselor_id,
       p.last_at as last_checkin_at, p.consecutive as consecutive_misses,
       case when a.due > 0 then round(a.done::numeric / a.due, 3)::float8 end as adherence_14d,
       coalesce(a.last_done = false, false) as overdue,
       coalesce(p.open_alerts, 0) as open_alerts, p.top_severity, p.deleted_at, p.alerts
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
from slots group by ends_on, (ends_on >= today - 7) order by day, last_week
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
