"""Group discussions: posts and replies, reactions, blocks, and who may read them.

Every read is for one viewer: posts by people the viewer blocked are left out, a hidden
post's text is shown only to its author and the group's moderators (`$moderator`), and a
removed post stays only as a placeholder where others replied to it."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

import asyncpg

# One post as a viewer ($1) sees it; `$2` says whether the viewer moderates the group.
_POST_COLUMNS = """
    p.id, p.group_id, p.reply_to, p.created_at, p.author_role,
    p.removed_at is not null as removed,
    p.hidden_at is not null as hidden,
    case when p.removed_at is not null then null
         when p.hidden_at is null or $2 or p.author_id = $1 then p.body end as body,
    case when p.removed_at is null then p.author_id end as author_id,
    case when p.removed_at is null then a.name end as author_alias,
    (select count(*) from posts r
     where r.reply_to = p.id and r.removed_at is null
       and not exists (select from person_blocks b where b.blocker_id = $1 and b.blocked_id = r.author_id))
        as reply_count,
    (select count(*) from post_reactions x where x.post_id = p.id and x.kind = 'support') as support_count,
    exists (select from post_reactions x where x.post_id = p.id and x.person_id = $1) as my_reaction
"""
_POST_FROM = "from posts p left join people a on a.id = p.author_id"
# Leaves out what the viewer blocked (replies under a blocked person's post too: the viewer
# cannot open that post), and removed posts with no reply left that the viewer sees.
_VISIBLE = """
    not exists (select from person_blocks b where b.blocker_id = $1 and b.blocked_id = p.author_id)
    and not exists (select from posts t join person_blocks b on b.blocker_id = $1 and b.blocked_id = t.author_id
                    where t.id = p.reply_to)
    and (p.removed_at is null
         or exists (select from posts r where r.reply_to = p.id and r.removed_at is null
                    and not exists (select from person_blocks b where b.blocker_id = $1 and b.blocked_id = r.author_id)))
"""


async def lock_group_discussion(conn: asyncpg.Connection, group_id: UUID) -> None:
    """Posts to one group commit in the order of their ids, so a client that caught up to an
    id has seen every post before it (`?after=` loses nothing)."""
    await conn.execute("select pg_advisory_xact_lock(hashtextextended('posts:' || $1::uuid::text, 0))", group_id)


async def lock_author(conn: asyncpg.Connection, person_id: UUID) -> None:
    """One person's posts one at a time, so the hourly limit and the duplicate check hold
    for two posts sent at once (to different groups, too)."""
    await conn.execute("select pg_advisory_xact_lock(hashtextextended('author:' || $1::uuid::text, 0))", person_id)


async def recent_posts_by(conn: asyncpg.Connection, person_id: UUID, since: dt.datetime) -> int:
    count: int = await conn.fetchval(
        "select count(*) from posts where author_id = $1 and created_at >= $2", person_id, since
    )
    return count


async def posted_lately(
    conn: asyncpg.Connection,
    person_id: UUID,
    body_digest: bytes,
    group_id: UUID,
    reply_to: int | None,
    since: dt.datetime,
) -> bool:
    """Whether the person posted these words to this place (the group's discussion, or
    under this post) since `since`: any of their posts, not only the latest (posts_author_idx)."""
    posted: bool = await conn.fetchval(
        """
        select exists (
            select from posts
            where author_id = $1 and created_at >= $2 and removed_at is null
              and body_digest = $3 and group_id = $4 and reply_to is not distinct from $5
        )
        """,
        person_id,
        since,
        body_digest,
        group_id,
        reply_to,
    )
    return posted


async def insert_post(
    conn: asyncpg.Connection,
    *,
    group_id: UUID,
    author_id: UUID,
    author_role: str,
    reply_to: int | None,
    body: str,
    digest: bytes,
    at: dt.datetime | None = None,
) -> int:
    post_id: int = await conn.fetchval(
        """
        insert into posts (group_id, author_id, author_role, reply_to, body, body_digest, created_at)
        values ($1, $2, $3, $4, $5, $6, coalesce($7, now()))
        returning id
        """,
        group_id,
        author_id,
        author_role,
        reply_to,
        body,
        digest,
        at,
    )
    return post_id


async def get_post(conn: asyncpg.Connection, post_id: int, viewer_id: UUID, moderator: bool) -> asyncpg.Record | None:
    """The post as the viewer sees it; None if it does not exist or the viewer blocked its author."""
    return await conn.fetchrow(
        f"select {_POST_COLUMNS} {_POST_FROM} where p.id = $3 and {_VISIBLE}", viewer_id, moderator, post_id
    )


async def post_for_live(conn: asyncpg.Connection, post_id: int, viewer_id: UUID) -> asyncpg.Record | None:
    """The post as `viewer_id` (one who blocked nobody) sees it, and the author of the post it
    replies to, in one statement: each socket then leaves out what its own blocks hide."""
    return await conn.fetchrow(
        f"""
        select {_POST_COLUMNS}, (select t.author_id from posts t where t.id = p.reply_to) as thread_author_id
        {_POST_FROM} where p.id = $3 and {_VISIBLE}
        """,
        viewer_id,
        False,
        post_id,
    )


async def post_facts(conn: asyncpg.Connection, post_id: int, lock: bool = False) -> asyncpg.Record | None:
    """What the rules need to know about a post, whoever asks: its group, author, parent.
    With `lock`, the row is held until the transaction ends, so a rule checked on it (not
    removed, not hidden) still holds when the change is written: a hide and the author's
    delete at once happen one after the other. NO KEY UPDATE leaves replies and reactions,
    which only reference the row, free to be written meanwhile."""
    return await conn.fetchrow(
        f"""
        select p.id, p.group_id, p.author_id, p.reply_to, p.removed_at, p.hidden_at, p.hidden_reason
        from posts p where p.id = $1 {"for no key update" if lock else ""}
        """,
        post_id,
    )


async def top_level_posts(
    conn: asyncpg.Connection, group_id: UUID, viewer_id: UUID, moderator: bool, before: int | None, limit: int
) -> list[asyncpg.Record]:
    """A page of the group's posts (not replies), newest first, older than `before`."""
    return await conn.fetch(
        f"""
        select {_POST_COLUMNS} {_POST_FROM}
        where p.group_id = $3 and p.reply_to is null and ($4::bigint is null or p.id < $4) and {_VISIBLE}
        order by p.id desc limit $5
        """,
        viewer_id,
        moderator,
        group_id,
        before,
        limit,
    )


