"""People, their roles, participant profiles and password accounts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, cast
from uuid import UUID

import asyncpg

# pending: enrolled, code not yet redeemed; active: signed in at least once; deactivated.
_STATUS = """case when not p.is_active then 'deactivated'
              when pp.activated_at is null then 'pending'
              else 'active' end"""
PARTICIPANT_COLUMNS = f"""
    p.id, p.name as alias, p.timezone, p.is_active, p.roles, p.created_at, p.deactivated_at,
    pp.contact_email as email, pp.contact_phone as phone, pp.iop_completed_on,
    pp.counselor_id, pp.sobriety_date, pp.activated_at, {_STATUS} as status
"""
_PARTICIPANTS = f"""
select {PARTICIPANT_COLUMNS}
from people p join participant_profiles pp on pp.person_id = p.id
"""

ACCOUNT_COLUMNS = """
    id, email, name, roles, timezone, is_active, locked_until, created_at, deactivated_at,
    exists (select from mfa_totp t where t.person_id = people.id and t.confirmed_at is not null) as mfa_enabled
"""


async def insert_participant(
    conn: asyncpg.Connection,
    *,
    alias: str,
    timezone: str,
    iop_completed_on: dt.date,
    email: str | None,
    phone: str | None,
    counselor_id: UUID | None,
    sobriety_date: dt.date | None,
) -> UUID:
    person_id: UUID = await conn.fetchval(
        """
        with person as (
            insert into people (roles, name, timezone) values (array['participant'], $1, $2)
            returning id
        )
        insert into participant_profiles
            (person_id, iop_completed_on, contact_email, contact_phone, counselor_id, sobriety_date)
        select id, $3, $4, $5, $6, $7 from person
        returning person_id
        """,
        alias,
        timezone,
        iop_completed_on,
        email,
        phone,
        counselor_id,
        sobriety_date,
    )
    return person_id


async def count_people(conn: asyncpg.Connection) -> int:
    """Everyone stored: graduates, staff, facilitators, admins."""
    return cast(int, await conn.fetchval("select count(*) from people"))


async def get_participant(conn: asyncpg.Connection, person_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(_PARTICIPANTS + " where p.id = $1", person_id)


async def list_participants(
    conn: asyncpg.Connection,
    *,
    counselor_id: UUID | None,
    status: str | None,
    after: tuple[dt.datetime, UUID] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Newest enrolment first; `after` is the (created_at, id) of the last row already seen."""
    return await conn.fetch(
        f"""
        {_PARTICIPANTS}
        where ($1::uuid is null or pp.counselor_id = $1)
          and ($2::text is null or {_STATUS} = $2)
          and ($3::timestamptz is null or (pp.created_at, pp.person_id) < ($3, $4::uuid))
        order by pp.created_at desc, pp.person_id desc
        limit $5
        """,
        counselor_id,
        status,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )


_PEOPLE_FIELDS = {"alias": "name", "timezone": "timezone"}
_PROFILE_FIELDS = {
    "email": "contact_email",
    "phone": "contact_phone",
    "iop_completed_on": "iop_completed_on",
    "counselor_id": "counselor_id",
    "sobriety_date": "sobriety_date",
}


async def update_participant(
    conn: asyncpg.Connection, person_id: UUID, changes: dict[str, Any]
) -> asyncpg.Record | None:
    """Apply `changes` (API field name -> value; only known fields) and return the profile."""
    async with conn.transaction():
        for table, key, columns in (
            ("people", "id", _PEOPLE_FIELDS),
            ("participant_profiles", "person_id", _PROFILE_FIELDS),
        ):
            fields = [(columns[name], value) for name, value in changes.items() if name in columns]
            if not fields:
                continue
            assignments = ", ".join(f"{column} = ${i}" for i, (column, _) in enumerate(fields, start=2))
            if table == "people":
                assignments += ", updated_at = now()"
            await conn.execute(
                f"update {table} set {assignments} where {key} = $1",
                person_id,
                *[value for _, value in fields],
            )
        return await get_participant(conn, person_id)


