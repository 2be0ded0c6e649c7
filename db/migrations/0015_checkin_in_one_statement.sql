-- A check-in in one statement (issue 21). A check-in is the app's busiest write: stored
-- with everything that follows from it (the make-up of a recorded miss, its risk reasons,
-- alerts and their timelines, the crisis inbox item) in one call, one round trip, instead
-- of a transaction of five to eight statements. The rules it runs here have twins a test
-- holds them to: the slot (checkin_slot, api/checkins/plan.py) and the risk rules
-- (checkin_risk_reasons, api/checkins/risk.py).

-- The risk rules of api/checkins/risk.py `assess`, for a check-in given the person's
-- earlier cravings (newest first) and the mood of the check-in just before it. Reasons in
-- the order `assess` gives them, as they are stored on the check-in.
create function checkin_risk_reasons(
    mood int, craving int, used boolean, need_support text, phq2 smallint[], gad2 smallint[],
    earlier_cravings int[], previous_mood int
) returns jsonb language sql immutable as $$
    with usual as (
        select percentile_cont(0.5) within group (order by c) as median, count(*) as known
        from unnest(earlier_cravings[1:14]) c
    ), reasons (n, code, kind, severity, message) as (
        select 1, 'crisis_now', 'crisis', 'critical', 'Asked for help now (in crisis).' where need_support = 'crisis_now'
        union all
        select 1, 'talk_soon', 'talk_soon', 'high', 'Asked to talk soon.' where need_support = 'talk_soon'
        union all
        select 2, 'reported_use', 'reported_use', 'high', 'Reported use since the last check-in.' where used
        union all
        select 3, 'craving_high', 'craving', 'medium', format('Craving %s of 10.', craving) where craving >= 8
        union all
        -- float8's text is Python's `{:g}` here: 2 as "2", 2.5 as "2.5".
        select 3, 'craving_above_usual', 'craving', 'medium', format('Craving %s, usually about %s.', craving, median)
        from usual where craving < 8 and known >= 5 and craving >= median + 3
        union all
        select 4, 'low_mood_twice', 'low_mood', 'medium', 'Mood 2 or lower two check-ins running.'
        where mood <= 2 and previous_mood <= 2
        union all
        select 5, 'phq2_positive', 'screen', 'medium', format('PHQ-2 total %s (3 or more).', phq2[1] + phq2[2])
        where phq2[1] + phq2[2] >= 3
        union all
        select 6, 'gad2_positive', 'screen', 'medium', format('GAD-2 total %s (3 or more).', gad2[1] + gad2[2])
        where gad2[1] + gad2[2] >= 3
    )
    select coalesce(jsonb_agg(jsonb_build_object('code', code, 'kind', kind, 'severity', severity, 'message', message)
                              order by n), '[]')
    from reasons
$$;

