"""Stored sessions (those something refers to), RSVPs, attendance, announcements and
calendar feeds."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

import asyncpg

SESSION_COLUMNS = "id, group_id, local_date, slot, starts_at, ends_at, status, moved, note"


async def schedules(conn: asyncpg.Connection, group_ids: list[UUID]) -> list[asyncpg.Record]:
    """Each group's time zone and weekly slots."""
    return await conn.fetch(
        """
        select g.id, g.timezone, g.name, g.archived_at,
               coalesce(array_agg(s.weekday order by s.weekday, s.starts) filter (where s.group_id is not null), '{}') as weekdays,
               coalesce(array_agg(s.starts order by s.weekday, s.starts) filter (where s.group_id is not null), '{}') as starts,
               coalesce(array_agg(s.ends order by s.weekday, s.starts) filter (where s.group_id is not null), '{}') as ends,
               coalesce(array_agg(s.slot order by s.weekday, s.starts) filter (where s.group_id is not null), '{}') as slots
        from groups g left join group_schedule s on s.group_id = g.id
        where g.id = any($1::uuid[])
        group by g.id
        """,
        group_ids,
    )


async def stored_in_range(
    conn: asyncpg.Connection, group_ids: list[UUID], start: dt.datetime, end: dt.datetime
) -> list[asyncpg.Record]:
    """Stored sessions that overlap the range, or whose scheduled date is in it (a session
    moved out of the range must still replace its computed twin)."""
    return await conn.fetch(
        f"""
        select {SESSION_COLUMNS} from group_sessions
        where group_id = any($1::uuid[])
          and ((starts_at < $3 and ends_at > $2)
               or local_date between ($2 at time zone 'UTC')::date - 1 and ($3 at time zone 'UTC')::date + 1)
        """,
        group_ids,
        start,
        end,
    )


async def get_stored(conn: asyncpg.Connection, session_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"select {SESSION_COLUMNS} from group_sessions where id = $1", session_id)


async def store(
    conn: asyncpg.Connection,
    *,
    session_id: str,
    group_id: UUID,
    local_date: dt.date,
    slot: int,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
) -> asyncpg.Record:
    """Store a computed session (first reference); return the stored row either way."""
    await conn.execute(
        """
        insert into group_sessions (id, group_id, local_date, slot, starts_at, ends_at)
        values ($1, $2, $3, $4, $5, $6)
        on conflict (id) do nothing
        """,
        session_id,
        group_id,
        local_date,
        slot,
        starts_at,
        ends_at,
    )
    stored = await get_stored(conn, session_id)
    assert stored is not None  # inserted just now, or there already
    return stored


async def cancel(conn: asyncpg.Connection, session_id: str, note: str) -> None:
    await conn.execute(
        "update group_sessions set status = 'cancelled', note = $2, updated_at = now() where id = $1",
        session_id,
        note,
    )


async def move(
    conn: asyncpg.Connection, session_id: str, starts_at: dt.datetime, ends_at: dt.datetime, note: str
) -> None:
    await conn.execute(
        """
        update group_sessions set starts_at = $2, ends_at = $3, note = $4, moved = true, updated_at = now()
        where id = $1
        """,
        session_id,
        starts_at,
        ends_at,
        note,
    )


async def future_unmoved(conn: asyncpg.Connection, group_id: UUID, now: dt.datetime) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"select {SESSION_COLUMNS} from group_sessions where group_id = $1 and starts_at > $2 and not moved",
        group_id,
        now,
    )


async def retime(conn: asyncpg.Connection, changes: list[tuple[str, dt.datetime, dt.datetime]]) -> None:
    """New times for stored sessions after a schedule edit (RSVPs stay with them)."""
    await conn.executemany(
        "update group_sessions set starts_at = $2, ends_at = $3, updated_at = now() where id = $1", changes
    )