async def set_active(conn: asyncpg.Connection, person_id: UUID, active: bool, now: dt.datetime | None = None) -> bool:
    """Activate or deactivate a person at `now` (the app's clock when not given: slots count
    from a return, against that clock). Deactivation also ends every device session (no
    token they hold works on the next request), voids unused activation codes, deletes the
    secret calendar URL and unlinks Firebase, so coming back always takes a new code from
    staff, and no key handed out before (a URL in a shared calendar) works again."""
    async with conn.transaction():
        updated = await conn.fetchval(
            """
            update people
            set is_active = $2,
                deactivated_at = case when $2 then null else coalesce(deactivated_at, $3) end,
                firebase_uid = case when $2 then firebase_uid end,
                reactivated_at = case when $2 and not is_active then $3 else reactivated_at end,
                updated_at = now()
            where id = $1
            returning id
            """,
            person_id,
            active,
            now or dt.datetime.now(dt.UTC),
        )
        if updated and not active:
            await conn.execute(
                """
                update auth_sessions set revoked_at = now(), revoked_reason = 'deactivated'
                where person_id = $1 and revoked_at is null
                """,
                person_id,
            )
            await conn.execute(
                """
                update activation_codes set revoked_at = now()
                where person_id = $1 and used_at is null and revoked_at is null
                """,
                person_id,
            )
            await conn.execute("delete from calendar_feeds where person_id = $1", person_id)
    return updated is not None


async def is_staff_member(conn: asyncpg.Connection, person_id: UUID) -> bool:
    staff: bool = await conn.fetchval(
        "select exists (select from people where id = $1 and is_active and roles && array['staff', 'admin'])",
        person_id,
    )
    return staff


async def insert_account(
    conn: asyncpg.Connection,
    *,
    email: str,
    password_hash: str | None,
    name: str,
    roles: Sequence[str],
    timezone: str,
) -> asyncpg.Record:
    account = await conn.fetchrow(
        f"""
        insert into people (email, password_hash, name, roles, timezone)
        values ($1, $2, $3, $4, $5)
        returning {ACCOUNT_COLUMNS}
        """,
        email,
        password_hash,
        name,
        roles,
        timezone,
    )
    assert account is not None  # insert ... returning: always its row
    return account


async def get_account(conn: asyncpg.Connection, person_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"select {ACCOUNT_COLUMNS} from people where id = $1 and email is not null", person_id)


async def list_accounts(
    conn: asyncpg.Connection, *, after: tuple[dt.datetime, UUID] | None, limit: int
) -> list[asyncpg.Record]:
    """Password accounts (staff, admins, facilitators), newest first."""
    return await conn.fetch(
        f"""
        select {ACCOUNT_COLUMNS} from people
        where email is not null
          and ($1::timestamptz is null or (created_at, id) < ($1, $2::uuid))
        order by created_at desc, id desc
        limit $3
        """,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )


async def find_account_by_email(conn: asyncpg.Connection, email: str) -> asyncpg.Record | None:
    return await conn.fetchrow("select id, roles, is_active from people where lower(email) = lower($1)", email)


async def lock_account_by_email(conn: asyncpg.Connection, email: str, client_address: str) -> dict[str, Any] | None:
    """The account, locked until the transaction ends (call inside one), with `locked_until`
    the later of its account-wide lock and its lock for `client_address`, and `mfa_on`:
    whether a right password must be followed by a second factor."""
    account = await conn.fetchrow(
        """
        select id, roles, password_hash, is_active, locked_until,
               exists (select from mfa_totp t where t.person_id = people.id and t.confirmed_at is not null) as mfa_on
        from people where lower(email) = lower($1)
        for update
        """,
        email,
    )
    return None if account is None else await _with_address_lock(conn, account, client_address)


