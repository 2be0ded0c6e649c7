-- The sweep visits a graduate when a slot ends *without* a check-in, not whenever one ends
-- (README, Architecture, "Engagement state"). A visit now also keeps the slots ahead (those
-- ending in the next three weeks), so a check-in can mark any of them done; a graduate who
-- is not overdue is next visited when their first slot not done ends (or, with a miss in
-- the 14-day window, when its oldest slot leaves it), and the check-in that fills that slot
-- moves the visit on. Nothing the watchlist, the metrics or the alerts read changes when a
-- slot ends done for someone not overdue (no miss; adherence only rises), so the visit it
-- used to cost taught nothing. `visit_by` bounds the wait: the slots ahead run out.

alter table engagement add column visit_by timestamptz;
comment on column engagement.visit_by is
    'the latest the next visit may come: in the second week (the slots ahead cover three), on a'
    ' day and at a minute that differ per graduate, so those visits spread out';
comment on column engagement.slot_starts_on is
    'the current slot as of `today` (the last visit); between visits, the first of'
    ' engagement_slots ending on or after the local date';

-- As in 0009, and: the visit of a graduate not overdue moves to the end of their first slot
-- not done (a late check-in may fill an ended one; one that ended undone and unvisited keeps
-- its visit in the past, so the sweep still comes), or to when the window's oldest slot
-- leaves it, if sooner and if that can bring the adherence rule to speak ("at risk": some
-- newest part of the window, 4 slots or more, has more misses than check-ins). `today` may be days old
-- here (no visit since): every slot that ended since is done, or the visit is already due.
-- Stale and overdue rows keep the time the sweep gave them.
create or replace function engagement_checkins_stored() returns trigger language plpgsql as $$
begin
    with filled as (
        update engagement_slots s set done = true
        from new_rows c
        where s.person_id = c.person_id and c.local_date between s.starts_on and s.ends_on and not s.done
        returning s.person_id, s.starts_on, s.ends_on, s.zone
    ), counted as (
        insert into engagement_deltas (zone, day, done, checkins)
        select '', local_date, 0, count(*) from new_rows group by local_date
        union all
        select zone, ends_on, count(*), 0 from filled group by zone, ends_on
    ), newest as (
        select distinct on (n.person_id) n.person_id, n.client_time, n.local_date from new_rows n
        order by n.person_id, n.local_date desc, n.client_time desc
    ), latest as (
        select e.person_id, e.today, e.slot_starts_on,
               case when e.last_checkin_on is null
                         or (n.local_date, n.client_time) > (e.last_checkin_on, e.last_checkin_at)
                    then n.client_time else e.last_checkin_at end as last_at,
               greatest(n.local_date, e.last_checkin_on) as last_on
        from engagement e join newest n on n.person_id = e.person_id
    ), slots as (  -- each one's slots kept, done counting these check-ins; from the newest ended
                   -- in the 14-day window down to each, how many slots (n) and misses (m)
        select l.person_id, l.last_at, l.last_on, l.today, l.slot_starts_on, s.starts_on, s.ends_on,
               s.done or f.person_id is not null as done,
               s.ends_on < l.today and s.ends_on >= l.today - 14 as in_window,
               count(*) filter (where s.ends_on < l.today and s.ends_on >= l.today - 14) over newest as n,
               count(*) filter (where s.ends_on < l.today and s.ends_on >= l.today - 14
                                  and not (s.done or f.person_id is not null)) over newest as m
        from latest l
        left join engagement_slots s on s.person_id = l.person_id
        left join filled f on f.person_id = s.person_id and f.starts_on = s.starts_on
        window newest as (partition by l.person_id order by s.ends_on desc)
    ), standing as (
        select person_id, last_at, last_on,
               count(*) filter (where in_window and starts_on > last_on)::int as misses,
               coalesce((array_agg(not done order by ends_on desc) filter (where in_window))[1], false) as overdue,
               bool_or(done) filter (where starts_on = slot_starts_on) as slot_done,
               min(ends_on) filter (where ends_on >= today and not done) as first_open,
               min(ends_on) filter (where in_window) as oldest,
               -- Whether old slots leaving the window can make the adherence rule speak: some
               -- newest part of it, 4 slots or more, has more misses than check-ins.
               coalesce(bool_or(n >= 4 and 2 * m > n) filter (where in_window), false) as at_risk
        from slots
        group by person_id, last_at, last_on
    )
    update engagement e
    set last_checkin_at = k.last_at, last_checkin_on = k.last_on, consecutive_misses = k.misses,
        overdue = k.overdue, slot_done = k.slot_done,
        visit_at = case when e.fresh_until = '-infinity' or e.zone is null or k.overdue then e.visit_at
                        else coalesce(least(e.visit_by, ((k.first_open + 1)::timestamp at time zone e.zone),
                                            case when k.at_risk
                                                 then (k.oldest + 15)::timestamp at time zone e.zone end),
                                      e.visit_at) end
    from standing k
    where e.person_id = k.person_id;
    return null;
end $$;

-- As in 0009, and: a low-adherence alert resolved holds a new one back for a week; the rule
-- may speak again when that lapses, so the graduate is visited then (they may not be
-- visited otherwise for days).
create or replace function engagement_alerts_updated() returns trigger language plpgsql as $$
declare
    ids uuid[] := array(select distinct n.person_id from new_rows n join old_rows o on o.id = n.id
                        where (o.status = 'resolved') <> (n.status = 'resolved') or o.severity <> n.severity);
begin
    if cardinality(ids) > 0 then
        perform engagement_alerts_refresh(ids);
    end if;
    update engagement e set visit_at = least(e.visit_at, r.lapses), visit_by = least(e.visit_by, r.lapses)
    from (select n.person_id, max(n.resolved_at) + interval '7 days' as lapses
          from new_rows n join old_rows o on o.id = n.id
          where n.kind = 'low_adherence' and n.status = 'resolved' and o.status <> 'resolved'
          group by n.person_id) r
    where e.person_id = r.person_id and (r.lapses < e.visit_at or r.lapses < e.visit_by);
    return null;
end $$;
