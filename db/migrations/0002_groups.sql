-- Peer support groups: listing, schedule, facilitators, membership and waitlist, the dated
-- sessions something refers to, RSVPs, attendance, announcements and calendar feeds.

create table groups (
    id                uuid primary key default gen_random_uuid(),
    -- Stable public identifier for the Meeting Guide feed (and imports from it).
    slug              text not null unique check (slug ~ '^[A-Za-z0-9][A-Za-z0-9_-]*$'),
    name              text not null check (length(name) between 1 and 120),
    description       text not null default '' check (length(description) <= 4000),
    topics            text[] not null default '{}',
    format            text not null check (format in ('in_person', 'online', 'hybrid')),
    timezone          text not null,
    address           text,
    latitude          double precision check (latitude between -90 and 90),
    longitude         double precision check (longitude between -180 and 180),
    conference_url    text,
    conference_phone  text,
    capacity          integer check (capacity > 0),          -- null: no limit
    member_count      integer not null default 0 check (member_count >= 0),
    is_public         boolean not null default false,         -- in the Meeting Guide feed
    -- 'staff' made it here; 'import' came from a Meeting Guide feed (re-imports update only these).
    source            text not null default 'staff' check (source in ('staff', 'import')),
    archived_at       timestamptz,
    search            tsvector generated always as
                          (to_tsvector('english', name || ' ' || description)) stored,
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now(),
    check ((latitude is null) = (longitude is null))
);
-- The listing never shows archived groups: every index it uses skips them.
create index groups_listing_name_idx on groups (name, id) where archived_at is null;
create index groups_listing_search_idx on groups using gin (search) where archived_at is null;
create index groups_listing_topics_idx on groups using gin (topics) where archived_at is null;
create index groups_listing_location_idx on groups (latitude, longitude) where archived_at is null;

-- Weekly schedule in the group's own time zone; weekday 1 = Monday ... 7 = Sunday (ISO).
-- `slot` is the slot's stable number within the group: session ids name it.
create table group_schedule (
    group_id  uuid not null references groups (id) on delete cascade,
    slot      smallint not null check (slot >= 1),
    weekday   smallint not null check (weekday between 1 and 7),
    starts    time not null,
    ends      time not null check (ends > starts),
    primary key (group_id, slot),
    unique (group_id, weekday, starts)
);
create index group_schedule_weekday_idx on group_schedule (weekday, starts, group_id);

create table group_facilitators (
    group_id   uuid not null references groups (id) on delete cascade,
    person_id  uuid not null references people (id) on delete cascade,
    primary key (group_id, person_id)
);
create index group_facilitators_person_idx on group_facilitators (person_id);

create table group_members (
    group_id   uuid not null references groups (id) on delete cascade,
    person_id  uuid not null references people (id) on delete cascade,
    status     text not null check (status in ('member', 'waitlisted')),
    -- For the waitlist, the order of arrival; for members, when they joined.
    since      timestamptz not null default clock_timestamp(),
    primary key (group_id, person_id)
);
create index group_members_person_idx on group_members (person_id);
create index group_members_waitlist_idx on group_members (group_id, since, person_id) where status = 'waitlisted';

-- A session row exists only once something refers to it (an RSVP, attendance, a change);
-- until then a session is computed from the schedule. Its id is "<group id>.<local date>.<n>"
-- (slot number n), so the same session keeps its id whether or not it is stored.
create table group_sessions (
    id          text primary key,
    group_id    uuid not null references groups (id) on delete cascade,
    local_date  date not null,
    slot        smallint not null check (slot >= 1),
    starts_at   timestamptz not null,
    ends_at     timestamptz not null check (ends_at > starts_at),
    status      text not null default 'scheduled' check (status in ('scheduled', 'cancelled')),
    -- Moved by hand: schedule edits leave its times alone.
    moved       boolean not null default false,
    note        text check (length(note) <= 500),
    updated_at  timestamptz not null default now(),
    unique (group_id, local_date, slot)
);
create index group_sessions_group_time_idx on group_sessions (group_id, starts_at);

create table session_rsvps (
    session_id  text not null references group_sessions (id) on delete cascade,
    person_id   uuid not null references people (id) on delete cascade,
    status      text not null check (status in ('going', 'not_going')),
    updated_at  timestamptz not null default now(),
    primary key (session_id, person_id)
);
create index session_rsvps_person_idx on session_rsvps (person_id, session_id);

create table session_attendance (
    session_id  text not null references group_sessions (id) on delete cascade,
    person_id   uuid not null references people (id) on delete cascade,
    status      text not null check (status in ('present', 'absent', 'excused')),
    source      text not null check (source in ('facilitator', 'self')),
    marked_by   uuid,
    marked_at   timestamptz not null default now(),
    primary key (session_id, person_id)
);
create index session_attendance_person_idx on session_attendance (person_id);

-- Wrong self check-in codes per person and session: a few, then no more tries.
create table session_check_in_failures (
    session_id  text not null references group_sessions (id) on delete cascade,
    person_id   uuid not null references people (id) on delete cascade,
    failures    integer not null default 1,
    primary key (session_id, person_id)
);

create table group_announcements (
    id          bigint generated always as identity primary key,
    group_id    uuid not null references groups (id) on delete cascade,
    author_id   uuid,
    title       text not null check (length(title) between 1 and 120),
    body        text not null check (length(body) between 1 and 4000),
    created_at  timestamptz not null default now()
);
create index group_announcements_group_idx on group_announcements (group_id, id desc);

-- A graduate's secret calendar URL (for phones that subscribe without a bearer token).
create table calendar_feeds (
    person_id   uuid primary key references people (id) on delete cascade,
    token_hash  bytea not null unique,
    created_at  timestamptz not null default now()
);

-- member_count always equals the number of members, however rows come and go (including
-- deletes cascading from a deleted account), so the listing can filter on open seats.
create function group_members_count() returns trigger language plpgsql as $$
begin
    if tg_op in ('DELETE', 'UPDATE') and old.status = 'member' then
        update groups set member_count = member_count - 1 where id = old.group_id;
    end if;
    if tg_op in ('INSERT', 'UPDATE') and new.status = 'member' then
        update groups set member_count = member_count + 1 where id = new.group_id;
    end if;
    return null;
end;
$$;
create trigger group_members_count
    after insert or delete or update of status on group_members
    for each row execute function group_members_count();
