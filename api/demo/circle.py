"""The demo's support circle: in the busiest group, one graduate's circle of two fellow
members and the group's facilitator, and one call for help two hours ago that a member
answered "I'm reaching out" (another "I can't right now"), so the participant page's
"Calls for help" and the watchlist's column have something to show."""

from __future__ import annotations

import datetime as dt

import asyncpg

from api.demo.groups import DemoGroup
from db import circle as circle_db

HELP_MESSAGE = "Rough evening, the cravings are loud. Could someone call me?"


async def write(conn: asyncpg.Connection, groups: list[DemoGroup], now: dt.datetime) -> str:
    """A sentence for the progress line; nothing where no group has three members."""
    week_ago = now - dt.timedelta(days=7)
    busy = [g for g in groups if len([m for m in g.members if g.joined[m] <= week_ago]) >= 3]
    if not busy:
        return "no group with three members a week ago: no circle"
    group = busy[0]
    # In the order they joined (as the demo's seed made it): the same people every load.
    owner, *members = [m for m in group.members if group.joined[m] <= week_ago][:3]
    circle = [*members, *group.facilitator_ids[:1]]
    joined = now - dt.timedelta(days=6)
    for member in circle:
        await circle_db.add_member(conn, owner, member, joined)
    asked_at = now - dt.timedelta(hours=2)
    request_id = await circle_db.add_request(conn, owner, HELP_MESSAGE, circle, asked_at)
    await circle_db.respond(conn, request_id, members[0], "reaching_out", asked_at + dt.timedelta(minutes=4))
    await circle_db.respond(conn, request_id, members[1], "cannot_now", asked_at + dt.timedelta(minutes=6))
    return f"a support circle of {len(circle)} and one call for help, answered"
