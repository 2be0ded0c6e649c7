"""Two-factor sign-in: TOTP enrolment, recovery codes and sign-in challenges."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

import asyncpg


async def lock_person(conn: asyncpg.Connection, person_id: UUID) -> None:
    """Take the person's row first, as a sign-in's second step does (person, challenge, TOTP
    row): an enrolment or removal at the same moment then waits instead of deadlocking."""
    await conn.execute("select from people where id = $1 for update", person_id)


async def start_totp(conn: asyncpg.Connection, person_id: UUID, secret_encrypted: bytes) -> bool:
    """Store a new secret awaiting its first code (replacing one that was never confirmed);
    False when two-factor is already on."""
    return (
        await conn.fetchval(
            """
            insert into mfa_totp (person_id, secret_encrypted) values ($1, $2)
            on conflict (person_id) do update
            set secret_encrypted = excluded.secret_encrypted, started_at = now(), last_used_step = null
            where mfa_totp.confirmed_at is null
            returning true
            """,
            person_id,
            secret_encrypted,
        )
        is not None
    )


async def lock_totp(conn: asyncpg.Connection, person_id: UUID) -> asyncpg.Record | None:
    """The person's TOTP row, locked until the transaction ends, so that two codes checked
    at once take turns and the second sees the step the first used."""
    return await conn.fetchrow(
        "select secret_encrypted, confirmed_at, last_used_step from mfa_totp where person_id = $1 for update",
        person_id,
    )


async def use_step(conn: asyncpg.Connection, person_id: UUID, step: int) -> bool:
    """Record `step` as used; False when it or a newer step was used already (a replay)."""
    return (
        await conn.fetchval(
            """
            update mfa_totp set last_used_step = $2
            where person_id = $1 and (last_used_step is null or last_used_step < $2)
            returning true
            """,
            person_id,
            step,
        )
        is not None
    )


async def confirm_totp(conn: asyncpg.Connection, person_id: UUID, recovery_hashes: list[bytes]) -> None:
    """Two-factor is on from now, with these recovery codes (any older ones are void)."""
    await conn.execute("update mfa_totp set confirmed_at = now() where person_id = $1", person_id)
    await conn.execute("delete from mfa_recovery_codes where person_id = $1", person_id)
    await conn.execute(
        "insert into mfa_recovery_codes (person_id, code_hash) select $1, unnest($2::bytea[])",
        person_id,
        recovery_hashes,
    )


async def remove(conn: asyncpg.Connection, person_id: UUID) -> bool:
    """Turn two-factor off (secret, recovery codes, open challenges); whether it was on."""
    was_on = await conn.fetchval(
        "delete from mfa_totp where person_id = $1 returning confirmed_at is not null", person_id
    )
    await conn.execute("delete from mfa_recovery_codes where person_id = $1", person_id)
    await conn.execute("delete from mfa_challenges where person_id = $1", person_id)
    return bool(was_on)


async def use_recovery_code(conn: asyncpg.Connection, person_id: UUID, code_hash: bytes) -> bool:
    """Spend a recovery code; False when it is unknown or spent already (status() says how
    many are left, for the one caller that shows it)."""
    used = await conn.fetchval(
        """
        update mfa_recovery_codes set used_at = now()
        where person_id = $1 and code_hash = $2 and used_at is null
        returning true
        """,
        person_id,
        code_hash,
    )
    return used is not None


async def status(conn: asyncpg.Connection, person_id: UUID) -> asyncpg.Record:
    """Whether two-factor is on (since when), and how many recovery codes are left."""
    row = await conn.fetchrow(
        """
        select (select confirmed_at from mfa_totp where person_id = $1) as enabled_at,
               (select count(*) from mfa_recovery_codes where person_id = $1 and used_at is null)
                   as recovery_codes_left
        """,
        person_id,
    )
    assert row is not None  # a select without `from`: always one row
    return row


async def is_on(conn: asyncpg.Connection, person_id: UUID) -> bool:
    on: bool = await conn.fetchval(
        "select exists (select from mfa_totp where person_id = $1 and confirmed_at is not null)", person_id
    )
    return on


async def create_challenge(
    conn: asyncpg.Connection,
    *,
    person_id: UUID,
    token_hash: bytes,
    client_address: str,
    password_hash: str,
    new_password_hash: str | None,
    expires_at: dt.datetime,
) -> None:
    await conn.execute(
        """
        insert into mfa_challenges
            (person_id, token_hash, client_address, password_hash, new_password_hash, expires_at)
        values ($1, $2, $3, $4, $5, $6)
        """,
        person_id,
        token_hash,
        client_address,
        password_hash,
        new_password_hash,
        expires_at,
    )


async def find_challenge(conn: asyncpg.Connection, token_hash: bytes) -> asyncpg.Record | None:
    """Whose challenge this is (unlocked: the caller locks the person first, then the
    challenge, in the order every account change takes)."""
    return await conn.fetchrow(
        "select id, person_id, client_address from mfa_challenges where token_hash = $1", token_hash
    )


async def lock_challenge(conn: asyncpg.Connection, challenge_id: int) -> asyncpg.Record | None:
    """The challenge as it is now, locked, with its person's current password hash and roles."""
    return await conn.fetchrow(
        """
        select c.id, c.person_id, c.client_address, c.password_hash, c.new_password_hash,
               c.failed_attempts, c.expires_at, c.used_at,
               p.password_hash as current_password_hash, p.roles, p.is_active
        from mfa_challenges c join people p on p.id = c.person_id
        where c.id = $1
        for update of c
        """,
        challenge_id,
    )


async def count_challenge_failure(conn: asyncpg.Connection, challenge_id: int, max_failures: int) -> bool:
    """Count a wrong code against the challenge; True when that used up its tries (it is void)."""
    void: bool = await conn.fetchval(
        """
        update mfa_challenges
        set failed_attempts = failed_attempts + 1,
            used_at = case when failed_attempts + 1 >= $2 then now() end
        where id = $1
        returning used_at is not null
        """,
        challenge_id,
        max_failures,
    )
    return void


async def use_challenge(conn: asyncpg.Connection, challenge_id: int) -> None:
    await conn.execute("update mfa_challenges set used_at = now() where id = $1", challenge_id)


async def forget_old_challenges(conn: asyncpg.Connection) -> None:
    """Delete challenges that ran out: each sign-in with two-factor prunes them, in a
    statement of its own (as forget_old_sign_in_failures, for the same reason)."""
    await conn.execute(
        """
        delete from mfa_challenges c
        using (select id from mfa_challenges where expires_at <= now() for update skip locked) gone
        where c.id = gone.id
        """
    )
