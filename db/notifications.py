"""Notifications: the outbox the dispatcher claims and finishes, and the inbox people read."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import NamedTuple
from uuid import UUID

import asyncpg


class NewNotification(NamedTuple):
    person_id: UUID
    kind: str
    dedup_key: str | None
    title: str
    body: str
    push_title: str
    push_body: str
    data_json: str
    urgent: bool
    not_before: dt.datetime
    expires_at: dt.datetime | None
    created_at: dt.datetime | None = None  # None: the database's now (the demo's history passes past ones)


async def insert_many(conn: asyncpg.Connection, rows: Sequence[NewNotification]) -> list[asyncpg.Record]:
    """Write notifications in one statement; a row whose (person, dedup key) exists already
    is skipped. Returns (id, person_id) of those written."""
    if not rows:
        return []
    columns = list(zip(*rows, strict=True))
    records = await conn.fetch(
        """
        insert into notifications (person_id, kind, dedup_key, title, body, push_title, push_body, data,
                                   urgent, not_before, expires_at, created_at)
        select person_id, kind, dedup_key, title, body, push_title, push_body, data::jsonb,
               urgent, not_before, expires_at, coalesce(created_at, now())
        from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                    $8::text[], $9::boolean[], $10::timestamptz[], $11::timestamptz[], $12::timestamptz[])
             as n(person_id, kind, dedup_key, title, body, push_title, push_body, data, urgent, not_before, expires_at,
                  created_at)
        on conflict (person_id, dedup_key) do nothing
        returning id, person_id
        """,
        *[list(column) for column in columns],
    )
    return records


async def active_recipients(conn: asyncpg.Connection, person_ids: Sequence[UUID]) -> list[asyncpg.Record]:
    """(id, timezone) of the people among these who are active."""
    return await conn.fetch(
        "select id, timezone from people where id = any($1::uuid[]) and is_active order by id", list(person_ids)
    )


async def group_member_ids(conn: asyncpg.Connection, group_id: UUID) -> list[UUID]:
    rows = await conn.fetch(
        "select person_id from group_members where group_id = $1 and status = 'member' order by person_id", group_id
    )
    return [r["person_id"] for r in rows]


async def group_post_subscribers(conn: asyncpg.Connection, group_id: UUID, author_id: UUID, kind: str) -> list[UUID]:
    """Members who switched on news of new posts in their groups (a default-off kind), other
    than the author and those who blocked the author."""
    rows = await conn.fetch(
        """
        select m.person_id from group_members m
        join notification_preferences np on np.person_id = m.person_id and $3 = any(np.enabled_kinds)
        where m.group_id = $1 and m.status = 'member' and m.person_id <> $2
          and not exists (select from person_blocks b where b.blocker_id = m.person_id and b.blocked_id = $2)
        order by m.person_id
        """,
        group_id,
        author_id,
        kind,
    )
    return [r["person_id"] for r in rows]


async def expire_session_reminders(conn: asyncpg.Connection, session_id: str) -> int:
    """A session cancelled or moved: reminders of it not pushed yet never will be."""
    status = await conn.execute(
        """
        update notifications set push_state = 'expired'
        where push_state = 'pending' and kind = 'session_reminder' and data ->> 'session_id' = $1
        """,
        session_id,
    )
    return int(status.split()[-1])


# --- the dispatcher's side -----------------------------------------------------------------

CLAIM = """
with due as (
    select id from notifications
    where (push_state = 'pending' and not_before <= $1)
       or (push_state = 'sending' and lease_until <= $1)      -- its worker died mid-batch
    order by urgent desc, not_before, id
    limit $2
    for update skip locked
), claimed as (
    update notifications n
    -- A claim counts as an attempt (given back when nothing is pushed), so a batch that
    -- kills its worker every time cannot come back forever.
    set push_state = 'sending', claim_id = $3, lease_until = $1 + make_interval(secs => $4), attempts = n.attempts + 1
    from due where n.id = due.id
    returning n.id, n.person_id, n.kind, n.push_title, n.push_body, n.data::text as data_json, n.urgent,
              n.attempts, n.expires_at, n.delivered_devices
)
select c.*, p.timezone, p.is_active,
       coalesce(np.disabled_kinds, '{}') as disabled_kinds,
       coalesce(np.enabled_kinds, '{}') as enabled_kinds,
       case when np.person_id is null then time '22:00' else np.quiet_start end as quiet_start,
       case when np.person_id is null then time '08:00' else np.quiet_end end as quiet_end