async def cancel_many(conn: asyncpg.Connection, session_ids: list[str], note: str) -> None:
    await conn.execute(
        """
        update group_sessions set status = 'cancelled', note = $2, updated_at = now()
        where id = any($1::text[]) and status <> 'cancelled'
        """,
        session_ids,
        note,
    )


async def set_rsvp(conn: asyncpg.Connection, session_id: str, person_id: UUID, status: str) -> None:
    await conn.execute(
        """
        insert into session_rsvps (session_id, person_id, status) values ($1, $2, $3)
        on conflict (session_id, person_id) do update set status = excluded.status, updated_at = now()
        """,
        session_id,
        person_id,
        status,
    )


async def rsvps_of(conn: asyncpg.Connection, person_id: UUID, session_ids: list[str]) -> dict[str, str]:
    rows = await conn.fetch(
        "select session_id, status from session_rsvps where person_id = $1 and session_id = any($2::text[])",
        person_id,
        session_ids,
    )
    return {row["session_id"]: row["status"] for row in rows}


async def drop_future_rsvps(conn: asyncpg.Connection, group_id: UUID, person_id: UUID, now: dt.datetime) -> None:
    """When someone leaves a group, their RSVPs to its coming sessions go too."""
    await conn.execute(
        """
        delete from session_rsvps r using group_sessions s
        where s.id = r.session_id and s.group_id = $1 and r.person_id = $2 and s.starts_at > $3
        """,
        group_id,
        person_id,
        now,
    )


async def claim_check_in_try(conn: asyncpg.Connection, session_id: str, person_id: UUID, limit: int) -> bool:
    """Count one self check-in try, unless the person has used `limit` already (then False).
    Checking and counting in one statement: a concurrent try waits on the row and sees this
    one's count, so no more than `limit` codes are ever compared, however many arrive at once."""
    return (
        await conn.fetchval(
            """
            insert into session_check_in_failures (session_id, person_id) values ($1, $2)
            on conflict (session_id, person_id) do update set failures = session_check_in_failures.failures + 1
                where session_check_in_failures.failures < $3
            returning true
            """,
            session_id,
            person_id,
            limit,
        )
        or False
    )


async def give_back_check_in_try(conn: asyncpg.Connection, session_id: str, person_id: UUID) -> None:
    """A right code costs no try: what stays counted are the wrong ones."""
    await conn.execute(
        """
        update session_check_in_failures set failures = failures - 1
        where session_id = $1 and person_id = $2
        """,
        session_id,
        person_id,
    )


async def self_check_in(conn: asyncpg.Connection, session_id: str, person_id: UUID) -> str:
    """Mark the person present, unless a facilitator already marked them (their word stands);
    return the attendance that holds."""
    await conn.execute(
        """
        insert into session_attendance (session_id, person_id, status, source, marked_by)
        values ($1, $2, 'present', 'self', $2)
        on conflict (session_id, person_id) do update
            set status = 'present', marked_at = now()
            where session_attendance.source = 'self'
        """,
        session_id,
        person_id,
    )
    status: str = await conn.fetchval(
        "select status from session_attendance where session_id = $1 and person_id = $2", session_id, person_id
    )
    return status


async def set_attendance(
    conn: asyncpg.Connection, session_id: str, records: list[tuple[UUID, str]], source: str, marked_by: UUID
) -> None:
    await conn.execute(
        """
        insert into session_attendance (session_id, person_id, status, source, marked_by)
        select $1, person_id, status, $4, $5 from unnest($2::uuid[], $3::text[]) as r(person_id, status)
        on conflict (session_id, person_id) do update
            set status = excluded.status, source = excluded.source,
                marked_by = excluded.marked_by, marked_at = now()
        """,
        session_id,
        [person for person, _ in records],
        [status for _, status in records],
        source,
        marked_by,
    )


