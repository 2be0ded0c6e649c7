"""The statements as they were before the speed-up (commit ec8f6cf): every graduate's every
day asked of checkin_slot. Slow, but plainly the rules; the faster statements must give the
same answers (tests/checkins/test_slots_sql.py), and so must the engagement state
(tests/checkins/test_engagement.py). Who counts as a graduate is not what changed: that
part is the live one (db.slots_sql.graduates)."""

# ruff: noqa: E501

from db.slots_sql import graduates
from db.sweep import _ALERT_CONSECUTIVE

# Misses in a row, over everyone with a miss nobody was alerted about (the sweep's own looks
# only at those it just visited).
ALERT_CONSECUTIVE = _ALERT_CONSECUTIVE.replace("{among}", "")

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
    return graduates(graduate_filter) + "," + _ENDED_SLOTS.format(days=days)


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
select g.id as participant_id, case when g.today is null then 'time_zone_unknown' else 'active' end as status,
       g.alias, g.counselor_id, l.last_at as last_checkin_at,
       coalesce(m.consecutive, 0) as consecutive_misses,
       case when pp.due > 0 then round(pp.done::numeric / pp.due, 3)::float8 end as adherence_14d,
       coalesce(pp.last_done = false, false) as overdue,
       coalesce(oa.open_alerts, 0) as open_alerts, oa.top_severity,
       null::timestamptz as deleted_at, null::jsonb as alerts,
       (select max(h.created_at) from help_requests h
        where h.person_id = g.id and h.created_at > $1::timestamptz - interval '7 days') as last_help_now_at
from graduates g
left join per_person pp on pp.id = g.id
left join last_checkin l on l.person_id = g.id
left join misses m on m.id = g.id
left join open_alerts oa on oa.person_id = g.id
where pp.last_done = false or oa.open_alerts > 0 or g.today is null
order by oa.top_severity desc nulls last, coalesce(m.consecutive, 0) desc, l.last_at nulls first, g.id
limit $3 offset $4
"""
)

ADHERENCE = (
    "with "
    + ended_slots("30")
    + """
select ends_on as day, (ends_on >= today - 7) as last_week,
       count(*) filter (where done)::int as done, count(*)::int as due
from slots group by ends_on, (ends_on >= today - 7) order by day, last_week
"""
)

RECORD_MISSED = (
    "with "
    + ended_slots("$2::int")
    + """
insert into missed_checkins (person_id, slot_starts_on, slot_ends_on, recorded_at)
select id, starts_on, ends_on, $1 from slots where not done
on conflict do nothing
"""
)

ALERT_ADHERENCE = (
    "with "
    + ended_slots("14")
    + """
, adherence as (
    select id, count(*)::int as due, count(*) filter (where done)::int as done
    from slots group by id
    having count(*) >= 4 and count(*) filter (where done) * 2 < count(*)
), raised as (
    insert into alerts (person_id, kind, severity, reasons, details, opened_at, updated_at)
    select a.id, 'low_adherence', 2,
           jsonb_build_array(jsonb_build_object(
               'code', 'adherence_under_half', 'kind', 'low_adherence', 'severity', 'medium',
               'message', a.done || ' of ' || a.due || ' check-ins in the last 14 days.')),
           jsonb_build_object('due', a.due, 'done', a.done), $1, $1
    from adherence a
    where not exists (select from alerts x where x.person_id = a.id and x.kind = 'low_adherence'
                      and (x.status <> 'resolved' or x.resolved_at > $1::timestamptz - interval '7 days'))
    on conflict (person_id, kind) where status <> 'resolved' do nothing
    returning id, reasons -> 0 as reason
)
insert into alert_events (alert_id, at, kind, details)
select id, $1, 'opened', reason from raised
"""
)