async def lock_account(conn: asyncpg.Connection, person_id: UUID, client_address: str) -> dict[str, Any] | None:
    """As lock_account_by_email, by id (the second factor of a sign-in)."""
    account = await conn.fetchrow(
        "select id, roles, password_hash, is_active, locked_until from people where id = $1 for update", person_id
    )
    return None if account is None else await _with_address_lock(conn, account, client_address)


async def _with_address_lock(conn: asyncpg.Connection, account: asyncpg.Record, client_address: str) -> dict[str, Any]:
    # Read only now, once the account is ours: joined to the statement that locks it, the
    # count would come from before the wait for the lock, and sign-ins sent at once would not
    # see the lock the one before them set.
    address_locked_until = await conn.fetchval(
        "select locked_until from sign_in_failures where person_id = $1 and client_address = $2",
        account["id"],
        client_address,
    )
    locks = [at for at in (account["locked_until"], address_locked_until) if at is not None]
    return dict(account) | {"locked_until": max(locks, default=None)}


async def record_login_failure(
    conn: asyncpg.Connection,
    person_id: UUID,
    client_address: str,
    *,
    max_failures: int,
    account_max_failures: int,
    lock_for: dt.timedelta,
) -> None:
    """Count a wrong password twice: for the account from `client_address`, where the
    `max_failures`-th within `lock_for` locks the account for that address alone, and for the
    account from anywhere, where the `account_max_failures`-th within `lock_for` locks it
    everywhere. Each count starts again once its window and its lock are over. Call inside
    the transaction of `lock_account_by_email`: that row lock makes the counting atomic. An
    expired count of this account and address starts again at 1; other accounts' expired
    counts are `forget_old_sign_in_failures`'s."""
    await conn.execute(
        """
        with counted as (
            select coalesce(
                       (select case when f.forget_at <= now() then 1 else f.failures + 1 end
                        from sign_in_failures f where f.person_id = $1 and f.client_address = $2),
                       1) as failures
        )
        insert into sign_in_failures as f
            (person_id, client_address, failures, window_started_at, locked_until, forget_at)
        select $1, $2, c.failures, now(),
               case when c.failures >= $3 then now() + $4 end, now() + $4
        from counted c
        on conflict (person_id, client_address) do update
        set failures = excluded.failures,
            window_started_at = case when excluded.failures = 1 then now() else f.window_started_at end,
            locked_until = excluded.locked_until,
            forget_at = greatest(excluded.locked_until,
                                 case when excluded.failures = 1 then now() else f.window_started_at end + $4)
        """,
        person_id,
        client_address,
        max_failures,
        lock_for,
    )
    await conn.execute(
        """
        with counted as (
            select id, case when coalesce(greatest(locked_until, failed_logins_since + $3) <= now(), true)
                            then 1 else failed_logins + 1 end as failures
            from people where id = $1
        )
        update people p
        set failed_logins = c.failures,
            failed_logins_since = case when c.failures = 1 then now() else p.failed_logins_since end,
            locked_until = case when c.failures >= $2 then now() + $3
                                when p.locked_until <= now() then null
                                else p.locked_until end
        from counted c
        where p.id = c.id
        """,
        person_id,
        account_max_failures,
        lock_for,
    )


async def get_password_holder(conn: asyncpg.Connection, person_id: UUID) -> asyncpg.Record | None:
    """What a password change checks against: the stored hash, and the email and name a new
    password must not contain."""
    return await conn.fetchrow(
        "select id, email, name, password_hash from people where id = $1 and email is not null", person_id
    )


async def set_password_hash(
    conn: asyncpg.Connection, person_id: UUID, password_hash: str | None, *, replacing: str | None = None
) -> bool:
    """Store a new password hash, or none (a reset: the old password stops working). Either
    way the wrong-password counts start over. With `replacing`, only while that is still the
    stored hash (a change checked against it): False when it changed meanwhile."""
    changed = await conn.fetchval(
        """
        update people set password_hash = $2, failed_logins = 0, failed_logins_since = null,
                          locked_until = null, updated_at = now()
        where id = $1 and ($3::text is null or password_hash = $3)
        returning id
        """,
        person_id,
        password_hash,
        replacing,
    )
    if changed is None:
        return False
    await conn.execute("delete from sign_in_failures where person_id = $1", person_id)
    return True


