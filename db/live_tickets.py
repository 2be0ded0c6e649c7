"""Single-use tickets that open a live socket from a browser (which cannot send a header
with a WebSocket handshake): stored as a hash, good once, for seconds."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

import asyncpg


async def insert_ticket(
    conn: asyncpg.Connection, ticket_hash: bytes, person_id: UUID, session_id: UUID, expires_at: dt.datetime
) -> None:
    # Expired tickets are cleared as new ones are made: the table stays as small as its use.
    await conn.execute("delete from live_tickets where expires_at < now() - interval '1 hour'")
    await conn.execute(
        "insert into live_tickets (ticket_hash, person_id, session_id, expires_at) values ($1, $2, $3, $4)",
        ticket_hash,
        person_id,
        session_id,
        expires_at,
    )


async def redeem_ticket(conn: asyncpg.Connection, ticket_hash: bytes) -> asyncpg.Record | None:
    """The ticket's person and session, once: a second use, or a late one, finds nothing."""
    return await conn.fetchrow(
        """
        update live_tickets set used_at = now()
        where ticket_hash = $1 and used_at is null and expires_at > now()
        returning person_id, session_id
        """,
        ticket_hash,
    )
