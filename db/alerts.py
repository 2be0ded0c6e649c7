"""Alerts and their timeline."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg

from db import engagement
from db.sql import Params

ALERT_COLUMNS = """
    a.id, a.person_id, a.kind, a.severity, a.status, a.reasons, a.details, a.opened_at, a.updated_at,
    a.acknowledged_at, a.acknowledged_by, a.resolved_at, a.resolved_by, a.resolution_note
"""


async def raise_alert(
    conn: asyncpg.Connection,
    person_id: UUID,
    kind: str,
    severity: int,
    reason: dict[str, Any],
    checkin_id: UUID | None,
    at: dt.datetime | None = None,
) -> int:
    """Open an alert of this kind, or add the reason to the one already open (its severity
    rises to the highest seen, and an acknowledged alert opens again on worse, high or
    critical news); record either on the timeline. Returns the alert id. `at`: when, if
    not the database's now (the demo's history is dated back)."""
    alert_id: int = await conn.fetchval(
        "select alert_raise($1, $2, $3, $4, $5, $6)", person_id, kind, severity, reason, checkin_id, at
    )
    return alert_id


async def note_checkin(
    conn: asyncpg.Connection, person_id: UUID, checkin_id: UUID, at: dt.datetime | None = None
) -> None:
    """A check-in shows on every alert of the person still open (unless it opened it)."""
    await conn.execute("select alert_note_checkin($1, $2, $3)", person_id, checkin_id, at)


async def list_alerts(
    conn: asyncpg.Connection,
    *,
    statuses: Sequence[str] | None,
    min_severity: int | None,
    counselor_id: UUID | None,
    person_ids: list[UUID] | None,
    after: tuple[int, Any, int] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Most severe first, then oldest first (who has waited longest)."""
    params = Params()
    if statuses:
        params.where("a.status = any({})", statuses)
    if min_severity is not None:
        params.where("a.severity >= {}", min_severity)
    if counselor_id is not None:
        params.where("pp.counselor_id = {}", counselor_id)
    if person_ids:
        params.where("a.person_id = any({})", person_ids)
    if after is not None:
        params.where("(-a.severity, a.opened_at, a.id) > ({}, {}, {})", -after[0], after[1], after[2])
    return await conn.fetch(
        f"""
        select {ALERT_COLUMNS}, p.name as alias, pp.counselor_id
        from alerts a
        join people p on p.id = a.person_id
        join participant_profiles pp on pp.person_id = a.person_id
        where {params.clause()}
        order by a.severity desc, a.opened_at, a.id
        limit {params.add(limit)}
        """,
        *params.values,
    )


async def get(conn: asyncpg.Connection, alert_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""
        select {ALERT_COLUMNS}, p.name as alias, pp.counselor_id
        from alerts a
        join people p on p.id = a.person_id
        join participant_profiles pp on pp.person_id = a.person_id
        where a.id = $1
        """,
        alert_id,
    )


async def lock(conn: asyncpg.Connection, alert_id: int) -> asyncpg.Record | None:
    """The alert, locked, after its graduate's state row (taken first by every writer of it:
    db/engagement.py `hold`), so staff acting on it never deadlock with the sweep."""
    person_id = await conn.fetchval("select person_id from alerts where id = $1", alert_id)
    if person_id is not None:
        await engagement.hold(conn, [person_id])
    return await conn.fetchrow("select id, person_id, status from alerts where id = $1 for update", alert_id)


async def timelines(conn: asyncpg.Connection, alert_ids: list[int]) -> list[asyncpg.Record]:
    """The events of these alerts, each alert's in order, with who acted by name (a staff
    member who left keeps their name on what they did)."""
    return await conn.fetch(
        """
        select e.alert_id, e.id, e.at, e.actor_id, p.name as actor_name, e.kind, e.checkin_id, e.channel, e.reached,
               e.note, e.details
        from alert_events e
        left join people p on p.id = e.actor_id
        where e.alert_id = any($1::bigint[])
        order by e.alert_id, e.id
        """,
        alert_ids,
    )


async def checkins_behind(conn: asyncpg.Connection, alert_ids: list[int]) -> list[asyncpg.Record]:
    """For each of these alerts raised by a check-in, the latest check-in that raised it or
    added a reason to it (missed check-ins raise alerts with none)."""
    return await conn.fetch(
        """
        select distinct on (e.alert_id) e.alert_id, c.id, c.client_id, c.client_time, c.received_at, c.local_date,
               c.mood, c.craving, c.used, c.sleep, c.need_support, c.note, c.phq2, c.gad2, c.risk_reasons
        from alert_events e
        join checkins c on c.id = e.checkin_id
        where e.alert_id = any($1::bigint[]) and e.kind in ('opened', 'reason')
        order by e.alert_id, e.id desc
        """,
        alert_ids,
    )


async def has_outreach(conn: asyncpg.Connection, alert_id: int) -> bool:
    outreach: bool = await conn.fetchval(
        "select exists (select from alert_events where alert_id = $1 and kind = 'outreach')", alert_id
    )
    return outreach


async def acknowledge(conn: asyncpg.Connection, alert_id: int, actor_id: UUID, at: dt.datetime | None = None) -> None:
    await conn.execute(
        """
        update alerts set status = 'acknowledged', acknowledged_at = coalesce($3, now()), acknowledged_by = $2,
                          updated_at = coalesce($3, now())
        where id = $1
        """,
        alert_id,
        actor_id,
        at,
    )
    await conn.execute(
        "insert into alert_events (alert_id, actor_id, kind, at) values ($1, $2, 'acknowledged', coalesce($3, now()))",
        alert_id,
        actor_id,
        at,
    )


async def log_outreach(
    conn: asyncpg.Connection,
    alert_id: int,
    actor_id: UUID,
    channel: str,
    reached: bool,
    note: str | None,
    at: dt.datetime | None = None,
) -> None:
    await conn.execute(
        """
        insert into alert_events (alert_id, actor_id, kind, channel, reached, note, at)
        values ($1, $2, 'outreach', $3, $4, $5, coalesce($6, now()))
        """,
        alert_id,
        actor_id,
        channel,
        reached,
        note,
        at,
    )
    await conn.execute("update alerts set updated_at = coalesce($2, now()) where id = $1", alert_id, at)


async def resolve(
    conn: asyncpg.Connection, alert_id: int, actor_id: UUID, note: str | None, at: dt.datetime | None = None
) -> None:
    await conn.execute(
        """
        update alerts set status = 'resolved', resolved_at = coalesce($4, now()), resolved_by = $2,
                          resolution_note = $3, updated_at = coalesce($4, now())
        where id = $1
        """,
        alert_id,
        actor_id,
        note,
        at,
    )
    await conn.execute(
        "insert into alert_events (alert_id, actor_id, kind, note, at) values ($1, $2, 'resolved', $3, coalesce($4, now()))",
        alert_id,
        actor_id,
        note,
        at,
    )
