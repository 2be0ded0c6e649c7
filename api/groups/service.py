"""Group rules shared by the routes: who may see or manage a group, and sessions as the
union of the schedule and the stored overrides."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from api.groups import notices
from api.groups import schedule as rules
from api.groups.schemas import Facilitator, Group, Session, SlotOut
from api.problems import found
from api.security import ADMIN, STAFF, Principal
from db import groups as groups_db
from db import sessions as sessions_db
from db.zones import python_zone

SCHEDULE_CHANGED = "The group's schedule changed."
WEEKDAY_NUMBER = {name: number for number, name in enumerate(rules.WEEKDAYS, start=1)}


def slot_tuples(schedule: list[Any]) -> list[tuple[int, dt.time, dt.time]]:
    """(weekday number, start, end) from request slots."""
    return [(WEEKDAY_NUMBER[s.weekday], dt.time.fromisoformat(s.start), dt.time.fromisoformat(s.end)) for s in schedule]


async def set_schedule(conn: asyncpg.Connection, group_id: UUID, slots: list[tuple[int, dt.time, dt.time]]) -> None:
    """Store a group's weekly schedule. Slots keep their numbers where they match the old
    schedule (see schedule.number_slots), and stored future sessions follow the change."""
    [row] = await sessions_db.schedules(conn, [group_id])
    old = _group_times(row).slots
    numbered = rules.number_slots(old, slots)
    await groups_db.replace_schedule(conn, group_id, [(s.number, s.weekday, s.start, s.end) for s in numbered])
    if old:
        await apply_schedule_edit(conn, group_id, dt.datetime.now(dt.UTC))


def to_group(row: asyncpg.Record, viewer: Principal, *, detail: bool = False) -> Group:
    # The conference link is for people in the group (and those who run it), not the listing.
    insider = row["my_status"] == "member" or row["i_facilitate"] or viewer.has_any(STAFF, ADMIN)
    capacity = row["capacity"]
    return Group(
        id=row["id"],
        slug=row["slug"],
        name=row["name"],
        description=row["description"],
        topics=list(row["topics"]),
        format=row["format"],
        timezone=row["timezone"],
        schedule=[
            SlotOut(weekday=rules.WEEKDAYS[s["weekday"] - 1], start=s["start"], end=s["end"]) for s in row["schedule"]
        ],
        capacity=capacity,
        seats_left=None if capacity is None else max(capacity - row["member_count"], 0),
        member_count=row["member_count"],
        address=row["address"],
        latitude=row["latitude"],
        longitude=row["longitude"],
        conference_url=row["conference_url"] if insider else None,
        conference_phone=row["conference_phone"] if insider else None,
        public=row["is_public"],
        archived=row["archived_at"] is not None,
        my_status=row["my_status"],
        distance_km=round(row["distance_km"], 3) if row.get("distance_km") is not None else None,
        waitlist_position=row.get("waitlist_position") if row["my_status"] == "waitlisted" else None,
        facilitators=[Facilitator(id=UUID(f["id"]), name=f["name"]) for f in row["facilitators"]] if detail else None,
    )


async def visible_group(conn: asyncpg.Connection, group_id: UUID, viewer: Principal) -> asyncpg.Record:
    """The group as the viewer may see it; archived groups only for staff. Else 404."""
    row = found(await groups_db.get_group(conn, group_id, viewer.id), "group")
    if row["archived_at"] is not None and not viewer.has_any(STAFF, ADMIN):
        found(None, "group")
    return row


async def managed_group(conn: asyncpg.Connection, group_id: UUID, viewer: Principal) -> asyncpg.Record:
    """The group, if the viewer facilitates it (while it is active) or is staff; anyone else
    gets a 404, whether or not the group exists."""
    row = await groups_db.get_group(conn, group_id, viewer.id)
    staff = viewer.has_any(STAFF, ADMIN)
    if row is None or not (staff or (row["i_facilitate"] and row["archived_at"] is None)):
        found(None, "group")
    return row


@dataclass(frozen=True)
class GroupTimes:
    """What sessions are computed from."""

    id: UUID
    timezone: str
    slots: list[rules.Slot]
    archived: bool


def _group_times(row: asyncpg.Record) -> GroupTimes:
    slots = [
        rules.Slot(w, s, e, n)
        for w, s, e, n in zip(row["weekdays"], row["starts"], row["ends"], row["slots"], strict=True)
    ]
    return GroupTimes(row["id"], row["timezone"], slots, row["archived_at"] is not None)


def _session(source: rules.Occurrence | asyncpg.Record, group_id: UUID) -> Session:
    if isinstance(source, rules.Occurrence):
        return Session(
            id=source.id,
            group_id=group_id,
            local_date=source.local_date,
            starts_at=source.starts_at,
            ends_at=source.ends_at,
            status="scheduled",
            moved=False,
            note=None,
        )
    return Session(
        id=source["id"],
        group_id=source["group_id"],
        local_date=source["local_date"],
        starts_at=source["starts_at"],
        ends_at=source["ends_at"],
        status=source["status"],
        moved=source["moved"],
        note=source["note"],
    )


async def sessions_between(
    conn: asyncpg.Connection, group_ids: list[UUID], start: dt.datetime, end: dt.datetime, viewer_id: UUID | None
) -> list[Session]:
    """Sessions of these groups overlapping [start, end): computed from each schedule, with
    stored ones (moved, cancelled, referred to) in place of their computed twins. Three
    queries, however many groups."""
    # A group whose zone cannot be loaded has no computed sessions here (the reminders job
    # reports it to staff), rather than failing a listing or the metrics for every group.
    rows = await sessions_db.schedules(conn, group_ids)
    times = [_group_times(row) for row in rows if python_zone(row["timezone"]) is not None]
    by_id: dict[str, Session] = {}
    for group in times:
        for occurrence in rules.occurrences(group.id, group.slots, group.timezone, start, end):
            by_id[occurrence.id] = _session(occurrence, group.id)
    for row in await sessions_db.stored_in_range(conn, group_ids, start, end):
        by_id[row["id"]] = _session(row, row["group_id"])
    sessions = [s for s in by_id.values() if s.starts_at < end and s.ends_at > start]
    rsvps = await sessions_db.rsvps_of(conn, viewer_id, [s.id for s in sessions]) if viewer_id else {}
    for s in sessions:
        s.my_rsvp = rsvps.get(s.id)  # type: ignore[assignment]  # RSVP statuses: a CHECK constraint's
    return sorted(sessions, key=lambda s: (s.starts_at, s.id))


async def resolve_session(conn: asyncpg.Connection, session_id: str) -> Session:
    """The session with this id, stored or computed from the schedule; else a 404."""
    parsed = rules.parse_session_id(session_id)
    group_id, local_date, slot = found(parsed, "session")
    stored = await sessions_db.get_stored(conn, session_id)  # the id is canonical: one spelling
    if stored is not None:
        return _session(stored, stored["group_id"])
    rows = await sessions_db.schedules(conn, [group_id])
    found(rows or None, "session")  # no such group: an empty list, not None
    group = _group_times(rows[0])
    occurrence = found(rules.occurrence(group.id, group.slots, group.timezone, local_date, slot), "session")
    return _session(occurrence, group.id)


async def store_session(conn: asyncpg.Connection, session: Session) -> None:
    """Store a computed session once something refers to it."""
    parsed = rules.parse_session_id(session.id)
    assert parsed is not None
    await sessions_db.store(
        conn,
        session_id=session.id,
        group_id=session.group_id,
        local_date=parsed[1],
        slot=parsed[2],
        starts_at=session.starts_at,
        ends_at=session.ends_at,
    )


async def apply_schedule_edit(conn: asyncpg.Connection, group_id: UUID, now: dt.datetime) -> None:
    """After a schedule or time-zone edit: stored future sessions (they carry RSVPs) take the
    new times where their date still has a slot, and are cancelled where it has none.
    Sessions moved by hand keep their times."""
    [row] = await sessions_db.schedules(conn, [group_id])
    group = _group_times(row)
    orphaned, retimed = [], []
    for stored in await sessions_db.future_unmoved(conn, group_id, now):
        occurrence = rules.occurrence(group.id, group.slots, group.timezone, stored["local_date"], stored["slot"])
        if occurrence is None:
            orphaned.append(stored)
        elif (occurrence.starts_at, occurrence.ends_at) != (stored["starts_at"], stored["ends_at"]):
            retimed.append((stored, occurrence.starts_at, occurrence.ends_at))
    await sessions_db.retime(conn, [(stored["id"], starts, ends) for stored, starts, ends in retimed])
    await sessions_db.cancel_many(conn, [s["id"] for s in orphaned], SCHEDULE_CHANGED)
    # Stored sessions carry RSVPs: the members hear of each change.
    for stored in orphaned:
        if stored["status"] != "cancelled":
            await notices.session_cancelled(
                conn,
                session_id=stored["id"],
                group_id=group_id,
                starts_at=stored["starts_at"],
                reason=SCHEDULE_CHANGED,
                now=now,
            )
    for stored, starts_at, ends_at in retimed:
        if stored["status"] == "cancelled":
            continue
        await notices.session_moved(
            conn,
            session_id=stored["id"],
            group_id=group_id,
            old_starts_at=stored["starts_at"],
            starts_at=starts_at,
            ends_at=ends_at,
            reason=SCHEDULE_CHANGED,
            now=now,
        )
