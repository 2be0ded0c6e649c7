"""Time zones the system can compute with: PostgreSQL's and Python's.

A graduate's or a group's zone becomes local dates and times in SQL (`at time zone`) and in
Python (zoneinfo), and either refuses a name it does not know: in a statement over everyone,
one such name would fail it for all. So the API accepts only zones both know (api/validation.py,
from `postgres_zone_names`, read once per process); statements over everyone read zones through
the `known_time_zones` table and leave out what it lacks; Python reads a stored zone through
`python_zone` (None: skip) or `zone_of` (UTC in its place, for a person's own requests and texts,
which must keep working); and the jobs record whom they skipped (db/job_health.py).
"""

from __future__ import annotations

import datetime as dt
import logging
from functools import lru_cache
from typing import cast
from zoneinfo import ZoneInfo

import asyncpg

log = logging.getLogger("aftercare.zones")

# The tz database's pseudo-zones (the SQL twin is is_place_zone() in migration 0005).
PSEUDO_ZONES = frozenset({"localtime", "posixrules", "Factory"})
_PSEUDO_TREES = ("posix/", "right/")
# What people live in: a continent or an ocean, and UTC (staff accounts default to it). Legacy
# names (US/Eastern, EST5EDT, GB) still work where they are stored; they are not offered anew.
REGIONS = ("Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific")


def is_place(name: str) -> bool:
    return name not in PSEUDO_ZONES and not name.startswith(_PSEUDO_TREES)


def is_region_zone(name: str) -> bool:
    """A zone a person would pick: `UTC`, or a place under a continent or an ocean."""
    return name == "UTC" or (is_place(name) and "/" in name and name.split("/", 1)[0] in REGIONS)


@lru_cache(maxsize=4096)  # stored zones: a few hundred names at most
def python_zone(name: str) -> ZoneInfo | None:
    """The zone, or None if Python cannot load it (or it is no place)."""
    if not is_place(name):
        return None
    try:
        return ZoneInfo(name)
    # Unknown: ZoneInfoNotFoundError (a KeyError); malformed: ValueError; a folder or an
    # over-long name: OSError.
    except (KeyError, ValueError, OSError):
        return None


def zone_of(name: str) -> ZoneInfo | dt.timezone:
    """The zone to show a person's own times in: theirs, or UTC while theirs cannot be read
    (their requests keep working; the jobs report the zone to staff)."""
    zone = python_zone(name)
    if zone is None:
        _warn_once(name)
        return dt.UTC
    return zone


@lru_cache(maxsize=1024)
def _warn_once(name: str) -> None:
    log.warning("a stored time zone cannot be loaded; UTC is used in its place (see GET /v1/staff/system-status)")


async def postgres_zone_names(conn: asyncpg.Connection) -> set[str]:
    """Every zone name this PostgreSQL knows (a slow read: 35-300 ms; once per process)."""
    return {row["name"] for row in await conn.fetch("select name from pg_timezone_names")}


async def refresh_known(conn: asyncpg.Connection) -> int:
    """Bring `known_time_zones` up to what the server knows now (after an upgrade of its tz
    database, say); returns how many names came or went."""
    return cast(int, await conn.fetchval("select refresh_known_time_zones()"))


# Active graduates whose zone this PostgreSQL does not know: the statements over everyone
# leave them out. The zones in use come from a skip scan over people_timezone_idx (a few
# hundred index probes), so this is nearly free while every zone is fine.
UNKNOWN_ZONE_GRADUATES = """
with recursive zones as (
    (select timezone from people order by timezone limit 1)
    union all
    select (select p.timezone from people p where p.timezone > z.timezone order by p.timezone limit 1)
    from zones z where z.timezone is not null
)
select p.id, p.timezone
from people p
join participant_profiles pp on pp.person_id = p.id
where p.timezone in (select z.timezone from zones z
                     where z.timezone is not null
                       and not exists (select from known_time_zones k where k.name = z.timezone))
  and p.is_active and pp.activated_at is not null
order by p.id
"""


async def unknown_zone_graduates(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """(id, timezone) of the active graduates whose zone the database cannot compute with."""
    return await conn.fetch(UNKNOWN_ZONE_GRADUATES)
