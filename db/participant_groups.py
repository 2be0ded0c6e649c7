"""The groups one graduate belongs to or waits for: for the staff participant page."""

from __future__ import annotations

from uuid import UUID

import asyncpg


async def groups_of(conn: asyncpg.Connection, person_id: UUID) -> list[asyncpg.Record]:
    """Their memberships and waitlist places (archived groups included, last), with each
    group's weekly schedule and, when waitlisted, their place in line."""
    return await conn.fetch(
        """
        select g.id, g.name, g.format, g.timezone, g.archived_at, m.status, m.since,
               case when m.status = 'waitlisted' then
                   (select count(*) + 1 from group_members w
                    where w.group_id = g.id and w.status = 'waitlisted'
                      and (w.since, w.person_id) < (m.since, m.person_id))
               end as waitlist_position,
               coalesce((select jsonb_agg(jsonb_build_object(
                             'weekday', s.weekday, 'start', to_char(s.starts, 'HH24:MI'),
                             'end', to_char(s.ends, 'HH24:MI')) order by s.weekday, s.starts)
                         from group_schedule s where s.group_id = g.id), '[]'::jsonb) as schedule
        from group_members m
        join groups g on g.id = m.group_id
        where m.person_id = $1
        order by g.archived_at is not null, m.status, g.name, g.id
        """,
        person_id,
    )
