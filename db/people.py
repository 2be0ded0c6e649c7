"""People, their roles, participant profiles and password accounts."""

from __future__ import annotations

import datetime as dt
from typing import Any
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

ACCOUNT_COLUMNS = "id, email, name, roles, timezone, is_active, locked_until, created_at, deactivated_at"


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
    return await conn.fetchval(
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


async def set_active(
    conn: asyncpg.Connection, person_id: UUID, active: bool, now: dt.datetime | None = None
) -> bool:
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
    return await conn.fetchval(
        "select exists (select from people where id = $1 and is_active and roles && array['staff', 'admin'])",
        person_id,
    )


async def insert_account(
    conn: asyncpg.Connection,
    *,
    email: str,
    password_hash: str,
    name: str,
    roles: list[str],
    timezone: str,
) -> asyncpg.Record:
    return await conn.fetchrow(
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


async def lock_account_by_email(conn: asyncpg.Connection, email: str) -> asyncpg.Record | None:
    """The account, locked until the transaction ends (call inside one)."""
    return await conn.fetchrow(
        """
        select id, roles, password_hash, is_active, failed_logins, locked_until
        from people where lower(email) = lower($1)
        for update
        """,
        email,
    )


async def record_login_failure(
    conn: asyncpg.Connection, person_id: UUID, *, max_failures: int, lock_for: dt.timedelta
) -> None:
    """Count a wrong password; the `max_failures`-th in a row locks the account for `lock_for`.
    A lock that has run out starts the count again."""
    await conn.execute(
        """
        with counted as (
            select id, 1 + case when locked_until <= now() then 0 else failed_logins end as failures
            from people where id = $1
        )
        update people p
        set failed_logins = c.failures,
            locked_until = case when c.failures >= $2 then now() + $3
                                when p.locked_until <= now() then null
                                else p.locked_until end
        from counted c
        where p.id = c.id
        """,
        person_id,
        max_failures,
        lock_for,
    )


async def unlock_account(conn: asyncpg.Connection, person_id: UUID) -> None:
    await conn.execute("update people set failed_logins = 0, locked_until = null where id = $1", person_id)


async def record_login_success(
    conn: asyncpg.Connection, person_id: UUID, new_hash: str | None
) -> asyncpg.Record | None:
    """Clear the count of wrong passwords; the account as it is now (None if it is gone)."""
    return await conn.fetchrow(
        """
        update people
        set failed_logins = 0, locked_until = null, password_hash = coalesce($2, password_hash)
        where id = $1
        returning id, roles, is_active
        """,
        person_id,
        new_hash,
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
