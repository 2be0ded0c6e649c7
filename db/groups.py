"""Groups, their schedules and facilitators, the listing, and membership with a waitlist."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any, cast
from uuid import UUID

import asyncpg

from db.sql import Params

# Everything the API shows about a group, for one viewer ($1): schedule and facilitators
# are aggregated in the same statement, so a page of groups is one query.
_GROUP_COLUMNS = """
    g.id, g.slug, g.name, g.description, g.topics, g.format, g.timezone, g.address,
    g.latitude, g.longitude, g.conference_url, g.conference_phone, g.capacity,
    g.member_count, g.is_public, g.archived_at, g.created_at, g.updated_at,
    coalesce((select jsonb_agg(jsonb_build_object(
                  'weekday', s.weekday, 'start', to_char(s.starts, 'HH24:MI'),
                  'end', to_char(s.ends, 'HH24:MI')) order by s.weekday, s.starts)
              from group_schedule s where s.group_id = g.id), '[]'::jsonb) as schedule,
    coalesce(m.status, 'none') as my_status,
    exists (select from group_facilitators f where f.group_id = g.id and f.person_id = $1)
        as i_facilitate
"""
_GROUP_FROM = "from groups g left join group_members m on m.group_id = g.id and m.person_id = $1"

# Great-circle distance in km (haversine), from the point in ({lat}, {lon}).
_DISTANCE = """(2 * 6371.0088 * asin(sqrt(
    power(sin(radians(g.latitude - {lat}) / 2), 2)
    + cos(radians({lat})) * cos(radians(g.latitude)) * power(sin(radians(g.longitude - {lon}) / 2), 2))))"""
_KM_PER_DEGREE = 111.195


async def insert_group(conn: asyncpg.Connection, fields: dict[str, Any]) -> UUID:
    columns = list(fields)
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    group_id: UUID = await conn.fetchval(
        f"insert into groups ({', '.join(columns)}) values ({placeholders}) returning id", *fields.values()
    )
    return group_id


async def update_group(conn: asyncpg.Connection, group_id: UUID, fields: dict[str, Any]) -> None:
    if not fields:
        return
    assignments = ", ".join(f"{column} = ${i}" for i, column in enumerate(fields, start=2))
    await conn.execute(f"update groups set {assignments}, updated_at = now() where id = $1", group_id, *fields.values())


async def replace_schedule(
    conn: asyncpg.Connection, group_id: UUID, slots: list[tuple[int, int, dt.time, dt.time]]
) -> None:
    """Slots as (number, weekday, start, end)."""
    await conn.execute("delete from group_schedule where group_id = $1", group_id)
    await conn.execute(
        """
        insert into group_schedule (group_id, slot, weekday, starts, ends)
        select $1, * from unnest($2::smallint[], $3::smallint[], $4::time[], $5::time[])
        """,
        group_id,
        [s[0] for s in slots],
        [s[1] for s in slots],
        [s[2] for s in slots],
        [s[3] for s in slots],
    )


async def replace_facilitators(conn: asyncpg.Connection, group_id: UUID, person_ids: list[UUID]) -> list[UUID]:
    """The group's facilitators become `person_ids`; those who were and no longer are."""
    removed = await conn.fetch(
        "delete from group_facilitators where group_id = $1 and person_id <> all($2::uuid[]) returning person_id",
        group_id,
        person_ids,
    )
    await conn.execute(
        """
        insert into group_facilitators (group_id, person_id) select $1, unnest($2::uuid[])
        on conflict do nothing
        """,
        group_id,
        person_ids,
    )
    return [row["person_id"] for row in removed]


async def unknown_facilitators(conn: asyncpg.Connection, person_ids: list[UUID]) -> list[UUID]:
    """Those of `person_ids` who are not active facilitators or staff."""
    rows = await conn.fetch(
        """
        select wanted.id from unnest($1::uuid[]) as wanted(id)
        where not exists (select from people p where p.id = wanted.id and p.is_active
                          and p.roles && array['facilitator', 'staff', 'admin'])
        """,
        person_ids,
    )
    return [row["id"] for row in rows]


async def unarchive_group(conn: asyncpg.Connection, group_id: UUID) -> None:
    await conn.execute("update groups set archived_at = null, updated_at = now() where id = $1", group_id)


async def archive_group(conn: asyncpg.Connection, group_id: UUID) -> None:
    await conn.execute(
        "update groups set archived_at = coalesce(archived_at, now()), updated_at = now() where id = $1", group_id
    )


