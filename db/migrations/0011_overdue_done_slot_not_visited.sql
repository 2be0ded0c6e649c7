-- An overdue graduate who checks in for their current slot is no longer visited when that
-- slot ends, unless the adherence rule can speak then: it ends done, so it clears "overdue"
-- and changes nothing else anyone reads (misses in a row are already 0). Readers see "overdue" end with
-- the slot (db/watch.py: overdue, unless the current slot is done and over); the check-in
-- moves the visit on as for anyone not overdue. Measured at a million graduates (bench/sweep.py),
-- these were two visits in three at a zone's Monday midnight.
--
-- And a fix: a row a reader worked out since an event made it stale (`visit_at` still
-- '-infinity': the reader records no misses and raises no alerts, the sweep must) keeps its
-- visit; 0010 moved it on for anyone not overdue, and a miss that event revealed could go
-- unrecorded.
--
-- As in 0010, but for the overdue with their current slot done: visited when it ends only if
-- the adherence rule can speak then (the window gains a slot: a short window of 3 misses
-- reaches the 4 slots the rule needs).
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
        select e.person_id, e.today, e.slot_starts_on, e.slot_ends_on,
               case when e.last_checkin_on is null
                         or (n.local_date, n.client_time) > (e.last_checkin_on, e.last_checkin_at)
                    then n.client_time else e.last_checkin_at end as last_at,
               greatest(n.local_date, e.last_checkin_on) as last_on
        from engagement e join newest n on n.person_id = e.person_id
    ), slots as (  -- each one's slots kept, done counting these check-ins; from the newest ended
                   -- in the 14-day window down to each, how many slots (n) and misses (m)
        select l.person_id, l.last_at, l.last_on, l.today, l.slot_starts_on, l.slot_ends_on, s.starts_on,
               s.ends_on,
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
               coalesce(bool_or(n >= 4 and 2 * m > n) filter (where in_window), false) as at_risk,
               -- Whether the adherence rule can speak when the current slot ends, done: the
               -- window then holds it and the slots of its last 13 days before (the overdue
               -- are visited then if so; see above).
               count(*) filter (where ends_on between slot_ends_on - 13 and slot_ends_on) >= 4
               and 2 * count(*) filter (where ends_on between slot_ends_on - 13 and slot_ends_on and done)
                   < count(*) filter (where ends_on between slot_ends_on - 13 and slot_ends_on) as speaks_at_slot_end
        from slots
        group by person_id, last_at, last_on
    )
    update engagement e
    set last_checkin_at = k.last_at, last_checkin_on = k.last_on, consecutive_misses = k.misses,
        overdue = k.overdue, slot_done = k.slot_done,
        visit_at = case when e.fresh_until = '-infinity' or e.visit_at = '-infinity' or e.zone is null
                             or (k.overdue and k.slot_done is not true) then e.visit_at
                        else coalesce(least(e.visit_by, ((k.first_open + 1)::timestamp at time zone e.zone),
                                            case when k.overdue and k.speaks_at_slot_end
                                                 then (e.slot_ends_on + 1)::timestamp at time zone e.zone end,
                                            case when k.at_risk
                                                 then (k.oldest + 15)::timestamp at time zone e.zone end),
                                      e.visit_at) end
    from standing k
    where e.person_id = k.person_id;
    return null;
end $$;
