-- Check-ins: plans, submissions, missed slots, alerts and their timeline.

-- When a deactivated graduate was let back in: slots before it are not counted as missed.
alter table people add column reactivated_at timestamptz;

-- A staff override of the default plan for a stretch of dates (one per person).
create table checkin_plans (
    person_id  uuid primary key references people (id) on delete cascade,
    cadence    text not null check (cadence in ('daily', 'three_weekly', 'weekly', 'none')),
    starts_on  date not null,
    ends_on    date check (ends_on >= starts_on),     -- null: until changed
    set_by     uuid,
    set_at     timestamptz not null default now()
);

-- The slot a local date belongs to: the SQL twin of api/checkins/plan.py (a test holds
-- them to the same answers). o_* describe the person's override, all null without one.
create function checkin_slot(day date, iop date, o_cadence text, o_from date, o_until date)
returns table (starts_on date, ends_on date, cadence text)
language sql immutable as $$
    with segment as (
        select
            case when in_override then o_cadence
                 when day - iop between 0 and 27 then 'daily'
                 when day - iop between 28 and 83 then 'three_weekly'
                 when day - iop between 84 and 363 then 'weekly'
            end as cadence,
            case when in_override then o_from
                 else greatest(iop + case when day - iop <= 27 then 0 when day - iop <= 83 then 28 else 84 end,
                               case when o_until < day then o_until + 1 else '-infinity'::date end)
            end as seg_start,
            case when in_override then coalesce(o_until, 'infinity'::date)
                 else least(iop + case when day - iop <= 27 then 27 when day - iop <= 83 then 83 else 363 end,
                            case when o_from > day then o_from - 1 else 'infinity'::date end)
            end as seg_end,
            extract(isodow from day)::int as wd
        from (select o_cadence is not null and day >= o_from
                     and day <= coalesce(o_until, 'infinity'::date) as in_override) o
    ), shape as (
        select cadence, seg_start, seg_end,
               case cadence when 'daily' then day
                            when 'three_weekly' then day - case when wd <= 2 then wd - 1
                                                                when wd <= 4 then wd - 3 else wd - 5 end
                            else day - (wd - 1) end as first,
               wd
        from segment
    )
    select greatest(first, seg_start),
           least(case cadence when 'daily' then first
                              when 'three_weekly' then first + case when wd <= 4 then 1 else 2 end
                              else first + 6 end, seg_end),
           cadence
    from shape
    where cadence is not null and cadence <> 'none'
$$;

create table checkins (
    id            uuid primary key default gen_random_uuid(),
    person_id     uuid not null references people (id) on delete cascade,
    client_id     uuid not null,                    -- the app's id: a resubmission is the same check-in
    client_time   timestamptz not null,
    received_at   timestamptz not null default now(),
    -- The date where the graduate was when they checked in: slots are made of these.
    local_date    date not null,
    mood          smallint not null check (mood between 1 and 5),
    craving       smallint not null check (craving between 0 and 10),
    used          boolean not null,
    sleep         smallint not null check (sleep between 1 and 5),
    need_support  text not null check (need_support in ('no', 'talk_soon', 'crisis_now')),
    note          text check (length(note) <= 1000),
    phq2          smallint[] check (phq2 is null or (cardinality(phq2) = 2 and 0 <= all(phq2) and 3 >= all(phq2))),
    gad2          smallint[] check (gad2 is null or (cardinality(gad2) = 2 and 0 <= all(gad2) and 3 >= all(gad2))),
    risk_reasons  jsonb not null default '[]'::jsonb,
    unique (person_id, client_id)
);
create index checkins_person_date_idx on checkins (person_id, local_date desc, client_time desc);
create index checkins_received_idx on checkins (received_at);

-- A slot that ended with no check-in, recorded once by the sweep.
create table missed_checkins (
    person_id       uuid not null references people (id) on delete cascade,
    slot_starts_on  date not null,
    slot_ends_on    date not null,
    recorded_at     timestamptz not null default now(),
    -- Counted in an alert: from then on the miss stands, even if a late check-in arrives.
    alerted         boolean not null default false,
    -- A late (offline) check-in that landed in the slot before anyone was alerted about it.
    made_up_by      uuid references checkins (id) on delete set null,
    primary key (person_id, slot_starts_on)
);
-- The sweep's "in a row" step starts from misses nobody was alerted about yet.
create index missed_checkins_unalerted_idx on missed_checkins (person_id) where not alerted and made_up_by is null;
create index missed_checkins_made_up_idx on missed_checkins (made_up_by) where made_up_by is not null;

create table alerts (
    id               bigint generated always as identity primary key,
    person_id        uuid not null references people (id) on delete cascade,
    kind             text not null,
    severity         smallint not null check (severity between 1 and 4),  -- low, medium, high, critical
    status           text not null default 'open' check (status in ('open', 'acknowledged', 'resolved')),
    reasons          jsonb not null default '[]'::jsonb,
    details          jsonb not null default '{}'::jsonb,
    opened_at        timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    acknowledged_at  timestamptz,
    acknowledged_by  uuid,
    resolved_at      timestamptz,
    resolved_by      uuid,
    resolution_note  text
);
-- One open (or acknowledged) alert per person and kind: new reasons join it.
create unique index alerts_one_open_key on alerts (person_id, kind) where status <> 'resolved';
create index alerts_queue_idx on alerts (severity desc, opened_at) where status <> 'resolved';
create index alerts_person_idx on alerts (person_id, opened_at desc);

-- Everything that happens to an alert, timestamped and attributed.
create table alert_events (
    id          bigint generated always as identity primary key,
    alert_id    bigint not null references alerts (id) on delete cascade,
    at          timestamptz not null default now(),
    actor_id    uuid,                                -- null: the system
    kind        text not null check (kind in ('opened', 'reason', 'checkin', 'acknowledged', 'outreach', 'resolved')),
    checkin_id  uuid references checkins (id) on delete set null,
    channel     text check (channel in ('call', 'text', 'in_person', 'other')),
    reached     boolean,
    note        text check (length(note) <= 2000),
    details     jsonb not null default '{}'::jsonb
);
create index alert_events_alert_idx on alert_events (alert_id, id);
create index alert_events_checkin_idx on alert_events (checkin_id) where checkin_id is not null;
