"""The moderation queue: reports by people and crisis flags raised by a post's text, open
until a moderator dismisses them or hides (or the author removes) the post."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from uuid import UUID

import asyncpg


async def add_report(
    conn: asyncpg.Connection, post_id: int, group_id: UUID, reporter_id: UUID, reason: str, note: str | None
) -> int | None:
    """The report's id; None when this person's report of this post is already open."""
    report_id: int | None = await conn.fetchval(
        """
        insert into moderation_items (post_id, group_id, kind, reason, note, reporter_id)
        values ($1, $2, 'report', $3, $4, $5)
        on conflict (post_id, reporter_id) where kind = 'report' and closed_at is null do nothing
        returning id
        """,
        post_id,
        group_id,
        reason,
        note,
        reporter_id,
    )
    return report_id


async def open_report_of(conn: asyncpg.Connection, post_id: int, reporter_id: UUID) -> int | None:
    """The person's open report of this post; None when they have none open."""
    report_id: int | None = await conn.fetchval(
        "select id from moderation_items where post_id = $1 and reporter_id = $2 and kind = 'report' and closed_at is null",
        post_id,
        reporter_id,
    )
    return report_id


async def add_crisis_flag(
    conn: asyncpg.Connection, post_id: int, group_id: UUID, categories: Sequence[str], phrases: Sequence[str]
) -> int:
    flag_id: int = await conn.fetchval(
        """
        insert into moderation_items (post_id, group_id, kind, reason, phrases)
        values ($1, $2, 'crisis', $3, $4) returning id
        """,
        post_id,
        group_id,
        ",".join(categories),
        list(phrases),
    )
    return flag_id


async def close_for_post(conn: asyncpg.Connection, post_id: int, by: UUID | None, outcome: str) -> int:
    status = await conn.execute(
        """
        update moderation_items set closed_at = now(), closed_by = $2, outcome = $3
        where post_id = $1 and closed_at is null
        """,
        post_id,
        by,
        outcome,
    )
    return int(status.split()[-1])


# The queue as a moderator ($1) sees it: staff everything (or, with `mine`, their caseload's
# authors); a facilitator the groups they run while they run (an archived group's discussion
# is for staff only, as group_access says).
_QUEUE = """
    select i.id, i.kind, i.reason, i.note, i.phrases, i.created_at, i.closed_at, i.outcome,
           p.id as post_id, p.group_id, g.name as group_name, p.reply_to, p.created_at as post_created_at,
           p.body, p.hidden_at is not null as hidden, p.removed_at is not null as removed,
           p.author_id, a.name as author_alias, p.author_role,
           (select count(*) from moderation_items o
            where o.post_id = p.id and o.kind = 'report' and o.closed_at is null) as open_reports
    from moderation_items i
    join posts p on p.id = i.post_id
    join groups g on g.id = i.group_id
    left join people a on a.id = p.author_id
    left join participant_profiles pp on pp.person_id = p.author_id
    where i.closed_at is null
      and (($2 and (not $3 or pp.counselor_id = $1))
           or (g.archived_at is null
               and exists (select from group_facilitators f where f.group_id = i.group_id and f.person_id = $1)))
"""


async def open_items(
    conn: asyncpg.Connection,
    moderator_id: UUID,
    staff: bool,
    mine: bool,
    after: tuple[dt.datetime, int] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Open items, oldest first (the longest waiting at the top)."""
    return await conn.fetch(
        f"""
        {_QUEUE}
          and ($4::timestamptz is null or (i.created_at, i.id) > ($4, $5))
        order by i.created_at, i.id limit $6
        """,
        moderator_id,
        staff,
        mine,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )


async def open_item(conn: asyncpg.Connection, item_id: int, moderator_id: UUID, staff: bool) -> asyncpg.Record | None:
    return await conn.fetchrow(f"{_QUEUE} and i.id = $4", moderator_id, staff, False, item_id)


async def dismiss(conn: asyncpg.Connection, item_id: int, by: UUID) -> bool:
    status = await conn.execute(
        """
        update moderation_items set closed_at = now(), closed_by = $2, outcome = 'dismissed'
        where id = $1 and closed_at is null
        """,
        item_id,
        by,
    )
    return status != "UPDATE 0"
