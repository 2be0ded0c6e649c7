"""Writing notifications: called inside the transaction of the event that causes them, so
the inbox entry and the push to send exist exactly when the event does."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import TypedDict, Unpack
from uuid import UUID

import asyncpg

from db import notifications as notifications_db
from notifications.templates import Content

# Content for one recipient, given their IANA time zone (times in the text are theirs).
Render = Callable[[str], Content]


class NotifyOptions(TypedDict, total=False):
    """`notify`'s keyword arguments, for those who pass them on."""

    dedup_key: str | None
    urgent: bool
    not_before: dt.datetime | None
    expires_at: dt.datetime | None
    at: dt.datetime | None


async def notify(
    conn: asyncpg.Connection,
    person_ids: Sequence[UUID],
    render: Render | Content,
    *,
    dedup_key: str | None = None,
    urgent: bool = False,
    not_before: dt.datetime | None = None,
    expires_at: dt.datetime | None = None,
    at: dt.datetime | None = None,
) -> list[asyncpg.Record]:
    """One notification per active person among `person_ids` (others get none). With a
    dedup key, a person who has one with that key already gets no second. Returns (id,
    person_id) of each written. `at`: when it was written, if not now (the demo's history)."""
    recipients = await notifications_db.active_recipients(conn, person_ids)
    by_zone: dict[str, Content] = {}
    rows = []
    now = not_before or at or dt.datetime.now(dt.UTC)
    for person in recipients:
        zone = person["timezone"]
        if zone not in by_zone:
            by_zone[zone] = render if isinstance(render, Content) else render(zone)
        content = by_zone[zone]
        rows.append(
            notifications_db.NewNotification(
                person_id=person["id"],
                kind=content.kind,
                dedup_key=dedup_key,
                title=content.title,
                body=content.body,
                push_title=content.push_title,
                push_body=content.push_body,
                data_json=json.dumps({"kind": content.kind, **content.data}),
                urgent=urgent,
                not_before=now,
                expires_at=expires_at,
                created_at=at,
            )
        )
    return await notifications_db.insert_many(conn, rows)


async def notify_group(
    conn: asyncpg.Connection,
    group_id: UUID,
    render: Render | Content,
    *,
    exclude: UUID | None = None,
    **options: Unpack[NotifyOptions],
) -> list[asyncpg.Record]:
    """The same notification to every member of a group (not the waitlist)."""
    members = [m for m in await notifications_db.group_member_ids(conn, group_id) if m != exclude]
    return await notify(conn, members, render, **options)
