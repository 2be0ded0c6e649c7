"""Push devices (FCM registration tokens) and notification preferences."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

import asyncpg

DEVICE_COLUMNS = "id, platform, app_version, created_at, refreshed_at"


async def register(
    conn: asyncpg.Connection, person_id: UUID, session_id: UUID, token: str, platform: str, app_version: str | None
) -> tuple[asyncpg.Record, bool]:
    """Register a token for this device session, or refresh it. A token already held by
    someone else moves to this person (the phone changed hands): it is never shared.
    Returns the device and whether it is new."""
    # One app install, one token: a refreshed token replaces the session's old one, so the
    # phone does not get every push twice.
    await conn.execute("delete from devices where session_id = $1 and token <> $2", session_id, token)
    row = await conn.fetchrow(
        f"""
        insert into devices (person_id, session_id, token, platform, app_version)
        values ($1, $2, $3, $4, $5)
        on conflict (token) do update
            set person_id = excluded.person_id, session_id = excluded.session_id,
                platform = excluded.platform, app_version = excluded.app_version, refreshed_at = now()
        returning {DEVICE_COLUMNS}, (xmax = 0) as created
        """,
        person_id,
        session_id,
        token,
        platform,
        app_version,
    )
    assert row is not None  # an upsert with no condition returns its row either way
    return row, row["created"]


async def list_devices(conn: asyncpg.Connection, person_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(f"select {DEVICE_COLUMNS} from devices where person_id = $1 order by id", person_id)


async def delete_device(conn: asyncpg.Connection, person_id: UUID, device_id: int) -> bool:
    status = await conn.execute("delete from devices where id = $2 and person_id = $1", person_id, device_id)
    return status.endswith(" 1")


async def get_preferences(conn: asyncpg.Connection, person_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "select disabled_kinds, enabled_kinds, quiet_start, quiet_end from notification_preferences where person_id = $1",
        person_id,
    )


async def put_preferences(
    conn: asyncpg.Connection,
    person_id: UUID,
    disabled_kinds: list[str],
    quiet_start: dt.time | None,
    quiet_end: dt.time | None,
    enabled_kinds: list[str] | None = None,
) -> None:
    await conn.execute(
        """
        insert into notification_preferences (person_id, disabled_kinds, quiet_start, quiet_end, enabled_kinds)
        values ($1, $2, $3, $4, $5)
        on conflict (person_id) do update
            set disabled_kinds = excluded.disabled_kinds, quiet_start = excluded.quiet_start,
                quiet_end = excluded.quiet_end, enabled_kinds = excluded.enabled_kinds, updated_at = now()
        """,
        person_id,
        disabled_kinds,
        quiet_start,
        quiet_end,
        enabled_kinds or [],
    )
