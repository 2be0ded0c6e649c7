"""Activation codes, device sessions and rotating refresh tokens."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

import asyncpg


async def replace_activation_code(
    conn: asyncpg.Connection,
    *,
    person_id: UUID,
    selector: str,
    verifier_hash: str,
    expires_at: dt.datetime,
    created_by: UUID | None,
    purpose: str = "activation",
) -> None:
    """Revoke the person's live codes and store a new one (one live code per person).
    `purpose`: 'activation' (a graduate's device) or 'setup' (a staff account's password).

    Raises UniqueViolationError when `selector` is taken by another live code; the caller
    draws a new one."""
    # Two reissues at once take turns on the person's row, so each sees the other's code.
    await conn.execute("select from people where id = $1 for update", person_id)
    await conn.execute(
        """
        update activation_codes set revoked_at = now()
        where person_id = $1 and used_at is null and revoked_at is null
        """,
        person_id,
    )
    await conn.execute(
        """
        insert into activation_codes (person_id, selector, verifier_hash, expires_at, created_by, purpose)
        values ($1, $2, $3, $4, $5, $6)
        """,
        person_id,
        selector,
        verifier_hash,
        expires_at,
        created_by,
        purpose,
    )


async def lock_code_by_selector(
    conn: asyncpg.Connection, selector: str, purpose: str = "activation"
) -> asyncpg.Record | None:
    """The newest code for `purpose` with this selector, live ones first, locked until the
    transaction ends so that two redemptions of one code take turns. A code of the other
    purpose is not found: a set-up code does not open a graduate's session, nor the reverse."""
    return await conn.fetchrow(
        """
        select c.id, c.person_id, c.verifier_hash, c.expires_at, c.used_at, c.revoked_at,
               c.failed_attempts, p.is_active
        from activation_codes c join people p on p.id = c.person_id
        where c.selector = $1 and c.purpose = $2
        order by (c.used_at is null and c.revoked_at is null) desc, c.id desc
        limit 1
        for update of c
        """,
        selector,
        purpose,
    )


async def lock_code(conn: asyncpg.Connection, code_id: int) -> asyncpg.Record | None:
    """The code as it is now (after what other redemptions did meanwhile), locked until the
    transaction ends; None once its graduate is deleted."""
    return await conn.fetchrow(
        """
        select c.id, c.person_id, c.verifier_hash, c.expires_at, c.used_at, c.revoked_at,
               c.failed_attempts, p.is_active, p.roles
        from activation_codes c join people p on p.id = c.person_id
        where c.id = $1
        for update of c
        """,
        code_id,
    )


async def count_failed_code_attempt(conn: asyncpg.Connection, code_id: int) -> int:
    attempts: int = await conn.fetchval(
        "update activation_codes set failed_attempts = failed_attempts + 1 where id = $1 returning failed_attempts",
        code_id,
    )
    return attempts


async def uncount_code_attempt(conn: asyncpg.Connection, code_id: int) -> int:
    """Take back an attempt counted before its check, when the check found the code right."""
    attempts: int = await conn.fetchval(
        "update activation_codes set failed_attempts = failed_attempts - 1 where id = $1 returning failed_attempts",
        code_id,
    )
    return attempts


async def redeem_code(conn: asyncpg.Connection, code_id: int, person_id: UUID, now: dt.datetime) -> bool:
    """Mark the code used at `now`, the first one also activating the graduate (slots count
    from then, against the app's clock); False if it was used meanwhile (the caller holds
    the row lock from lock_code_by_selector, so this is a second line of defence)."""
    redeemed = await conn.fetchval(
        "update activation_codes set used_at = $2 where id = $1 and used_at is null returning id", code_id, now
    )
    if redeemed is None:
        return False
    await conn.execute(
        "update participant_profiles set activated_at = coalesce(activated_at, $2) where person_id = $1",
        person_id,
        now,
    )
    return True


async def create_session(
    conn: asyncpg.Connection,
    *,
    person_id: UUID,
    method: str,
    refresh_hash: bytes,
    refresh_expires_at: dt.datetime,
    now: dt.datetime,
) -> UUID:
    """The refresh token is issued at `now`, the app's clock: the idle limit of password
    sessions counts from it (api/auth/routes.py)."""
    session_id: UUID = await conn.fetchval(
        """
        with session as (
            insert into auth_sessions (person_id, method) values ($1, $2) returning id
        )
        insert into refresh_tokens (session_id, token_hash, expires_at, created_at)
        select id, $3, $4, $5 from session
        returning session_id
        """,
        person_id,
        method,
        refresh_hash,
        refresh_expires_at,
        now,
    )
    return session_id