async def roster(conn: asyncpg.Connection, group_id: UUID, session_id: str) -> list[asyncpg.Record]:
    """The group's members with their RSVP and attendance for the session."""
    return await conn.fetch(
        """
        select m.person_id as participant_id, p.name as alias, r.status as rsvp, a.status as attendance,
               a.source as attendance_source
        from group_members m
        join people p on p.id = m.person_id
        left join session_rsvps r on r.session_id = $2 and r.person_id = m.person_id
        left join session_attendance a on a.session_id = $2 and a.person_id = m.person_id
        where m.group_id = $1 and m.status = 'member'
        order by p.name, m.person_id
        """,
        group_id,
        session_id,
    )


async def member_group_ids(conn: asyncpg.Connection, person_id: UUID) -> list[UUID]:
    rows = await conn.fetch(
        """
        select m.group_id from group_members m join groups g on g.id = m.group_id
        where m.person_id = $1 and m.status = 'member' and g.archived_at is null
        """,
        person_id,
    )
    return [row["group_id"] for row in rows]


async def add_announcement(
    conn: asyncpg.Connection, group_id: UUID, author_id: UUID, title: str, body: str, at: dt.datetime | None = None
) -> asyncpg.Record:
    """`at`: when it was posted, if not now (the demo's history)."""
    announcement = await conn.fetchrow(
        """
        insert into group_announcements (group_id, author_id, title, body, created_at)
        values ($1, $2, $3, $4, coalesce($5, now()))
        returning id, group_id, author_id, title, body, created_at
        """,
        group_id,
        author_id,
        title,
        body,
        at,
    )
    assert announcement is not None  # insert ... returning: always its row
    return announcement


async def announcements(
    conn: asyncpg.Connection, group_id: UUID, before_id: int | None, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        select id, group_id, author_id, title, body, created_at from group_announcements
        where group_id = $1 and ($2::bigint is null or id < $2)
        order by id desc limit $3
        """,
        group_id,
        before_id,
        limit,
    )


async def set_calendar_feed(conn: asyncpg.Connection, person_id: UUID, token_hash: bytes) -> None:
    await conn.execute(
        """
        insert into calendar_feeds (person_id, token_hash) values ($1, $2)
        on conflict (person_id) do update set token_hash = excluded.token_hash, created_at = now()
        """,
        person_id,
        token_hash,
    )


async def delete_calendar_feed(conn: asyncpg.Connection, person_id: UUID) -> bool:
    return await conn.fetchval("delete from calendar_feeds where person_id = $1 returning true", person_id) or False


async def calendar_feed_owner(conn: asyncpg.Connection, token_hash: bytes) -> UUID | None:
    owner: UUID | None = await conn.fetchval(
        """
        select f.person_id from calendar_feeds f join people p on p.id = f.person_id
        where f.token_hash = $1 and p.is_active
        """,
        token_hash,
    )
    return owner


async def rsvped_sessions(
    conn: asyncpg.Connection, person_id: UUID, start: dt.datetime, end: dt.datetime
) -> list[asyncpg.Record]:
    """Sessions the person said they are going to, with what a calendar entry needs."""
    return await conn.fetch(
        """
        select s.id, s.starts_at, s.ends_at, s.status, s.note, s.updated_at, g.name, g.format, g.address,
               g.conference_url, g.timezone
        from session_rsvps r
        join group_sessions s on s.id = r.session_id
        join groups g on g.id = s.group_id and g.archived_at is null
        join group_members m on m.group_id = g.id and m.person_id = r.person_id and m.status = 'member'
        where r.person_id = $1 and r.status = 'going' and s.starts_at < $3 and s.ends_at > $2
        order by s.starts_at
        """,
        person_id,
        start,
        end,
    )


async def rsvps_by_session(conn: asyncpg.Connection, session_ids: list[str]) -> dict[str, dict[UUID, str]]:
    """Everyone's RSVP to these sessions: {session id: {person id: status}}."""
    rows = await conn.fetch(
        "select session_id, person_id, status from session_rsvps where session_id = any($1::text[])", session_ids
    )
    answers: dict[str, dict[UUID, str]] = {}
    for row in rows:
        answers.setdefault(row["session_id"], {})[row["person_id"]] = row["status"]
    return answers
