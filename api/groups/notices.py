"""What group events tell people: a seat from the waitlist, a session cancelled or moved, an
announcement. Each is written in the transaction of its event (notifications/outbox.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import partial
from typing import Any
from uuid import UUID

import asyncpg

from db import groups as groups_db
from db import notifications as notifications_db
from notifications import templates
from notifications.kinds import cancellation_is_urgent
from notifications.outbox import notify, notify_group


async def seat_waitlist(conn: asyncpg.Connection, group_id: UUID) -> list[UUID]:
    """Fill free seats from the waitlist (the group locked) and tell each person seated."""
    promoted = await groups_db.promote_from_waitlist(conn, group_id)
    if promoted:
        name = await groups_db.group_name(conn, group_id)
        await notify(conn, promoted, templates.waitlist_seat(group_id=str(group_id), group_name=name))
    return promoted


async def session_cancelled(
    conn: asyncpg.Connection,
    *,
    session_id: str,
    group_id: UUID,
    starts_at: dt.datetime,
    reason: str | None,
    now: dt.datetime,
) -> None:
    """Members hear of it once; within two hours of the start it comes through quiet hours."""
    if starts_at > now:
        await _session_news(
            conn,
            templates.session_cancelled,
            group_id,
            dedup_key=f"cancelled:{session_id}",
            urgent=cancellation_is_urgent(starts_at, now),
            expires_at=starts_at,  # after the start the push is moot; the inbox keeps it
            session_id=session_id,
            starts_at=starts_at,
            reason=reason,
        )


async def session_moved(
    conn: asyncpg.Connection,
    *,
    session_id: str,
    group_id: UUID,
    old_starts_at: dt.datetime,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    reason: str | None,
    now: dt.datetime,
) -> None:
    """Written once per move (in its transaction): moved back and forth, members hear each time."""
    if starts_at > now:
        await _session_news(
            conn,
            templates.session_moved,
            group_id,
            dedup_key=None,
            # Moving a session that was about to start is, for those on their way, a
            # cancellation; moving one to start within two hours cannot wait either.
            urgent=cancellation_is_urgent(old_starts_at, now) or cancellation_is_urgent(starts_at, now),
            expires_at=starts_at,
            session_id=session_id,
            starts_at=starts_at,
            ends_at=ends_at,
            reason=reason,
        )


async def _session_news(
    conn: asyncpg.Connection,
    template: Callable[..., templates.Content],
    group_id: UUID,
    *,
    dedup_key: str | None,
    urgent: bool,
    expires_at: dt.datetime,
    **fields: Any,
) -> None:
    """A session's news to every member, each with the times in their own zone; reminders of
    it not pushed yet are stale now."""
    await notifications_db.expire_session_reminders(conn, fields["session_id"])
    render = partial(template, group_id=str(group_id), group_name=await groups_db.group_name(conn, group_id), **fields)
    await notify_group(
        conn, group_id, lambda zone: render(timezone=zone), dedup_key=dedup_key, urgent=urgent, expires_at=expires_at
    )


async def announced(
    conn: asyncpg.Connection,
    *,
    group_id: UUID,
    announcement_id: int,
    title: str,
    body: str,
    author_id: UUID,
    at: dt.datetime | None = None,
) -> None:
    content = templates.announcement(group_id=str(group_id), announcement_id=announcement_id, title=title, body=body)
    await notify_group(conn, group_id, content, exclude=author_id, dedup_key=f"announcement:{announcement_id}", at=at)
