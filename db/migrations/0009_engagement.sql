-- Engagement state kept as it happens (README, Architecture, "Engagement state"): per active
-- graduate, their slots of the last month and where they stand, so the sweep, the watchlist
-- and the metrics read state instead of working every graduate's slots out of history.
--
-- What is written where, and when:
--   * events that change what the slots are made of (time zone, activation, deactivation,
--     reactivation, plan override, IOP date, counselor, a check-in removed) mark the
--     graduate's row stale here, by trigger, in the event's own transaction; the next
--     reader or sweep works that one graduate out again (db/engagement.py, `refresh`);
--   * a check-in stored marks its slot done and updates the row, by trigger, at once;
--   * alerts opened, escalated or resolved update the row's alert columns, by trigger;
--   * time passing (a slot ending, a slot leaving the 14-day window) is the sweep's: it
--     visits the rows whose `visit_at` has come, through an index.

create table engagement (
    person_id           uuid primary key references people (id) on delete cascade,
    counselor_id        uuid,
    zone                text,            -- null: a zone this server does not know (no slots)
    today               date,            -- the graduate's local date when this was worked out
    -- The current slot: the first that counts and ends today or later (within two weeks).
    slot_starts_on      date,
    slot_ends_on        date,
    slot_done           boolean,
    last_checkin_at     timestamptz,     -- the app's time of the newest check-in
    last_checkin_on     date,            -- its local date
    consecutive_misses  integer not null default 0,  -- ended slots in 14 days after the last check-in
    overdue             boolean not null default false,  -- the newest ended slot has no check-in
    open_alerts         integer not null default 0,
    top_severity        smallint,        -- of the open (or acknowledged) alerts
    -- Until when what is here holds without a look at the clock; '-infinity': an event
    -- changed what it is made of, and the next reader works it out again.
    fresh_until         timestamptz not null default '-infinity',
    -- When the sweep must look next (a slot ended, or the adherence rule's window moved).
    visit_at            timestamptz not null default '-infinity',
    -- On the watchlist: alerted, overdue, or in a zone nobody can work slots out in (a row
    -- not worked out yet is none of these until it is).
    needs_attention     boolean generated always as
        (top_severity is not null or overdue or (zone is null and fresh_until <> '-infinity')) stored
);
create index engagement_visit_idx on engagement (visit_at);
create index engagement_stale_idx on engagement (person_id) where fresh_until = '-infinity';
-- The watchlist, in its order, for one counselor and for everyone.
create index engagement_attention_idx on engagement
    (counselor_id, top_severity desc nulls last, consecutive_misses desc, last_checkin_at nulls first, person_id)
    where needs_attention;
create index engagement_attention_all_idx on engagement
    (top_severity desc nulls last, consecutive_misses desc, last_checkin_at nulls first, person_id)
    where needs_attention;

-- Each graduate's slots that count, from 31 days back to the current one.
create table engagement_slots (
    person_id  uuid not null references engagement (person_id) on delete cascade,
    starts_on  date not null,
    ends_on    date not null,
    done       boolean not null,
    zone       text not null,     -- the graduate's zone, for the per-zone rollup
    primary key (person_id, starts_on)
);

-- Rollups for the metrics: per zone and day, the slots that end that day and how many are
-- done; per local day (zone ''), the check-ins; the active graduates (zone '', day
-- 'infinity'). Writers only ever insert deltas (no row is shared between two check-ins,
-- so nobody waits on a counter); the sweep folds them into the totals.
create table engagement_totals (
    zone        text not null,
    day         date not null,
    due         bigint not null default 0,
    done        bigint not null default 0,
    checkins    bigint not null default 0,
    graduates   bigint not null default 0,
    primary key (zone, day)
);
create table engagement_deltas (
    zone        text not null,
    day         date not null,
    due         integer not null default 0,
    done        integer not null default 0,
    checkins    integer not null default 0,
    graduates   integer not null default 0
);

-- Mark graduates' state stale: a row for each who is active and signed in, none for others
-- (an existing row is worked out again, and removed then if they no longer count).
create function engagement_touch(ids uuid[]) returns void language sql as $$
    update engagement set fresh_until = '-infinity', visit_at = '-infinity'
    where person_id = any(ids) and (fresh_until <> '-infinity' or visit_at <> '-infinity');
    insert into engagement (person_id)
    select pp.person_id from participant_profiles pp join people p on p.id = pp.person_id
    where pp.person_id = any(ids) and pp.activated_at is not null and p.is_active
    on conflict (person_id) do nothing;
$$;

create function engagement_touch_row() returns trigger language plpgsql as $$
begin
    perform engagement_touch(array[coalesce(new.person_id, old.person_id)]);
    return null;
end $$;

create function engagement_touch_person() returns trigger language plpgsql as $$
begin
    perform engagement_touch(array[new.id]);
    return null;
end $$;

create function engagement_touch_inserted() returns trigger language plpgsql as $$
begin
    perform engagement_touch(array(select person_id from new_rows));
    return null;
end $$;

create function engagement_touch_deleted() returns trigger language plpgsql as $$
begin
    perform engagement_touch(array(select distinct person_id from old_rows));
    return null;
end $$;

create trigger people_engagement after update of timezone, is_active, reactivated_at on people
    for each row when (old.timezone is distinct from new.timezone or old.is_active is distinct from new.is_active
                       or old.reactivated_at is distinct from new.reactivated_at)
    execute function engagement_touch_person();
create trigger participant_profiles_engagement_insert after insert on participant_profiles
    referencing new table as new_rows for each statement execute function engagement_touch_inserted();
create trigger participant_profiles_engagement after update of activated_at, iop_completed_on, counselor_id
    on participant_profiles
    for each row when (old.activated_at is distinct from new.activated_at
                       or old.iop_completed_on is distinct from new.iop_completed_on
                       or old.counselor_id is distinct from new.counselor_id)
    execute function engagement_touch_row();
create trigger checkin_plans_engagement_insert after insert on checkin_plans
    referencing new table as new_rows for each statement execute function engagement_touch_inserted();
create trigger checkin_plans_engagement after update on checkin_plans
    for each row execute function engagement_touch_row();
create trigger checkin_plans_engagement_delete after delete on checkin_plans
    referencing old table as old_rows for each statement execute function engagement_touch_deleted();

-- A check-in stored: its slot is done, it may be the newest, and the misses in a row and
-- "overdue" follow from the slots kept (no look at the clock: `today` is the date they
-- were worked out at, and nothing about them changes before `fresh_until`). One statement:
-- it runs with every check-in. (The slots' rows are otherwise only inserted and deleted,
-- so the done count's delta is written here rather than by a trigger on them.)
create function engagement_checkins_stored() returns trigger language plpgsql as $$
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
    ), standing as (
        select l.person_id, l.last_at, l.last_on,
               count(s.starts_on) filter (where s.ends_on < l.today and s.ends_on >= l.today - 14
                                          and s.starts_on > l.last_on)::int as misses,
               coalesce((array_agg(not (s.done or f.person_id is not null) order by s.ends_on desc)
                         filter (where s.ends_on < l.today and s.ends_on >= l.today - 14))[1], false) as overdue,
               bool_or(s.done or f.person_id is not null) filter (where s.starts_on = l.slot_starts_on) as slot_done
        from latest l
        left join engagement_slots s on s.person_id = l.person_id
        left join filled f on f.person_id = s.person_id and f.starts_on = s.starts_on
        group by l.person_id, l.last_at, l.last_on
    )
    update engagement e
    set last_checkin_at = k.last_at, last_checkin_on = k.last_on, consecutive_misses = k.misses,
        overdue = k.overdue, slot_done = k.slot_done
    from standing k
    where e.person_id = k.person_id;
    return null;
end $$;

create trigger checkins_engagement after insert on checkins
    referencing new table as new_rows for each statement execute function engagement_checkins_stored();

create function engagement_checkins_removed() returns trigger language plpgsql as $$
begin
    insert into engagement_deltas (zone, day, checkins)
    select '', local_date, -count(*) from old_rows group by local_date;
    perform engagement_touch(array(select distinct person_id from old_rows));
    return null;
end $$;

create trigger checkins_engagement_delete after delete on checkins
    referencing old table as old_rows for each statement execute function engagement_checkins_removed();

-- The alert columns follow the alerts that are not resolved.
create function engagement_alerts_refresh(ids uuid[]) returns void language sql as $$
    update engagement e
    set open_alerts = coalesce(x.n, 0), top_severity = x.top
    from unnest(ids) as ids(person_id)
    left join lateral (select count(*)::int as n, max(severity) as top from alerts a
                       where a.person_id = ids.person_id and a.status <> 'resolved') x on true
    where e.person_id = ids.person_id
      and (e.open_alerts, e.top_severity) is distinct from (coalesce(x.n, 0), x.top);
$$;

create function engagement_alerts_inserted() returns trigger language plpgsql as $$
begin
    perform engagement_alerts_refresh(array(select distinct person_id from new_rows));
    return null;
end $$;

create function engagement_alerts_deleted() returns trigger language plpgsql as $$
begin
    perform engagement_alerts_refresh(array(select distinct person_id from old_rows));
    return null;
end $$;

-- Only where an alert was resolved (or reopened) or changed severity: an outreach note or an
-- acknowledgement leaves the watchlist as it is.
create function engagement_alerts_updated() returns trigger language plpgsql as $$
declare
    ids uuid[] := array(select distinct n.person_id from new_rows n join old_rows o on o.id = n.id
                        where (o.status = 'resolved') <> (n.status = 'resolved') or o.severity <> n.severity);
begin
    if cardinality(ids) > 0 then
        perform engagement_alerts_refresh(ids);
    end if;
    return null;
end $$;

create trigger alerts_engagement_insert after insert on alerts
    referencing new table as new_rows for each statement execute function engagement_alerts_inserted();
create trigger alerts_engagement_update after update on alerts
    referencing old table as old_rows new table as new_rows
    for each statement execute function engagement_alerts_updated();
create trigger alerts_engagement_delete after delete on alerts
    referencing old table as old_rows for each statement execute function engagement_alerts_deleted();

-- The rollups follow the slots kept and the graduates counted (a slot turning done: above).
create function engagement_slots_added() returns trigger language plpgsql as $$
begin
    insert into engagement_deltas (zone, day, due, done)
    select zone, ends_on, count(*), count(*) filter (where done) from new_rows group by zone, ends_on;
    return null;
end $$;

create function engagement_slots_removed() returns trigger language plpgsql as $$
begin
    insert into engagement_deltas (zone, day, due, done)
    select zone, ends_on, -count(*), -count(*) filter (where done) from old_rows group by zone, ends_on;
    return null;
end $$;

create trigger engagement_slots_insert after insert on engagement_slots
    referencing new table as new_rows for each statement execute function engagement_slots_added();
create trigger engagement_slots_delete after delete on engagement_slots
    referencing old table as old_rows for each statement execute function engagement_slots_removed();

create function engagement_rows_added() returns trigger language plpgsql as $$
begin
    insert into engagement_deltas (zone, day, graduates)
    select '', 'infinity', count(*) from new_rows having count(*) > 0;
    return null;
end $$;

create function engagement_rows_removed() returns trigger language plpgsql as $$
begin
    insert into engagement_deltas (zone, day, graduates)
    select '', 'infinity', -count(*) from old_rows having count(*) > 0;
    return null;
end $$;

create trigger engagement_insert after insert on engagement
    referencing new table as new_rows for each statement execute function engagement_rows_added();
create trigger engagement_delete after delete on engagement
    referencing old table as old_rows for each statement execute function engagement_rows_removed();

-- Everyone who counts today starts stale: the first sweep (or reader) works them out.
insert into engagement (person_id)
select pp.person_id from participant_profiles pp join people p on p.id = pp.person_id
where pp.activated_at is not null and p.is_active;