async def lock_refresh_token(conn: asyncpg.Connection, token_hash: bytes) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """
        select rt.id, rt.session_id, rt.used_at, rt.expires_at, rt.created_at,
               s.person_id, s.method, s.revoked_at, p.is_active, p.roles
        from refresh_tokens rt
        join auth_sessions s on s.id = rt.session_id
        join people p on p.id = s.person_id
        where rt.token_hash = $1
        for update of rt
        """,
        token_hash,
    )


async def rotate_refresh_token(
    conn: asyncpg.Connection,
    *,
    token_id: int,
    session_id: UUID,
    new_hash: bytes,
    expires_at: dt.datetime,
    now: dt.datetime,
) -> None:
    """Mark the token used at `now` and store its successor, issued at `now` (the app's
    clock: the reuse grace and the idle limit count from them)."""
    await conn.execute("update refresh_tokens set used_at = $2 where id = $1", token_id, now)
    await conn.execute(
        "insert into refresh_tokens (session_id, token_hash, expires_at, created_at) values ($1, $2, $3, $4)",
        session_id,
        new_hash,
        expires_at,
        now,
    )
    await conn.execute("update auth_sessions set last_used_at = now() where id = $1", session_id)


async def successor_is_unused(conn: asyncpg.Connection, session_id: UUID, successor_hash: bytes) -> bool:
    """Whether the session's token with this hash exists and has not been used yet."""
    unused: bool = await conn.fetchval(
        "select exists (select from refresh_tokens where session_id = $1 and token_hash = $2 and used_at is null)",
        session_id,
        successor_hash,
    )
    return unused


async def revoke_session(conn: asyncpg.Connection, session_id: UUID, reason: str) -> None:
    await conn.execute(
        "update auth_sessions set revoked_at = now(), revoked_reason = $2 where id = $1 and revoked_at is null",
        session_id,
        reason,
    )


async def revoke_session_of_token(conn: asyncpg.Connection, token_hash: bytes, reason: str) -> UUID | None:
    """Whose session ended; None when the token was unknown or its session over already."""
    person_id: UUID | None = await conn.fetchval(
        """
        update auth_sessions set revoked_at = now(), revoked_reason = $2
        where id = (select session_id from refresh_tokens where token_hash = $1)
          and revoked_at is null
        returning person_id
        """,
        token_hash,
        reason,
    )
    return person_id


async def get_principal(conn: asyncpg.Connection, person_id: UUID, session_id: UUID) -> asyncpg.Record | None:
    """The signed-in person, or None once they are deactivated or the session is revoked:
    checked on every request, so revocation takes effect at once."""
    return await conn.fetchrow(
        """
        select p.id, p.roles, p.timezone,
               exists (select from mfa_totp t where t.person_id = p.id and t.confirmed_at is not null) as mfa_on
        from auth_sessions s join people p on p.id = s.person_id
        where s.id = $2 and s.person_id = $1 and s.revoked_at is null and p.is_active
        """,
        person_id,
        session_id,
    )


async def list_sessions(conn: asyncpg.Connection, person_id: UUID) -> list[asyncpg.Record]:
    """The person's live device sessions, most recently used first."""
    return await conn.fetch(
        """
        select id, method, created_at, last_used_at from auth_sessions
        where person_id = $1 and revoked_at is null
        order by last_used_at desc, id
        """,
        person_id,
    )


async def revoke_own_session(conn: asyncpg.Connection, person_id: UUID, session_id: UUID) -> bool:
    """End one of the person's own sessions; False when it is not theirs or already ended."""
    ended = await conn.fetchval(
        """
        update auth_sessions set revoked_at = now(), revoked_reason = 'signed out by owner'
        where id = $2 and person_id = $1 and revoked_at is null
        returning id
        """,
        person_id,
        session_id,
    )
    return ended is not None


async def revoke_sessions(conn: asyncpg.Connection, person_id: UUID, reason: str, keep: UUID | None = None) -> int:
    """End every live session of the person but `keep` (the one asking, if any); how many."""
    ended = await conn.fetch(
        """
        update auth_sessions set revoked_at = now(), revoked_reason = $2
        where person_id = $1 and revoked_at is null and ($3::uuid is null or id <> $3)
        returning id
        """,
        person_id,
        reason,
        keep,
    )
    return len(ended)
