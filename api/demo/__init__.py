"""Demo data for `aftercare up`: a small, plainly invented aftercare program with about four
months behind it, so that a newcomer signs in to a dashboard that has something to show.

Staff (an admin, two counselors, three facilitators), about 60 graduates at every stage of
the plan (a few not signed in yet), 7 peer groups with members, a waitlist, past sessions
and announcements, a week of group discussion (one post flagged by the crisis watch, one
reported), and 120 days of history made through the product's own rules: check-ins
submitted as the app would, the missed-check-in sweep run day by day, alerts worked by the
counselors. Deterministic: the same day gives the same program (dates count back from the
day it loads, in the program's zone). Loaded once; later runs find it and skip.

people.py: staff and graduates; groups.py: groups and sessions; discussions.py: posts;
circle.py: a support circle and a call for help; checkins.py: what each graduate answers, and
when; staff.py: counselors working alerts; history.py: the replay.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg

from api.auth import credentials
from api.auth.activation import Verifier, issue_activation_code, new_verifier
from api.auth.credentials import Hasher
from api.demo import circle, discussions, groups, history, people
from api.demo.people import ADMIN_EMAIL, COUNSELOR_EMAIL, COUNSELORS, FACILITATOR_EMAIL, PENDING, PROGRAM_ZONE
from api.demo.staff import Office
from api.demo.timeline import Timeline
from db import demo as demo_db
from db import people as people_db
from db.zones import zone_of

__all__ = ["ADMIN_EMAIL", "COUNSELOR_EMAIL", "FACILITATOR_EMAIL", "DemoLogins", "demo_graduate_codes", "load_demo"]

SEED = 1818


@dataclass
class DemoLogins:
    password: str
    activation_codes: dict[str, str] = field(default_factory=dict)  # the graduates not signed in yet


async def demo_graduate_codes(conn: asyncpg.Connection, hasher: Hasher) -> dict[str, str]:
    """For each demo graduate who was not signed in when the demo loaded: a fresh activation
    code while they still have not (the codes printed last time may be used or expired),
    else their status."""
    rows: dict[str, asyncpg.Record] = {}
    for email in COUNSELORS:
        counselor = await people_db.find_account_by_email(conn, email)
        if counselor is None:
            return {}
        caseload = await people_db.list_participants(
            conn, counselor_id=counselor["id"], status=None, after=None, limit=1000
        )
        rows |= {row["alias"]: row for row in caseload if row["alias"] in PENDING}
    codes = {}
    for alias in [a for a in PENDING if a in rows]:
        row = rows[alias]
        if row["status"] == "pending":
            verifier = await new_verifier(hasher)
            async with conn.transaction():
                codes[alias], _ = await issue_activation_code(conn, verifier, 7, row["id"], None)
        else:
            codes[alias] = (
                f"({row['status']}: signed in already)" if row["status"] == "active" else f"({row['status']})"
            )
    return codes


class NotEmpty(Exception):
    """The database holds people already: the demo loads only into an empty one."""

    def __init__(self, people: int) -> None:
        super().__init__(f"this database already holds {people} {'person' if people == 1 else 'people'}")
        self.people = people


async def load_demo(
    conn: asyncpg.Connection, hasher: Hasher, progress: Callable[[str], None] = print
) -> DemoLogins | None:
    """Create the demo program; None when it exists already. A database that holds other
    people is refused (`NotEmpty`): invented graduates must never join real ones on a
    counselor's watchlist."""
    if await people_db.find_account_by_email(conn, ADMIN_EMAIL) is not None:
        return None
    if people := await people_db.count_people(conn):
        raise NotEmpty(people)
    started = time.monotonic()
    now = dt.datetime.now(dt.UTC)
    password = secrets.token_urlsafe(12)
    # argon2 before the transaction (the staff share one password).
    password_hash = await hasher.hash(password)
    pending_verifiers = [await new_verifier(hasher) for _ in PENDING]
    # The codes the active graduates redeemed long ago: never shown, used, so of no use to
    # anyone; one verifier for all, hashed at the cheapest cost.
    secret = credentials.new_verifier()
    redeemed = Verifier(secret, Hasher("cheapest").hash_sync(secret))
    # The product's functions read and write jsonb as Python values, as on the app's pool
    # connections (db/pool.py); the caller's connection is left as it came.
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    try:
        return await _load(conn, started, now, password, password_hash, pending_verifiers, redeemed, progress)
    finally:
        await conn.reset_type_codec("jsonb", schema="pg_catalog")


async def _load(
    conn: asyncpg.Connection,
    started: float,
    now: dt.datetime,
    password: str,
    password_hash: str,
    pending_verifiers: list[Verifier],
    redeemed: Verifier,
    progress: Callable[[str], None],
) -> DemoLogins:
    today = now.astimezone(zone_of(PROGRAM_ZONE)).date()
    async with conn.transaction():
        staff = await people.create_staff(conn, password_hash)
        progress(f"  staff: {len(staff)} (an admin, 2 counselors, 3 facilitators)")
        graduates = await people.enrol(
            conn, random.Random(f"{SEED}:people"), today, now, staff, pending_verifiers, redeemed
        )
        progress(f"  graduates: {len(graduates)} ({len(PENDING)} not signed in yet)")
        timeline = Timeline()
        demo_groups = await groups.create(conn, staff)
        group_rng = random.Random(f"{SEED}:groups")
        await groups.fill(conn, group_rng, demo_groups, graduates, now)
        sessions = await groups.history(conn, group_rng, demo_groups, now, timeline)
        progress(f"  groups: {len(demo_groups)}, {sessions} sessions stored")
        posts = await discussions.write(conn, random.Random(f"{SEED}:posts"), demo_groups, now)
        progress(f"  discussions: {posts} posts and replies, one crisis flag and one report to review")
        progress(f"  support circle: {await circle.write(conn, demo_groups, now)}")
        office = Office(conn, graduates, today, SEED)
        tally = await history.replay(conn, SEED, graduates, timeline, office, today, now, progress)
        states = await demo_db.alerts_by_status(conn)
    progress(
        f"  loaded in {time.monotonic() - started:.1f} s: {len(graduates)} graduates, {tally.checkins} check-ins,"
        f" {tally.sweep.get('missed_recorded', 0)} missed, {sum(states.values())} alerts"
        f" ({states.get('open', 0)} open, {states.get('acknowledged', 0)} acknowledged,"
        f" {states.get('resolved', 0)} resolved)"
    )
    return DemoLogins(password, {g.spec.alias: g.code for g in graduates if g.code is not None})