async def unlock_account(conn: asyncpg.Connection, person_id: UUID) -> None:
    """Clear every count and lock of the account: account-wide and per address."""
    await conn.execute(
        "update people set failed_logins = 0, failed_logins_since = null, locked_until = null where id = $1",
        person_id,
    )
    await conn.execute("delete from sign_in_failures where person_id = $1", person_id)


async def forget_old_sign_in_failures(conn: asyncpg.Connection) -> None:
    """Delete every count whose window and lock are over, so that guesses from many
    addresses cannot grow the table without bound. A statement of its own, outside any
    sign-in's transaction: inside one, two sign-ins each deleting the other's expired row
    before updating their own deadlocked. Rows a sign-in holds are left to the next call."""
    await conn.execute(
        """
        delete from sign_in_failures f
        using (select person_id, client_address from sign_in_failures
               where forget_at <= now() for update skip locked) gone
        where (f.person_id, f.client_address) = (gone.person_id, gone.client_address)
        """
    )


async def record_login_success(
    conn: asyncpg.Connection,
    person_id: UUID,
    client_address: str,
    checked_hash: str,
    new_hash: str | None,
    *,
    account_max_failures: int,
) -> asyncpg.Record | None:
    """A right password from `client_address`: clear that address's count, and take this
    try (counted before the check) off the account-wide count. The rest of that count runs
    out with its window: a right password does not buy guessers elsewhere a new budget. The
    account as it is now; None if it is gone or its password changed since `checked_hash`
    was read (the check ran outside any transaction, so it must not let an old password in)."""
    await conn.execute(
        "delete from sign_in_failures where person_id = $1 and client_address = $2", person_id, client_address
    )
    return await conn.fetchrow(
        """
        update people
        set failed_logins = greatest(failed_logins - 1, 0),
            locked_until = case when failed_logins - 1 < $3 then null else locked_until end,
            password_hash = coalesce($2, password_hash)
        where id = $1 and password_hash = $4
        returning id, roles, is_active
        """,
        person_id,
        new_hash,
        account_max_failures,
        checked_hash,
    )


async def get_me(conn: asyncpg.Connection, person_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """
        select p.id, p.roles, p.name as alias, p.timezone, p.email, p.created_at,
               pp.iop_completed_on, pp.sobriety_date, pp.contact_email, pp.contact_phone,
               pp.counselor_id, pp.activated_at
        from people p left join participant_profiles pp on pp.person_id = p.id
        where p.id = $1
        """,
        person_id,
    )


async def update_me(conn: asyncpg.Connection, person_id: UUID, changes: dict[str, Any]) -> None:
    async with conn.transaction():
        if "alias" in changes or "timezone" in changes:
            await conn.execute(
                """
                update people set name = coalesce($2, name), timezone = coalesce($3, timezone),
                                  updated_at = now()
                where id = $1
                """,
                person_id,
                changes.get("alias"),
                changes.get("timezone"),
            )
        if "sobriety_date" in changes:
            await conn.execute(
                "update participant_profiles set sobriety_date = $2 where person_id = $1",
                person_id,
                changes["sobriety_date"],
            )


async def set_firebase_uid(conn: asyncpg.Connection, person_id: UUID, uid: str) -> None:
    await conn.execute("update people set firebase_uid = $2 where id = $1", person_id, uid)


async def find_by_firebase_uid(conn: asyncpg.Connection, uid: str) -> asyncpg.Record | None:
    return await conn.fetchrow("select id, roles, is_active from people where firebase_uid = $1", uid)


async def list_team(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Active staff and facilitators, by name: who can be a counselor or run a group."""
    return await conn.fetch(
        """
        select id, name, roles from people
        where is_active and roles && array['staff', 'admin', 'facilitator'] and email is not null
        order by lower(name), id
        """
    )
