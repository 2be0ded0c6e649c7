"""The append-only audit log of staff access to participant data."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

import asyncpg


async def record(
    conn: asyncpg.Connection,
    *,
    actor_id: UUID,
    actor_roles: list[str],
    action: str,
    participant_ids: list[UUID | None],
    method: str,
    path: str,
    client_ip: str | None,
    details: dict[str, Any] | None = None,
) -> None:
    """One row per participant touched (one statement, however many)."""
    await conn.execute(
        """
        insert into audit_log (actor_id, actor_roles, action, participant_id, method, path,
                               client_ip, details)
        select $1, $2, $3, participant_id, $5, $6, $7, $8
        from unnest($4::uuid[]) as participant_id
        """,
        actor_id,
        actor_roles,
        action,
        participant_ids,
        method,
        path,
        client_ip,
        details or {},
    )


async def list_entries(
    conn: asyncpg.Connection,
    *,
    actor_id: UUID | None,
    participant_id: UUID | None,
    action: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    before_id: int | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Newest first."""
    return await conn.fetch(
        """
        select id, at, actor_id, actor_roles, action, participant_id, method, path, client_ip, details
        from audit_log
        where ($1::uuid is null or actor_id = $1)
          and ($2::uuid is null or participant_id = $2)
          and ($3::text is null or action = $3)
          and ($4::timestamptz is null or at >= $4)
          and ($5::timestamptz is null or at < $5)
          and ($6::bigint is null or id < $6)
        order by id desc
        limit $7
        """,
        actor_id,
        participant_id,
        action,
        since,
        until,
        before_id,
        limit,
    )
