-- Two-factor sign-in with an authenticator app (TOTP, RFC 6238) for password accounts
-- (issue 16). One stolen password no longer opens every graduate's check-ins.
--
-- The TOTP secret must be readable to check a code, so it cannot be hashed: it is stored
-- encrypted (AES-GCM, with a key derived from AFTERCARE_SECRET_KEY; api/auth/totp.py), so a
-- copy of the database alone does not give it up. Recovery codes carry 80 random bits, so a
-- SHA-256 is enough to keep them (as for refresh tokens) and lets us look them up.
create table mfa_totp (
    person_id        uuid primary key references people(id) on delete cascade,
    secret_encrypted bytea not null,
    started_at       timestamptz not null default now(),
    -- Null while enrolment waits for its first code: until then sign-in does not ask for one.
    confirmed_at     timestamptz,
    -- The newest 30-second step whose code was accepted: a code is good once, and never
    -- after a newer one (a code read over a shoulder cannot be replayed within its step).
    last_used_step   bigint
);

create table mfa_recovery_codes (
    person_id uuid not null references people(id) on delete cascade,
    code_hash bytea not null,
    used_at   timestamptz,
    primary key (person_id, code_hash)
);

-- The step between a right password and a right second factor. The challenge given to the
-- client is 256 random bits; only its SHA-256 is kept. It is good for one sign-in, for a
-- few minutes, and for a few wrong codes; wrong codes also count toward the account's
-- sign-in lock from the address that gave the password (sign_in_failures).
create table mfa_challenges (
    id              bigint generated always as identity primary key,
    person_id       uuid not null references people(id) on delete cascade,
    token_hash      bytea not null unique,
    client_address  text not null,
    -- The password hash the challenge was earned with: a password changed or reset
    -- meanwhile voids it.
    password_hash   text not null,
    -- The same password rehashed at a stronger cost, stored once the sign-in completes.
    new_password_hash text,
    failed_attempts integer not null default 0,
    created_at      timestamptz not null default now(),
    expires_at      timestamptz not null,
    used_at         timestamptz
);
create index mfa_challenges_expires_at on mfa_challenges (expires_at);
create index mfa_challenges_person on mfa_challenges (person_id);