async def posts_after(
    conn: asyncpg.Connection, group_id: UUID, viewer_id: UUID, moderator: bool, after: int, limit: int
) -> list[asyncpg.Record]:
    """Everything posted to the group (posts and replies) after `after`, oldest first: what
    a client that reconnects missed."""
    return await conn.fetch(
        f"""
        select {_POST_COLUMNS} {_POST_FROM}
        where p.group_id = $3 and p.id > $4 and {_VISIBLE}
        order by p.id limit $5
        """,
        viewer_id,
        moderator,
        group_id,
        after,
        limit,
    )


async def replies(
    conn: asyncpg.Connection, post_id: int, viewer_id: UUID, moderator: bool, after: int | None, limit: int
) -> list[asyncpg.Record]:
    """A post's replies, oldest first (a conversation reads down)."""
    return await conn.fetch(
        f"""
        select {_POST_COLUMNS} {_POST_FROM}
        where p.reply_to = $3 and ($4::bigint is null or p.id > $4) and {_VISIBLE}
        order by p.id limit $5
        """,
        viewer_id,
        moderator,
        post_id,
        after,
        limit,
    )


async def remove_post(conn: asyncpg.Connection, post_id: int) -> None:
    await conn.execute(
        "update posts set body = null, body_digest = null, removed_at = now() where id = $1 and removed_at is null",
        post_id,
    )


async def remove_posts_of(conn: asyncpg.Connection, person_id: UUID) -> int:
    """An account's deletion: its posts become placeholders (replies by others stay), and
    a moderator's reason for hiding one goes with its text."""
    status = await conn.execute(
        """
        update posts set body = null, body_digest = null, hidden_reason = null, removed_at = coalesce(removed_at, now())
        where author_id = $1 and (removed_at is null or hidden_reason is not null)
        """,
        person_id,
    )
    return int(status.split()[-1])


async def set_hidden(conn: asyncpg.Connection, post_id: int, by: UUID | None, reason: str | None, hidden: bool) -> bool:
    """Hide or unhide; False when it already was."""
    status = await conn.execute(
        """
        update posts set hidden_at = case when $4::boolean then now() end,
                         hidden_by = case when $4::boolean then $2::uuid end,
                         hidden_reason = case when $4::boolean then $3::text end
        where id = $1 and (hidden_at is null) = $4::boolean
        """,
        post_id,
        by,
        reason,
        hidden,
    )
    return status != "UPDATE 0"


async def react(conn: asyncpg.Connection, post_id: int, person_id: UUID, kind: str, on: bool) -> int:
    """Add or take back a reaction (either twice changes nothing); the post's new count."""
    if on:
        await conn.execute(
            "insert into post_reactions (post_id, person_id, kind) values ($1, $2, $3) on conflict do nothing",
            post_id,
            person_id,
            kind,
        )
    else:
        await conn.execute(
            "delete from post_reactions where post_id = $1 and person_id = $2 and kind = $3", post_id, person_id, kind
        )
    count: int = await conn.fetchval(
        "select count(*) from post_reactions where post_id = $1 and kind = $2", post_id, kind
    )
    return count


