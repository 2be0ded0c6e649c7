-- The watch protects itself (README, "Architecture"): the time zones this database can
-- compute with, the health of each background job and whom it skipped, and what is kept of a
-- deleted graduate whose alerts were still open.

-- A zone that is a place, not one of the tz database's pseudo-zones: `localtime` and
-- `posixrules` stand for the server's own settings, `Factory` for "no zone", and the
-- posix/ and right/ trees repeat the real names with other leap-second rules.
create function is_place_zone(name text) returns boolean language sql immutable as $$
    select name not in ('localtime', 'posixrules', 'Factory') and name !~ '^(posix|right)/'
$$;

-- The zones this PostgreSQL knows. Reading pg_timezone_names takes 35-300 ms, too slow for
-- every statement, so the names are kept here. Statements over everyone turn a person's zone
-- into local time only through this table (`left join known_time_zones`): a zone it lacks
-- gives null dates for that one person instead of an error for all. Refreshed by
-- refresh_known_time_zones(): here, when a worker starts, and after a job fails on a zone.
create table known_time_zones (name text primary key);

create function refresh_known_time_zones() returns integer language sql as $$
    with known as (
        select name from pg_timezone_names where is_place_zone(name)
    ), gone as (
        delete from known_time_zones k where not exists (select from known where known.name = k.name) returning 1
    ), added as (
        insert into known_time_zones (name) select name from known on conflict do nothing returning 1
    )
    select ((select count(*) from gone) + (select count(*) from added))::int
$$;
select refresh_known_time_zones();

-- A zone is stored only if it is a place this server knows, spelled as it lists it (`at time
-- zone` alone would also take `america/chicago` or a POSIX rule like `UTC+5`, which no
-- statement over everyone could then use). The API checks first (a 400 naming the field);
-- this stops what is written any other way. A name missing from known_time_zones is looked
-- up in pg_timezone_names (slow, but only then: a server upgraded since the last refresh).
-- Only a change is checked: a row whose stored zone went bad can still have its other
-- columns, or its zone, put right.
create function check_time_zone() returns trigger language plpgsql as $$
begin
    if not exists (select from known_time_zones where name = new.timezone) then
        if not is_place_zone(new.timezone)
           or not exists (select from pg_timezone_names where name = new.timezone) then
            raise exception 'time zone "%" is not a place this server knows', new.timezone using errcode = '22023';
        end if;
        insert into known_time_zones (name) values (new.timezone) on conflict do nothing;
    end if;
    return new;
end;
$$;
create trigger people_time_zone before insert on people
    for each row execute function check_time_zone();
create trigger people_time_zone_change before update of timezone on people
    for each row when (old.timezone is distinct from new.timezone) execute function check_time_zone();
create trigger groups_time_zone before insert on groups
    for each row execute function check_time_zone();
create trigger groups_time_zone_change before update of timezone on groups
    for each row when (old.timezone is distinct from new.timezone) execute function check_time_zone();

-- The jobs list the zones in use with a skip scan over this index (a few hundred probes,
-- however many people): finding whom they must skip costs next to nothing.
create index people_timezone_idx on people (timezone);

-- Each background job's last outcome, shared by every worker (GET /v1/staff/system-status).
create table job_runs (
    job               text primary key,
    last_started_at   timestamptz,
    last_success_at   timestamptz,
    last_failure_at   timestamptz,
    last_error        text,                 -- the error's type, never its message
    last_duration_ms  integer,
    runs              bigint not null default 0,
    failures          bigint not null default 0
);

-- Whom a job left out, and why (once per job and subject, however often it runs): a graduate
-- or a group whose time zone cannot be computed with. Gone when the subject is.
create table job_skips (
    job        text not null,
    person_id  uuid references people (id) on delete cascade,
    group_id   uuid references groups (id) on delete cascade,
    reason     text not null,
    since      timestamptz not null,
    check ((person_id is null) <> (group_id is null)),
    unique nulls not distinct (job, person_id, group_id)
);
create index job_skips_person_idx on job_skips (person_id) where person_id is not null;
create index job_skips_group_idx on job_skips (group_id) where group_id is not null;

-- A deleted graduate whose alerts were open: the clinic's duty of care outlives the
-- account, the data does not. Only the alias, the counselor, when, and the open alerts'
-- kinds and severities; listed on the watchlist until a staff member acknowledges it, then
-- purged 30 days later. The id is the one the account had (no foreign key: it is gone).
create table deleted_participants (
    person_id        uuid primary key,
    alias            text not null,
    counselor_id     uuid references people (id) on delete set null,
    deleted_at       timestamptz not null,
    alerts           jsonb not null,        -- [{"kind": ..., "severity": 1-4}], most severe first
    top_severity     smallint not null check (top_severity between 1 and 4),
    acknowledged_at  timestamptz,
    acknowledged_by  uuid
);
create index deleted_participants_open_idx on deleted_participants (top_severity desc, deleted_at)
    where acknowledged_at is null;
create index deleted_participants_purge_idx on deleted_participants (acknowledged_at)
    where acknowledged_at is not null;

-- Crisis support is always pushed: an opt-out written before this rule is void.
update notification_preferences set disabled_kinds = array_remove(disabled_kinds, 'crisis_support')
where 'crisis_support' = any(disabled_kinds);
