"""The demo's peer support groups: schedules, facilitators, members and a waitlist, past
sessions with RSVPs and attendance (one cancelled), the coming week's RSVPs, and
announcements (dated on the history's timeline, so each member's inbox has them in order).
Places and links are plainly fictional."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from uuid import UUID

import asyncpg

from api.demo.people import FACILITATORS, PROGRAM_ZONE, Enrolled
from api.demo.timeline import Step, Timeline
from api.groups import notices
from api.groups.service import sessions_between, set_schedule, store_session
from db import groups as groups_db
from db import sessions as sessions_db

T = dt.time
# slug, name, format, topics, slots (ISO weekday, start, end), address, lat, lon, capacity, facilitators
_GROUPS = [
    ("demo-tuesday-circle", "Tuesday Evening Circle", "in_person", ["relapse_prevention"],
     [(2, T(19), T(20, 30))], "100 Example Ave, Springfield", 41.881, -87.629, 14, [0]),
    ("demo-morning-online", "Morning Check-in (online)", "online", ["newcomers", "meditation"],
     [(1, T(7, 30), T(8, 15)), (3, T(7, 30), T(8, 15)), (5, T(7, 30), T(8, 15))], None, None, None, 20, [1]),
    ("demo-women-hybrid", "Women in Recovery", "hybrid", ["women"],
     [(4, T(18), T(19, 30))], "200 Sample St, Springfield", 41.874, -87.641, 12, [2]),
    ("demo-skills-lab", "Relapse Prevention Skills", "in_person", ["relapse_prevention"],
     [(6, T(10), T(11, 30))], "100 Example Ave, Room 2, Springfield", 41.881, -87.629, 8, [0, 2]),
    ("demo-young-adults", "Young Adults Meetup", "in_person", ["young_adults"],
     [(5, T(18, 30), T(20))], "300 Placeholder Rd, Springfield", 41.902, -87.655, 15, [1]),
    ("demo-family-night", "Family Night", "hybrid", ["family"],
     [(3, T(19), T(20, 30))], "200 Sample St, Springfield", 41.874, -87.641, 16, [2]),
    ("demo-sunday-online", "Sunday Evening Reflection (online)", "online", ["meditation"],
     [(7, T(19), T(20))], None, None, None, None, [1, 0]),
]  # fmt: skip
FULL_GROUP = "demo-skills-lab"  # full, with people waiting
ANNOUNCEMENTS = [
    ("Room change next week", "We meet in the small room at the back next week. Same time."),
    ("Bring a friend night", "Next session is open to a supportive friend or family member."),
    ("New reading list", "The facilitator has a short reading list; ask for it at the next session."),
    ("Holiday schedule", "We keep our usual time over the holidays. Come as you are."),
]
WEEKS_OF_SESSIONS = 8


@dataclass
class DemoGroup:
    id: UUID
    slug: str
    facilitator_ids: list[UUID]
    members: list[UUID] = field(default_factory=list)
    waitlist: list[UUID] = field(default_factory=list)
    joined: dict[UUID, dt.datetime] = field(default_factory=dict)


async def create(conn: asyncpg.Connection, staff: dict[str, asyncpg.Record]) -> list[DemoGroup]:
    groups = []
    for slug, name, fmt, topics, slots, address, lat, lon, capacity, leads in _GROUPS:
        group_id = await groups_db.insert_group(
            conn,
            {
                "slug": slug,
                "name": name,
                "format": fmt,
                "topics": topics,
                "timezone": PROGRAM_ZONE,
                "address": address,
                "latitude": lat,
                "longitude": lon,
                "conference_url": f"https://meet.example/{slug}" if fmt != "in_person" else None,
                "capacity": capacity,
                "description": "A peer support group for people after IOP. Come as you are.",
                "is_public": fmt != "online",  # online links stay out of the public feed
            },
        )
        await set_schedule(conn, group_id, slots)
        facilitators = [staff[FACILITATORS[i]]["id"] for i in leads]
        await groups_db.replace_facilitators(conn, group_id, facilitators)
        groups.append(DemoGroup(group_id, slug, facilitators))
    return groups


async def _join(conn: asyncpg.Connection, group: DemoGroup, person_id: UUID, since: dt.datetime) -> None:
    """As the app's join does: a seat if one is free, else the waitlist."""
    row = await groups_db.lock_group(conn, group.id)
    assert row is not None  # the demo made the group
    if await groups_db.membership(conn, group.id, person_id) is not None:
        return
    full = row["capacity"] is not None and row["member_count"] >= row["capacity"]
    await groups_db.add_member(conn, group.id, person_id, "waitlisted" if full else "member", since)
    (group.waitlist if full else group.members).append(person_id)
    group.joined[person_id] = since


