"""A scratch database for one benchmark run, on DATABASE_URL's server or the embedded one."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg


def database_server() -> str:
    """DATABASE_URL, or the embedded PostgreSQL (started on first use) when it is unset."""
    server = os.environ.get("DATABASE_URL")
    if server:
        return server
    from db.embedded import start_embedded

    return start_embedded(Path(".aftercare/bench-pgdata"))


def on_server(server: str, name: str) -> str:
    return urlunsplit(urlsplit(server)._replace(path=f"/{name}"))


async def _admin(server: str, sql: str) -> None:
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def create_scratch(server: str | None = None) -> str:
    """The URL of a new, empty database on `server` (default: `database_server()`)."""
    server = server or database_server()
    name = f"aftercare_bench_{uuid.uuid4().hex[:8]}"
    await _admin(server, f'create database "{name}"')
    return on_server(server, name)


async def drop_scratch(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    await _admin(on_server(url, "postgres"), f'drop database if exists "{name}" with (force)')


@asynccontextmanager
async def scratch_database(server: str | None = None) -> AsyncIterator[str]:
    """The URL of a new, empty database, dropped afterwards (also after a failure)."""
    url = await create_scratch(server)
    try:
        yield url
    finally:
        await drop_scratch(url)