async def blocked(conn: asyncpg.Connection, blocker_id: UUID, blocked_id: UUID | None) -> bool:
    if blocked_id is None:
        return False
    is_blocked: bool = await conn.fetchval(
        "select exists (select from person_blocks where blocker_id = $1 and blocked_id = $2)", blocker_id, blocked_id
    )
    return is_blocked


async def blocked_ids(conn: asyncpg.Connection, blocker_id: UUID) -> set[UUID]:
    rows = await conn.fetch("select blocked_id from person_blocks where blocker_id = $1", blocker_id)
    return {r["blocked_id"] for r in rows}


async def list_blocks(conn: asyncpg.Connection, blocker_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        select b.blocked_id as person_id, p.name as alias, b.created_at
        from person_blocks b join people p on p.id = b.blocked_id
        where b.blocker_id = $1 order by b.created_at desc, b.blocked_id
        """,
        blocker_id,
    )


async def add_block(conn: asyncpg.Connection, blocker_id: UUID, blocked_id: UUID) -> None:
    await conn.execute(
        "insert into person_blocks (blocker_id, blocked_id) values ($1, $2) on conflict do nothing",
        blocker_id,
        blocked_id,
    )


async def remove_block(conn: asyncpg.Connection, blocker_id: UUID, blocked_id: UUID) -> bool:
    status = await conn.execute(
        "delete from person_blocks where blocker_id = $1 and blocked_id = $2", blocker_id, blocked_id
    )
    return status != "DELETE 0"


async def blockable_peer(conn: asyncpg.Connection, viewer_id: UUID, person_id: UUID) -> asyncpg.Record | None:
    """A graduate the viewer can meet in a discussion: a member of a group the viewer is in,
    runs, or (for staff) any graduate. None otherwise, so an id proves nothing."""
    return await conn.fetchrow(
        """
        select p.id, p.name from people p
        where p.id = $2 and p.id <> $1 and 'participant' = any(p.roles)
          and (exists (select from people v where v.id = $1 and v.roles && array['staff', 'admin'])
               or exists (select from group_members mine join group_members theirs using (group_id)
                          where mine.person_id = $1 and mine.status = 'member'
                            and theirs.person_id = $2 and theirs.status = 'member')
               or exists (select from group_facilitators f join group_members theirs using (group_id)
                          where f.person_id = $1 and theirs.person_id = $2 and theirs.status = 'member'))
        """,
        viewer_id,
        person_id,
    )


async def discussion_access(conn: asyncpg.Connection, group_id: UUID, person_id: UUID) -> asyncpg.Record | None:
    """Whether the person may read the group's discussion and whether they moderate it; None
    when the group does not exist or is not theirs to read."""
    return await conn.fetchrow(
        """
        select g.id, g.name, g.archived_at,
               exists (select from group_facilitators f where f.group_id = g.id and f.person_id = $2) as facilitates,
               p.roles && array['staff', 'admin'] as staff,
               exists (select from group_members m
                       where m.group_id = g.id and m.person_id = $2 and m.status = 'member') as member
        from groups g, people p
        where g.id = $1 and p.id = $2 and p.is_active
        """,
        group_id,
        person_id,
    )


async def readers_among(conn: asyncpg.Connection, group_id: UUID, person_ids: list[UUID]) -> list[UUID]:
    """Those of `person_ids` who may still read the group's discussion (a member, one of its
    facilitators, staff), active: someone who left is not told of replies they cannot open."""
    rows = await conn.fetch(
        """
        select p.id from people p
        where p.id = any($2::uuid[]) and p.is_active
          and (p.roles && array['staff', 'admin']
               or exists (select from group_members m where m.group_id = $1 and m.person_id = p.id and m.status = 'member')
               or exists (select from group_facilitators f where f.group_id = $1 and f.person_id = p.id))
        order by p.id
        """,
        group_id,
        person_ids,
    )
    return [r["id"] for r in rows]


async def told_of_new_posts_since(
    conn: asyncpg.Connection, group_id: UUID, person_ids: list[UUID], kind: str, since: dt.datetime
) -> set[UUID]:
    """Those of `person_ids` told of new posts in the group (`kind`, group_post) since `since`
    (by the time they were due, which the app writes from its own clock)."""
    rows = await conn.fetch(
        """
        select distinct person_id from notifications
        where person_id = any($2::uuid[]) and kind = $3 and data ->> 'group_id' = $1::uuid::text and not_before > $4
        """,
        group_id,
        person_ids,
        kind,
        since,
    )
    return {r["person_id"] for r in rows}
