"""Which time zones the API accepts: places both Python and the connected PostgreSQL know
(read from the database an app starts on), and `GET /v1/timezones` to list them for apps and
the dashboard's pickers."""

from __future__ import annotations

import asyncpg
from litestar import get

from api.deps import as_connection
from api.pagination import Page
from api.validation import accept_zones_known_to, accepted_zones, zones_read_from
from db import zones as zones_db


async def learn_database_zones(pool: asyncpg.Pool, database_url: str) -> None:
    """Read the database's zone names unless the accepted set was read from this same database
    (a slow read, and the tests build many apps over one database)."""
    if database_url == zones_read_from():
        return
    async with pool.acquire() as conn:
        accept_zones_known_to(await zones_db.postgres_zone_names(as_connection(conn)), read_from=database_url)


@get("/v1/timezones", tags=["reference"], opt={"public": True}, security=[{}], summary="Time zones you may use")
async def timezones() -> Page[str]:
    """Every IANA time zone name this server accepts for a graduate, a group or a staff
    account (a place both the server and its database know), sorted. No sign-in needed."""
    return Page(items=sorted(accepted_zones()), next_cursor=None)
