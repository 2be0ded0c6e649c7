"""Session reminders: a job the worker runs every minute or so."""

from __future__ import annotations

import datetime as dt
from typing import Literal
from uuid import UUID

import asyncpg

from api.groups.schemas import Session
from api.groups.service import sessions_between
from db import groups as groups_db
from db import notifications as notifications_db
from db import sessions as sessions_db
from db.job_health import Skip
from db.zones import python_zone
from notifications import templates
from notifications.outbox import Render, notify

Audience = Literal["rsvp", "members"]


async def session_reminders(
    conn: asyncpg.Connection, now: dt.datetime, lead: dt.timedelta, audience: Audience = "rsvp"
) -> int:
    """A reminder for each session starting within `lead` from now: to those who RSVP'd
    "going" ("rsvp"), or to every member who did not say "not going" ("members"). Once per
    person and session, however often this runs; it expires at the start. Returns how many
    were new."""
    group_ids = await groups_db.groups_with_members(conn)
    sessions = [
        s
        for s in await sessions_between(conn, group_ids, now, now + lead, viewer_id=None)
        if s.status == "scheduled" and now < s.starts_at <= now + lead
    ]
    if not sessions:
        return 0
    answers = await sessions_db.rsvps_by_session(conn, [s.id for s in sessions])
    names: dict[UUID, str] = {}
    written = 0
    for session in sessions:
        rsvps = answers.get(session.id, {})
        going = [p for p, status in rsvps.items() if status == "going"]
        others = []
        if audience == "members":
            members = await notifications_db.group_member_ids(conn, session.group_id)
            others = [p for p in members if p not in rsvps]
        if not going and not others:
            continue
        if session.group_id not in names:
            names[session.group_id] = await groups_db.group_name(conn, session.group_id)
        for people, rsvped in ((going, True), (others, False)):
            if people:
                written += len(
                    await notify(
                        conn,
                        people,
                        _reminder(session, names[session.group_id], rsvped),
                        # The start is in the key: a session moved later is reminded of again.
                        dedup_key=f"session:{session.id}:{int(session.starts_at.timestamp())}",
                        not_before=now,
                        expires_at=session.starts_at,
                    )
                )
    return written


def _reminder(session: Session, group_name: str, rsvped: bool) -> Render:
    """The reminder of `session`, worded in each person's time zone."""
    return lambda zone: templates.session_reminder(
        session_id=session.id,
        group_id=str(session.group_id),
        group_name=group_name,
        starts_at=session.starts_at,
        ends_at=session.ends_at,
        timezone=zone,
        rsvped=rsvped,
    )


async def groups_without_sessions(conn: asyncpg.Connection) -> list[Skip]:
    """Groups with members whose time zone cannot be loaded: no sessions can be worked out
    for them, so none of theirs is reminded of (sessions_between leaves them out)."""
    unusable = [z for z in await groups_db.zones_of_groups_with_members(conn) if python_zone(z) is None]
    if not unusable:
        return []
    return [
        Skip(None, row["id"], f"time zone {row['timezone']!r} cannot be loaded")
        for row in await groups_db.groups_with_members_in(conn, unusable)
    ]
