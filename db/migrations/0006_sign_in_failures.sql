-- Wrong passwords counted per account AND client address (issue 15, finding 4). Counted per
-- account alone, anyone who knows a counselor's email could lock the counselor out from
-- anywhere: ten wrong passwords from the attacker's address now lock the account for that
-- address only. The account-wide count stays on `people` (failed_logins, locked_until) as a
-- much higher backstop against guessing spread over many addresses, within a window that
-- starts at its first counted failure.
create table sign_in_failures (
    person_id         uuid not null references people(id) on delete cascade,
    client_address    text not null,  -- as api/client_address.py derives it; 'unknown' if none
    failures          integer not null,
    window_started_at timestamptz not null,
    locked_until      timestamptz,
    -- When the row means nothing any more (its window and its lock are over): every
    -- counted failure prunes such rows, so an attacker with many addresses cannot grow the
    -- table past what one lock period of guessing leaves.
    forget_at         timestamptz not null,
    primary key (person_id, client_address)
);
create index sign_in_failures_forget_at on sign_in_failures (forget_at);

alter table people add column failed_logins_since timestamptz;
