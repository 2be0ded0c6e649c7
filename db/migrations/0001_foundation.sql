-- Foundation: people and roles, participant profiles, activation codes, device sessions with
-- rotating refresh tokens, and the append-only audit log.

create table people (
    id              uuid primary key default gen_random_uuid(),
    -- A person may hold several roles: a graduate can later become a peer facilitator.
    roles           text[] not null
        check (cardinality(roles) > 0
               and roles <@ array['participant', 'facilitator', 'staff', 'admin']::text[]),
    -- Alias for a graduate (first name or nickname, never a required last name);
    -- display name for staff and facilitators.
    name            text not null check (length(name) between 1 and 100),
    timezone        text not null default 'UTC',
    -- Sign-in email for password accounts (staff, admin, facilitator). Graduates sign in
    -- with an activation code, so theirs stays null; their contact lives in the profile.
    email           text,
    password_hash   text,
    failed_logins   integer not null default 0,
    locked_until    timestamptz,
    is_active       boolean not null default true,
    deactivated_at  timestamptz,
    firebase_uid    text unique,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now()
);
create unique index people_email_key on people (lower(email)) where email is not null;

create table participant_profiles (
    person_id         uuid primary key references people (id) on delete cascade,
    contact_email     text,
    contact_phone     text,
    iop_completed_on  date not null,
    counselor_id      uuid references people (id) on delete set null,
    sobriety_date     date,
    activated_at      timestamptz,
    created_at        timestamptz not null default now()
);
-- Staff filter their caseload by counselor, newest first.
create index participant_profiles_counselor_idx
    on participant_profiles (counselor_id, created_at desc, person_id);
create index participant_profiles_created_idx on participant_profiles (created_at desc, person_id);

-- An activation code is "SSSS-VVVV-VV": a public selector (to find the row and count wrong
-- guesses against it) and a secret verifier, stored only as an argon2 hash.
create table activation_codes (
    id               bigint generated always as identity primary key,
    person_id        uuid not null references people (id) on delete cascade,
    selector         text not null,
    verifier_hash    text not null,
    expires_at       timestamptz not null,
    used_at          timestamptz,
    revoked_at       timestamptz,
    failed_attempts  integer not null default 0,
    created_by       uuid,
    created_at       timestamptz not null default now()
);
-- Only one live code may use a selector at a time.
create unique index activation_codes_live_selector_key
    on activation_codes (selector) where used_at is null and revoked_at is null;
-- ...and a person has at most one live code.
create unique index activation_codes_live_person_key
    on activation_codes (person_id) where used_at is null and revoked_at is null;
create index activation_codes_person_idx on activation_codes (person_id);

-- A device session is one refresh-token family: every rotation stays in the same session,
-- and reuse of a rotated token revokes the session (and so every token in it).
create table auth_sessions (
    id             uuid primary key default gen_random_uuid(),
    person_id      uuid not null references people (id) on delete cascade,
    method         text not null check (method in ('activation', 'password', 'firebase')),
    created_at     timestamptz not null default now(),
    last_used_at   timestamptz not null default now(),
    revoked_at     timestamptz,
    revoked_reason text
);
create index auth_sessions_person_idx on auth_sessions (person_id) where revoked_at is null;

create table refresh_tokens (
    id          bigint generated always as identity primary key,
    session_id  uuid not null references auth_sessions (id) on delete cascade,
    token_hash  bytea not null unique,   -- sha256 of a 256-bit random token
    expires_at  timestamptz not null,
    used_at     timestamptz,
    created_at  timestamptz not null default now()
);
create index refresh_tokens_session_idx on refresh_tokens (session_id);

-- Append-only record of every staff read and write of participant data. No foreign keys:
-- the trail outlives the accounts it mentions (ids only, never names or contact details).
create table audit_log (
    id              bigint generated always as identity primary key,
    at              timestamptz not null default now(),
    actor_id        uuid not null,
    actor_roles     text[] not null,
    action          text not null,
    participant_id  uuid,
    method          text not null,
    path            text not null,
    client_ip       text,
    details         jsonb not null default '{}'::jsonb
);
create index audit_log_participant_idx on audit_log (participant_id, id desc);
create index audit_log_actor_idx on audit_log (actor_id, id desc);
create index audit_log_at_idx on audit_log (at);

create function audit_log_is_append_only() returns trigger language plpgsql as $$
begin
    raise exception 'audit_log is append-only: % is not allowed', tg_op
        using errcode = 'insufficient_privilege';
end;
$$;
create trigger audit_log_no_update_delete
    before update or delete on audit_log
    for each row execute function audit_log_is_append_only();
create trigger audit_log_no_truncate
    before truncate on audit_log
    for each statement execute function audit_log_is_append_only();
