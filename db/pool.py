"""Connection pools."""

from __future__ import annotations

import json

import asyncpg

# How long a request waits for a pooled connection (a free one, or a new one connecting)
# before it answers 503: under a flood or with the server away, requests fail quickly
# instead of queueing without end.
ACQUIRE_TIMEOUT_S = 5.0


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _nothing_to_reset(conn: asyncpg.Connection) -> None:
    """asyncpg still rolls back an unfinished transaction and drops listeners before this."""


async def create_pool(
    dsn: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    statement_timeout_ms: int = 5000,
    application_name: str = "aftercare",
    reset_session: bool = True,
    connect_timeout_s: float = 5.0,
) -> asyncpg.Pool:
    """A pool whose every statement is cut off by the server after `statement_timeout_ms`,
    so that one slow query cannot hold a connection (and a request) forever.

    `reset_session=False` is for code that keeps no session state on a connection (no
    LISTEN, advisory locks, cursors or SET outside a transaction), like the API's handlers:
    the pool then skips the statement that resets a connection as it is handed back, a
    round trip on every request (two: the sign-in check has a connection of its own).

    `connect_timeout_s` bounds each new connection (asyncpg waits 60 s by default): while
    the server is unreachable, a request answers 503 within seconds instead of hanging
    past its client's patience."""
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=None if reset_session else _nothing_to_reset,
        command_timeout=statement_timeout_ms / 1000 + 5,
        timeout=connect_timeout_s,
        server_settings={
            "statement_timeout": str(statement_timeout_ms),
            "application_name": application_name,
            "timezone": "UTC",
            # Short OLTP queries: JIT compilation would cost more than it saves.
            "jit": "off",
        },
    )
