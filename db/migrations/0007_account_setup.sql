-- Set-up codes for staff, admin and facilitator accounts (issue 16): an admin no longer
-- chooses a colleague's password; the account gets a one-time code instead, and its owner
-- chooses the password. Set-up codes are activation codes with another purpose: the same
-- selector + argon2-hashed verifier, the same single use, expiry and lock after wrong tries,
-- so they share the table and its machinery. A code only redeems for its own purpose.
alter table activation_codes
    add column purpose text not null default 'activation'
        check (purpose in ('activation', 'setup'));