async def get_group(conn: asyncpg.Connection, group_id: UUID, viewer_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""
        select {_GROUP_COLUMNS},
               coalesce((select jsonb_agg(jsonb_build_object('id', p.id, 'name', p.name) order by p.name)
                         from group_facilitators f join people p on p.id = f.person_id
                         where f.group_id = g.id), '[]'::jsonb) as facilitators,
               (select count(*) + 1 from group_members w
                where w.group_id = g.id and w.status = 'waitlisted' and m.status = 'waitlisted'
                  and (w.since, w.person_id) < (m.since, m.person_id)) as waitlist_position
        {_GROUP_FROM}
        where g.id = $2
        """,
        viewer_id,
        group_id,
    )


async def list_groups(
    conn: asyncpg.Connection,
    *,
    viewer_id: UUID,
    weekdays: list[int] | None,
    start_between: tuple[dt.time, dt.time] | None,
    formats: Sequence[str] | None,
    topics: Sequence[str] | None,
    near: tuple[float, float] | None,
    radius_km: float | None,
    open_seats: bool,
    text: str | None,
    after: tuple[Any, UUID] | None,
    limit: int,
    archived: bool = False,
) -> list[asyncpg.Record]:
    """One page of active groups (or, for staff, archived ones). Ordered by distance when `near` is given, else by name;
    ties by id, so the order is stable and `after` (the last row's sort key) pages on."""
    params = Params()
    params.add(viewer_id)  # $1, as _GROUP_COLUMNS expects
    params.where("g.archived_at is not null" if archived else "g.archived_at is null")
    if weekdays or start_between:
        day_filter = "s.weekday = any({})" if weekdays else "true"
        values: list[Any] = [weekdays] if weekdays else []
        time_filter = "true"
        if start_between:
            time_filter = "s.starts >= {} and s.starts < {}"
            values += list(start_between)
        params.where(
            f"exists (select from group_schedule s where s.group_id = g.id and {day_filter} and {time_filter})",
            *values,
        )
    if formats:
        params.where("g.format = any({})", formats)
    if topics:
        params.where("g.topics && {}", topics)
    if open_seats:
        params.where("(g.capacity is null or g.member_count < g.capacity)")
    if text:
        params.where("g.search @@ websearch_to_tsquery('english', {})", text)
    distance = "null::float8"
    if near:
        lat, lon = params.add(near[0]), params.add(near[1])
        distance = _DISTANCE.format(lat=lat, lon=lon)
        params.where("g.latitude is not null")
        if radius_km is not None:
            # A bounding box first (the index), then the exact circle.
            lat_span = radius_km / _KM_PER_DEGREE
            lon_span = radius_km / (_KM_PER_DEGREE * max(0.01, math.cos(math.radians(near[0]))))
            params.where("g.latitude between {} and {}", near[0] - lat_span, near[0] + lat_span)
            params.where("g.longitude between {} and {}", near[1] - lon_span, near[1] + lon_span)
            params.where(f"{distance} <= {{}}", radius_km)
    order_key = distance if near else "g.name"
    if after is not None:
        params.where(f"({order_key}, g.id) > ({{}}, {{}})", after[0], after[1])
    return await conn.fetch(
        f"""
        select {_GROUP_COLUMNS}, {distance} as distance_km
        {_GROUP_FROM}
        where {params.clause()}
        order by {order_key}, g.id
        limit {params.add(limit)}
        """,
        *params.values,
    )


async def lock_group(conn: asyncpg.Connection, group_id: UUID) -> asyncpg.Record | None:
    """The group's row, locked until the transaction ends: joins and leaves of one group take
    turns, so a freed seat goes to exactly one person."""
    return await conn.fetchrow(
        "select id, capacity, member_count, archived_at from groups where id = $1 for update", group_id
    )


async def membership(conn: asyncpg.Connection, group_id: UUID, person_id: UUID) -> str | None:
    status: str | None = await conn.fetchval(
        "select status from group_members where group_id = $1 and person_id = $2", group_id, person_id
    )
    return status


async def add_member(
    conn: asyncpg.Connection, group_id: UUID, person_id: UUID, status: str, since: dt.datetime | None = None
) -> None:
    """`since` only for history written after the fact (the demo); else the moment of joining.
    groups.member_count follows by trigger."""
    await conn.execute(
        "insert into group_members (group_id, person_id, status, since)"
        " values ($1, $2, $3, coalesce($4, clock_timestamp()))",
        group_id,
        person_id,
        status,
        since,
    )


async def remove_member(conn: asyncpg.Connection, group_id: UUID, person_id: UUID) -> str | None:
    """Remove the person from the group or its waitlist; return what they were."""
    status: str | None = await conn.fetchval(
        "delete from group_members where group_id = $1 and person_id = $2 returning status", group_id, person_id
    )
    return status


async def promote_from_waitlist(conn: asyncpg.Connection, group_id: UUID) -> list[UUID]:
    """Fill free seats from the head of the waitlist; return who got one. Call with the
    group locked (lock_group)."""
    promoted = await conn.fetch(
        """
        with free as (
            select case when capacity is null then 2147483647
                        else greatest(capacity - member_count, 0) end as seats
            from groups where id = $1
        ), chosen as (
            select person_id from group_members
            where group_id = $1 and status = 'waitlisted'
            order by since, person_id
            limit (select seats from free)
        )
        update group_members m set status = 'member', since = clock_timestamp()
        from chosen where m.group_id = $1 and m.person_id = chosen.person_id
        returning m.person_id
        """,
        group_id,
    )
    return [row["person_id"] for row in promoted]


async def waitlist_position(conn: asyncpg.Connection, group_id: UUID, person_id: UUID) -> int | None:
    position: int | None = await conn.fetchval(
        """
        select position from (
            select person_id, row_number() over (order by since, person_id) as position
            from group_members where group_id = $1 and status = 'waitlisted'
        ) ranked where person_id = $2
        """,
        group_id,
        person_id,
    )
    return position


async def member_of(conn: asyncpg.Connection, person_id: UUID) -> list[UUID]:
    """Groups where the person holds a seat."""
    rows = await conn.fetch(
        "select group_id from group_members where person_id = $1 and status = 'member' order by group_id", person_id
    )
    return [row["group_id"] for row in rows]


async def is_facilitator(conn: asyncpg.Connection, group_id: UUID, person_id: UUID) -> bool:
    facilitator: bool = await conn.fetchval(
        "select exists (select from group_facilitators where group_id = $1 and person_id = $2)", group_id, person_id
    )
    return facilitator


async def members(conn: asyncpg.Connection, group_id: UUID) -> list[asyncpg.Record]:
    """Members then the waitlist in order, with the alias each goes by."""
    return await conn.fetch(
        """
        select m.person_id as participant_id, p.name as alias, m.status, m.since
        from group_members m join people p on p.id = m.person_id
        where m.group_id = $1
        order by m.status, m.since, m.person_id
        """,
        group_id,
    )


async def public_groups(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Active public groups with their schedules, for the Meeting Guide feed."""
    return await conn.fetch(
        f"""
        select {_GROUP_COLUMNS}
        {_GROUP_FROM}
        where g.archived_at is null and g.is_public
        order by g.slug
        """,
        None,
    )


async def id_by_slug(conn: asyncpg.Connection, slug: str) -> UUID | None:
    return cast(UUID | None, await conn.fetchval("select id from groups where slug = $1", slug))


async def upsert_imported(conn: asyncpg.Connection, fields: dict[str, Any]) -> tuple[UUID, bool] | None:
    """Insert an imported group, or update the earlier import with the same slug; return
    (id, created). None when the slug belongs to a group staff made: imports never touch
    those."""
    columns = [*fields, "source"]
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    updates = ", ".join(f"{c} = excluded.{c}" for c in fields if c != "slug")
    row = await conn.fetchrow(
        f"""
        insert into groups ({", ".join(columns)}) values ({placeholders})
        on conflict (slug) do update set {updates}, updated_at = now()
            where groups.source = 'import'
        returning id, (xmax = 0) as created
        """,
        *fields.values(),
        "import",
    )
    return (row["id"], row["created"]) if row else None


async def group_name(conn: asyncpg.Connection, group_id: UUID) -> str:
    return cast(str, await conn.fetchval("select name from groups where id = $1", group_id))


async def groups_with_members(conn: asyncpg.Connection) -> list[UUID]:
    """Active groups someone belongs to: the only ones with sessions to remind of."""
    rows = await conn.fetch("select id from groups where archived_at is null and member_count > 0 order by id")
    return [r["id"] for r in rows]


async def zones_of_groups_with_members(conn: asyncpg.Connection) -> list[str]:
    """The time zones the groups with sessions to remind of are in (a few at most)."""
    rows = await conn.fetch("select distinct timezone from groups where archived_at is null and member_count > 0")
    return [r["timezone"] for r in rows]


async def groups_with_members_in(conn: asyncpg.Connection, zones: list[str]) -> list[asyncpg.Record]:
    """(id, timezone) of the groups with members in these zones."""
    return await conn.fetch(
        "select id, timezone from groups where archived_at is null and member_count > 0 and timezone = any($1::text[])"
        " order by id",
        zones,
    )


async def active_group_ids(conn: asyncpg.Connection) -> list[UUID]:
    rows = await conn.fetch("select id from groups where archived_at is null order by id")
    return [r["id"] for r in rows]