-- Open an alert of this kind, or add the reason to the one already open (its severity rises
-- to the highest seen, and an acknowledged alert opens again on worse, high or critical
-- news); record either on the timeline. The one place alerts are raised (db/alerts.py
-- `raise_alert` calls it too). `at`: when, if not now (the demo's history is dated back).
create function alert_raise(
    p_person uuid, p_kind text, p_severity int, p_reason jsonb, p_checkin uuid, p_at timestamptz
) returns bigint language plpgsql as $$
declare
    v_id bigint;
    v_opened boolean;
begin
    insert into alerts (person_id, kind, severity, reasons, opened_at, updated_at)
    values (p_person, p_kind, p_severity, jsonb_build_array(p_reason), coalesce(p_at, now()), coalesce(p_at, now()))
    on conflict (person_id, kind) where status <> 'resolved' do update
        set severity = greatest(alerts.severity, excluded.severity),
            reasons = alerts.reasons || excluded.reasons,
            updated_at = excluded.updated_at,
            -- Worse news, or high or critical news, needs eyes again: back to open.
            status = case when (excluded.severity > alerts.severity or excluded.severity >= 3) then 'open' else alerts.status end,
            acknowledged_at = case when (excluded.severity > alerts.severity or excluded.severity >= 3) then null else alerts.acknowledged_at end,
            acknowledged_by = case when (excluded.severity > alerts.severity or excluded.severity >= 3) then null else alerts.acknowledged_by end
    returning id, (xmax = 0) into v_id, v_opened;
    insert into alert_events (alert_id, kind, checkin_id, details, at)
    values (v_id, case when v_opened then 'opened' else 'reason' end, p_checkin, p_reason, coalesce(p_at, now()));
    return v_id;
end;
$$;

-- A check-in shows on every alert of the person still open (unless it opened it). PL/pgSQL,
-- not SQL, here and above: it keeps its statements' plans for the session, where a SQL
-- function called from another function is planned again at every call (0.2 ms).
create function alert_note_checkin(p_person uuid, p_checkin uuid, p_at timestamptz) returns void language plpgsql as $$
begin
    insert into alert_events (alert_id, kind, checkin_id, at)
    select a.id, 'checkin', p_checkin, coalesce(p_at, now()) from alerts a
    where a.person_id = p_person and a.status <> 'resolved'
      and not exists (select from alert_events e where e.alert_id = a.id and e.checkin_id = p_checkin);
end;
$$;

-- Store a check-in and act on it (api/checkins/service.py `submit` says what it means).
-- One row back: `created`, and the check-in (the first copy, for a repeat of a client id);
-- no row when the person is not a graduate. `crisis_notice`: the inbox item a crisis
-- check-in writes (kind, title, body, push_title, push_body, data, and not_before: the app's
-- clock, which the dispatcher goes by), rendered by the caller (notifications/templates.py
-- owns the words), null for any other check-in.
create function checkin_submit(
    p_person uuid, p_client_id uuid, p_client_time timestamptz, p_mood int, p_craving int,
    p_used boolean, p_sleep int, p_need_support text, p_note text, p_phq2 smallint[], p_gad2 smallint[],
    p_crisis_notice jsonb
) returns table (
    created boolean, id uuid, client_id uuid, client_time timestamptz, received_at timestamptz, local_date date,
    mood smallint, craving smallint, used boolean, sleep smallint, need_support text, note text,
    phq2 smallint[], gad2 smallint[], risk_reasons jsonb
) language plpgsql as $$
#variable_conflict use_column
declare
    ctx record;
    v_local date;
    v_slot date;
    v_cravings int[];
    v_previous_mood int;
    v_reasons jsonb;
    v_reason jsonb;
    v_row checkins;
begin
    -- The graduate's engagement row is locked first, as every writer of it does first
    -- (db/engagement.py `hold`): a sweep visiting them at this moment either sees this
    -- check-in or has finished (and a miss it recorded is made up below). `open_alerts` is
    -- null while the row waits to be worked out.
    select coalesce(k.name, 'UTC') as zone, pp.iop_completed_on, o.cadence as o_cadence, o.starts_on as o_from,
           o.ends_on as o_until,
           (select case when e.fresh_until > '-infinity' then e.open_alerts end from engagement e
            where e.person_id = p.id for update) as open_alerts
    into ctx
    from people p
    join participant_profiles pp on pp.person_id = p.id
    left join checkin_plans o on o.person_id = p.id
    -- A zone this server cannot read counts as UTC: their check-in is still stored.
    left join known_time_zones k on k.name = p.timezone
    where p.id = p_person;
    if not found then
        return;
    end if;

    v_local := (p_client_time at time zone ctx.zone)::date;
    -- A late check-in fills its slot if the slot was recorded as missed but nobody was
    -- alerted about it yet; after an alert, the miss stands and the check-in shows on it.
    select s.starts_on into v_slot from checkin_slot(v_local, ctx.iop_completed_on, ctx.o_cadence, ctx.o_from, ctx.o_until) s;

    -- The risk rules look at the check-ins before this one (by when they were made).
    select array_agg(e.craving order by e.client_time desc), (array_agg(e.mood order by e.client_time desc))[1]
    into v_cravings, v_previous_mood
    from (select c.craving, c.mood, c.client_time from checkins c
          where c.person_id = p_person and c.client_time < p_client_time
          order by c.client_time desc limit 14) e;
    v_reasons := checkin_risk_reasons(p_mood, p_craving, p_used, p_need_support, p_phq2, p_gad2,
                                      coalesce(v_cravings, '{}'), v_previous_mood);

    -- A repeat of a client id stores nothing (also when the other copy is being stored at
    -- this very moment: the insert waits for it) and answers with the first copy.
    insert into checkins (person_id, client_id, client_time, local_date, mood, craving, used, sleep, need_support,
                          note, phq2, gad2, risk_reasons)
    values (p_person, p_client_id, p_client_time, v_local, p_mood, p_craving, p_used, p_sleep, p_need_support,
            p_note, p_phq2, p_gad2, v_reasons)
    on conflict (person_id, client_id) do nothing
    returning * into v_row;
    if not found then
        return query select false, c.id, c.client_id, c.client_time, c.received_at, c.local_date, c.mood, c.craving,
                            c.used, c.sleep, c.need_support, c.note, c.phq2, c.gad2, c.risk_reasons
                     from checkins c where c.person_id = p_person and c.client_id = p_client_id;
        return;
    end if;

    if v_slot is not null then
        update missed_checkins m set made_up_by = v_row.id
        where m.person_id = p_person and m.slot_starts_on = v_slot and not m.alerted and m.made_up_by is null;
    end if;
    for v_reason in select r from jsonb_array_elements(v_reasons) r loop
        perform alert_raise(p_person, v_reason->>'kind',
                            case v_reason->>'severity' when 'low' then 1 when 'medium' then 2 when 'high' then 3 else 4 end,
                            v_reason || jsonb_build_object('checkin_id', v_row.id::text), v_row.id, null);
    end loop;
    -- Most graduates have no alert open: nothing to look up then.
    if jsonb_array_length(v_reasons) > 0 or ctx.open_alerts is distinct from 0 then
        perform alert_note_checkin(p_person, v_row.id, null);
    end if;
    if p_crisis_notice is not null then
        -- The answer carries the crisis resources at once; the inbox keeps them, on every device.
        insert into notifications (person_id, kind, dedup_key, title, body, push_title, push_body, data, urgent,
                                   not_before)
        select p.id, p_crisis_notice->>'kind', 'crisis:' || v_row.id, p_crisis_notice->>'title',
               p_crisis_notice->>'body', p_crisis_notice->>'push_title', p_crisis_notice->>'push_body',
               p_crisis_notice->'data', true, (p_crisis_notice->>'not_before')::timestamptz
        from people p where p.id = p_person and p.is_active
        on conflict (person_id, dedup_key) do nothing;
    end if;
    return query select true, v_row.id, v_row.client_id, v_row.client_time, v_row.received_at, v_row.local_date,
                        v_row.mood, v_row.craving, v_row.used, v_row.sleep, v_row.need_support, v_row.note,
                        v_row.phq2, v_row.gad2, v_row.risk_reasons;
end;
$$;