def _joined_at(rng: random.Random, graduate: Enrolled, now: dt.datetime) -> dt.datetime:
    """A few days to a few weeks after they started using the app."""
    assert graduate.activated_at is not None  # only settled graduates join (fill)
    return min(graduate.activated_at + dt.timedelta(days=rng.randint(2, 20), hours=rng.randint(0, 10)), now)


async def fill(
    conn: asyncpg.Connection, rng: random.Random, groups: list[DemoGroup], graduates: list[Enrolled], now: dt.datetime
) -> None:
    """Graduates active for a month or more join a group or two; one group fills up and has
    people waiting. (Newer graduates have not found a group yet.)"""
    settled = [g for g in graduates if g.activated_at is not None and g.activated_at < now - dt.timedelta(days=30)]
    full = next(g for g in groups if g.slug == FULL_GROUP)
    for graduate in rng.sample(settled, 11):  # 8 seats, 3 waiting
        await _join(conn, full, graduate.id, _joined_at(rng, graduate, now))
    others = [g for g in groups if g is not full]
    for graduate in settled:
        for group in rng.sample(others, rng.choice([0, 1, 1, 1, 2])):
            await _join(conn, group, graduate.id, _joined_at(rng, graduate, now))


async def history(
    conn: asyncpg.Connection, rng: random.Random, groups: list[DemoGroup], now: dt.datetime, timeline: Timeline
) -> int:
    """Past sessions with RSVPs and the facilitator's attendance; RSVPs for the coming week;
    one past session cancelled; announcements on the timeline. Returns the sessions stored."""
    by_id = {g.id: g for g in groups}
    start, end = now - dt.timedelta(weeks=WEEKS_OF_SESSIONS), now + dt.timedelta(days=7)
    sessions = await sessions_between(conn, list(by_id), start, end, None)
    cancelled = next(s for s in sessions if s.ends_at < now - dt.timedelta(days=14))
    for session in sessions:
        group = by_id[session.group_id]
        await store_session(conn, session)
        if session is cancelled:
            await sessions_db.cancel(conn, session.id, "The room was not available that day.")
            continue
        past = session.ends_at < now
        attendance = []
        for person_id in group.members:
            draw = rng.random()
            if group.joined[person_id] > session.starts_at:
                continue  # not in the group yet
            rsvp = "going" if draw < 0.6 else "not_going" if draw < 0.7 else None
            if rsvp is not None and (past or session.starts_at > now):
                await sessions_db.set_rsvp(conn, session.id, person_id, rsvp)
            if past:
                came = rng.random() < (0.85 if rsvp == "going" else 0.2)
                status = "excused" if rsvp == "not_going" else "present" if came else "absent"
                attendance.append((person_id, status))
        if past and attendance:
            await sessions_db.set_attendance(conn, session.id, attendance, "facilitator", group.facilitator_ids[0])
    for group in groups:
        for title, body in rng.sample(ANNOUNCEMENTS, 2):
            at = now - dt.timedelta(days=rng.randint(1, 27), minutes=rng.randint(0, 600))
            timeline.at(at, _announce(conn, group, title, body, at))
    return len(sessions)


def _announce(conn: asyncpg.Connection, group: DemoGroup, title: str, body: str, at: dt.datetime) -> Step:
    async def announce() -> None:
        author = group.facilitator_ids[0]
        row = await sessions_db.add_announcement(conn, group.id, author, title, body, at=at)
        await notices.announced(
            conn, group_id=group.id, announcement_id=row["id"], title=title, body=body, author_id=author, at=at
        )

    return announce
