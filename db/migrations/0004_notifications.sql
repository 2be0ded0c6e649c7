-- Push notifications: devices, preferences, and the notifications themselves, each row both
-- the in-app inbox entry (the record) and the outbox entry a worker pushes (best effort).

-- An FCM registration token belongs to one device session: signing out removes it, and a
-- token that shows up for another person moves to them (a phone changed hands).
create table devices (
    id            bigint generated always as identity primary key,
    person_id     uuid not null references people (id) on delete cascade,
    session_id    uuid references auth_sessions (id) on delete cascade,
    token         text not null unique check (length(token) between 1 and 4096),
    platform      text not null check (platform in ('ios', 'android')),
    app_version   text check (length(app_version) <= 40),
    created_at    timestamptz not null default now(),
    refreshed_at  timestamptz not null default now()
);
create index devices_person_idx on devices (person_id);
create index devices_session_idx on devices (session_id);

-- Whatever ends a session (logout, a reused refresh token, deactivation, signing a device
-- out) ends its pushes too: one place, so no path can forget it.
create function auth_sessions_drop_devices() returns trigger language plpgsql as $$
begin
    delete from devices where session_id = new.id;
    return null;
end;
$$;
create trigger auth_sessions_drop_devices
    after update of revoked_at on auth_sessions
    for each row when (old.revoked_at is null and new.revoked_at is not null)
    execute function auth_sessions_drop_devices();

-- No row: every kind on, quiet hours 22:00-08:00 in the person's own time zone.
create table notification_preferences (
    person_id       uuid primary key references people (id) on delete cascade,
    disabled_kinds  text[] not null default '{}',
    quiet_start     time,      -- both null: no quiet hours
    quiet_end       time,
    updated_at      timestamptz not null default now(),
    check ((quiet_start is null) = (quiet_end is null)),
    check (quiet_start is null or quiet_start <> quiet_end)
);

create table notifications (
    id                 bigint generated always as identity primary key,
    person_id          uuid not null references people (id) on delete cascade,
    kind               text not null check (kind in (
                           'checkin_reminder', 'missed_checkin', 'session_reminder', 'session_changed',
                           'waitlist_seat', 'announcement', 'staff_message', 'crisis_support')),
    -- Whoever creates it (a job run twice, two workers), a reminder for one slot or session
    -- exists once per person.
    dedup_key          text,
    -- The inbox: the full text, read in the app.
    title              text not null check (length(title) between 1 and 200),
    body               text not null check (length(body) between 1 and 4000),
    -- The lock screen: discreet text only (notifications/templates.py).
    push_title         text not null,
    push_body          text not null,
    data               jsonb not null default '{}'::jsonb,   -- ids and kind, nothing else
    urgent             boolean not null default false,       -- pushed through quiet hours
    created_at         timestamptz not null default now(),
    read_at            timestamptz,
    -- The outbox. pending -> sending (claimed, until lease_until) -> sent | failed |
    -- opted_out | no_device | expired; a transient failure goes back to pending, later.
    push_state         text not null default 'pending' check (push_state in (
                           'pending', 'sending', 'sent', 'failed', 'opted_out', 'no_device', 'expired')),
    not_before         timestamptz not null default now(),
    expires_at         timestamptz,                          -- a reminder is worthless after its slot
    attempts           integer not null default 0,
    claim_id           uuid,                                 -- which claim may finish it
    lease_until        timestamptz,
    delivered_devices  bigint[] not null default '{}',       -- a retry skips these
    sent_at            timestamptz,
    last_error         text,
    unique (person_id, dedup_key)
);
create index notifications_inbox_idx on notifications (person_id, id desc);
create index notifications_unread_idx on notifications (person_id) where read_at is null;
-- What the dispatcher claims: due pending rows, and claims whose worker died.
create index notifications_due_idx on notifications (not_before) where push_state = 'pending';
create index notifications_lease_idx on notifications (lease_until) where push_state = 'sending';

-- Wake idle workers at once when there is something to send (delivered on commit; an
-- insert that wrote nothing, such as a reminder job run twice, wakes nobody).
create function notifications_wake_workers() returns trigger language plpgsql as $$
begin
    if exists (select from inserted) then
        perform pg_notify('aftercare_outbox', '');
    end if;
    return null;
end;
$$;
create trigger notifications_wake_workers
    after insert on notifications
    referencing new table as inserted
    for each statement execute function notifications_wake_workers();

-- Every push attempt, per device: outcome and error code, never the text.
create table notification_deliveries (
    id               bigint generated always as identity primary key,
    notification_id  bigint not null references notifications (id) on delete cascade,
    device_id        bigint not null,     -- no foreign key: dead tokens are deleted, the log stays
    attempt          integer not null,
    at               timestamptz not null default now(),
    outcome          text not null check (outcome in ('sent', 'retry', 'dead_token', 'failed', 'logged')),
    error_code       text,
    message_id       text
);
create index notification_deliveries_notification_idx on notification_deliveries (notification_id);