from claimed c
join people p on p.id = c.person_id
left join notification_preferences np on np.person_id = c.person_id
order by c.urgent desc, c.id
"""


async def claim(
    conn: asyncpg.Connection, now: dt.datetime, limit: int, lease_s: float, claim_id: UUID
) -> list[asyncpg.Record]:
    """Claim up to `limit` due notifications for this worker, with the recipient's settings.
    Rows another worker holds are skipped (SKIP LOCKED), and a claim is a lease: if this
    worker dies before finishing, the rows come due again when the lease runs out."""
    return await conn.fetch(CLAIM, now, limit, claim_id, float(lease_s))


async def fail_abandoned(conn: asyncpg.Connection, now: dt.datetime, max_attempts: int) -> int:
    """Rows whose workers died holding them, again and again: failed, not claimed again."""
    status = await conn.execute(
        """
        update notifications
        set push_state = 'failed', last_error = 'abandoned by its workers', claim_id = null, lease_until = null
        where push_state = 'sending' and lease_until <= $1 and attempts >= $2
        """,
        now,
        max_attempts,
    )
    return int(status.split()[-1])


async def extend_lease(conn: asyncpg.Connection, claim_id: UUID, until: dt.datetime, ids: Iterable[int]) -> set[int]:
    """Keep holding these rows a while longer; returns those still held by this claim (a row
    whose lease ran out may have gone to another worker: not ours to send any more)."""
    rows = await conn.fetch(
        """
        update notifications set lease_until = greatest(lease_until, $2)
        where claim_id = $1 and id = any($3::bigint[])
        returning id
        """,
        claim_id,
        until,
        list(ids),
    )
    return {r["id"] for r in rows}


async def devices_of(conn: asyncpg.Connection, person_ids: Sequence[UUID]) -> list[asyncpg.Record]:
    return await conn.fetch(
        "select id, person_id, token, platform from devices where person_id = any($1::uuid[]) order by id",
        list(person_ids),
    )


class OutboxDepth(NamedTuple):
    """The outbox now (the worker's metrics): notifications still to push, by state."""

    due: int  # pending and due: the next claims take them
    scheduled: int  # pending, due later (quiet hours, a retry's backoff, a later reminder)
    claimed: int  # a worker holds them (lease running)
    lease_expired: int  # their worker stopped mid-batch: due again
    oldest_due_s: float  # how long the longest-waiting due one is past its time (0: none due)


# Only the rows still to push, through the two partial indexes the dispatcher claims by
# (a BitmapOr): sent, failed and other finished rows stay in the table as the inbox, and are
# never read here, so a refresh costs the same however long the program has run.
OUTBOX_DEPTH = """
select count(*) filter (where push_state = 'pending' and not_before <= $1) as due,
       count(*) filter (where push_state = 'pending' and not_before > $1) as scheduled,
       count(*) filter (where push_state = 'sending' and lease_until > $1) as claimed,
       count(*) filter (where push_state = 'sending' and lease_until <= $1) as lease_expired,
       coalesce(extract(epoch from $1 - min(not_before) filter (where push_state = 'pending' and not_before <= $1)),
                0)::float8 as oldest_due_s
from notifications
where push_state = 'pending' or push_state = 'sending'
"""


async def outbox_depth(conn: asyncpg.Connection, now: dt.datetime) -> OutboxDepth:
    """How many notifications are waiting, by state, in one statement."""
    row = await conn.fetchrow(OUTBOX_DEPTH, now)
    assert row is not None  # aggregates without `group by`: always one row
    return OutboxDepth(row["due"], row["scheduled"], row["claimed"], row["lease_expired"], row["oldest_due_s"])


class Finish(NamedTuple):
    id: int
    state: str  # pending (retry later), sent, failed, opted_out, no_device, expired
    not_before: dt.datetime | None  # for pending
    attempted: bool  # whether a push was tried this time
    delivered: list[int]  # device ids that have it, so far
    error: str | None


async def finish(conn: asyncpg.Connection, claim_id: UUID, now: dt.datetime, rows: Sequence[Finish]) -> int:
    """Record how each claimed notification ended. Only this claim's rows change: a row
    whose lease ran out and was claimed again belongs to the newer claim."""
    if not rows:
        return 0
    status = await conn.execute(
        """
        update notifications n
        set push_state = f.state,
            not_before = coalesce(f.not_before, n.not_before),
            attempts = n.attempts - (not f.attempted)::int,  -- the claim counted one
            delivered_devices = f.delivered::bigint[],  -- each a "{1,2}" literal: arrays of arrays are not ragged-safe
            sent_at = case when f.state = 'sent' then $2 else n.sent_at end,
            last_error = f.error,
            claim_id = null,
            lease_until = null
        from unnest($3::bigint[], $4::text[], $5::timestamptz[], $6::boolean[], $7::text[], $8::text[])
             as f(id, state, not_before, attempted, delivered, error)
        where n.id = f.id and n.claim_id = $1
        """,
        claim_id,
        now,
        [r.id for r in rows],
        [r.state for r in rows],
        [r.not_before for r in rows],
        [r.attempted for r in rows],
        ["{" + ",".join(map(str, r.delivered)) + "}" for r in rows],
        [r.error for r in rows],
    )
    return int(status.split()[-1])


class Delivery(NamedTuple):
    notification_id: int
    device_id: int
    attempt: int
    outcome: str
    error_code: str | None
    message_id: str | None


async def log_deliveries(conn: asyncpg.Connection, now: dt.datetime, rows: Sequence[Delivery]) -> None:
    """Log push attempts; those of notifications deleted meanwhile (an account deleted during
    the send) are left out."""
    if not rows:
        return
    columns = [list(c) for c in zip(*rows, strict=True)]
    await conn.execute(
        """
        insert into notification_deliveries (notification_id, device_id, attempt, outcome, error_code, message_id, at)
        select u.*, $7 from unnest($1::bigint[], $2::bigint[], $3::int[], $4::text[], $5::text[], $6::text[])
             as u(notification_id, device_id, attempt, outcome, error_code, message_id)
        where exists (select from notifications n where n.id = u.notification_id)
        """,
        *columns,
        now,
    )


async def delete_devices(conn: asyncpg.Connection, device_ids: Sequence[int]) -> int:
    if not device_ids:
        return 0
    status = await conn.execute("delete from devices where id = any($1::bigint[])", list(device_ids))
    return int(status.split()[-1])


# --- the inbox -----------------------------------------------------------------------------

INBOX_COLUMNS = "id, kind, title, body, data, urgent, created_at, read_at"


async def inbox(
    conn: asyncpg.Connection, person_id: UUID, *, before_id: int | None, unread_only: bool, limit: int
) -> list[asyncpg.Record]:
    """Newest first; `before_id` is the last id of the previous page."""
    return await conn.fetch(
        f"""
        select {INBOX_COLUMNS} from notifications
        where person_id = $1 and ($2::bigint is null or id < $2) and (not $3 or read_at is null)
        order by id desc limit $4
        """,
        person_id,
        before_id,
        unread_only,
        limit,
    )


async def unread_count(conn: asyncpg.Connection, person_id: UUID) -> int:
    count: int = await conn.fetchval(
        "select count(*) from notifications where person_id = $1 and read_at is null", person_id
    )
    return count


async def mark_read(conn: asyncpg.Connection, person_id: UUID, notification_id: int) -> asyncpg.Record | None:
    """The caller's own notification, now read (the first reading's time stays)."""
    return await conn.fetchrow(
        f"""
        update notifications set read_at = coalesce(read_at, now())
        where id = $2 and person_id = $1
        returning {INBOX_COLUMNS}
        """,
        person_id,
        notification_id,
    )


async def mark_all_read(conn: asyncpg.Connection, person_id: UUID) -> int:
    status = await conn.execute(
        "update notifications set read_at = now() where person_id = $1 and read_at is null", person_id
    )
    return int(status.split()[-1])
