"""Demo data for `aftercare up`: an admin, a counselor, a facilitator, three groups and a few graduates,
so that a newcomer can sign in at once. Loaded once; later runs find it and skip."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field

import asyncpg

from api.auth.activation import issue_activation_code, new_verifier
from api.auth.credentials import Hasher
from api.groups.service import set_schedule
from db import groups as groups_db
from db import people as people_db

ADMIN_EMAIL = "admin@aftercare.example"
COUNSELOR_EMAIL = "counselor@aftercare.example"
FACILITATOR_EMAIL = "facilitator@aftercare.example"

_ACCOUNTS = [
    (ADMIN_EMAIL, "Demo Admin", ["admin", "staff"]),
    (COUNSELOR_EMAIL, "Casey (counselor)", ["staff"]),
    (FACILITATOR_EMAIL, "Pat (facilitator)", ["facilitator"]),
]
_GROUPS = [
    # slug, name, format, topics, slots (ISO weekday, start, end), address, lat, lon, conference URL
    (
        "demo-tuesday-circle",
        "Tuesday Evening Circle",
        "in_person",
        ["relapse_prevention"],
        [(2, dt.time(19), dt.time(20, 30))],
        "120 N LaSalle St, Chicago, IL",
        41.8840,
        -87.6324,
        None,
    ),
    (
        "demo-morning-online",
        "Morning Check-in (online)",
        "online",
        ["newcomers", "meditation"],
        [(1, dt.time(7, 30), dt.time(8, 15)), (3, dt.time(7, 30), dt.time(8, 15)), (5, dt.time(7, 30), dt.time(8, 15))],
        None,
        None,
        None,
        "https://meet.example/demo-morning",
    ),
    (
        "demo-women-hybrid",
        "Women in Recovery",
        "hybrid",
        ["women"],
        [(4, dt.time(18), dt.time(19, 30))],
        "1 E Jackson Blvd, Chicago, IL",
        41.8781,
        -87.6278,
        "https://meet.example/demo-women",
    ),
]
_GRADUATES = [
    ("Sam", "America/Chicago", 3),
    ("Alex", "America/New_York", 20),
    ("Jo", "America/Los_Angeles", 45),
    ("Riley", "America/Denver", 100),
    ("Maya", "America/Chicago", 1),
]


@dataclass
class DemoLogins:
    password: str
    activation_codes: dict[str, str] = field(default_factory=dict)


async def demo_graduate_codes(conn: asyncpg.Connection, hasher: Hasher) -> dict[str, str]:
    """For each demo graduate: a fresh activation code while they have not signed in yet
    (the codes printed last time may be used or expired), else their status."""
    counselor = await people_db.find_account_by_email(conn, COUNSELOR_EMAIL)
    if counselor is None:
        return {}
    caseload = await people_db.list_participants(
        conn, counselor_id=counselor["id"], status=None, after=None, limit=len(_GRADUATES) * 10
    )
    codes = {}
    order = [alias for alias, _, _ in _GRADUATES]
    for row in sorted(caseload, key=lambda r: order.index(r["alias"]) if r["alias"] in order else len(order)):
        if row["status"] == "pending":
            verifier = await new_verifier(hasher)
            async with conn.transaction():
                codes[row["alias"]], _ = await issue_activation_code(conn, verifier, 7, row["id"], None)
        else:
            codes[row["alias"]] = (
                f"({row['status']}: signed in already)" if row["status"] == "active" else f"({row['status']})"
            )
    return codes


async def load_demo(conn: asyncpg.Connection, hasher: Hasher, progress=print) -> DemoLogins | None:
    """Create the demo people; None when they exist already."""
    if await people_db.find_account_by_email(conn, ADMIN_EMAIL) is not None:
        return None
    password = secrets.token_urlsafe(12)
    logins = DemoLogins(password=password)
    today = dt.date.today()
    async with conn.transaction():
        progress("  accounts: admin, counselor, facilitator")
        accounts = {}
        for email, name, roles in _ACCOUNTS:
            accounts[email] = await people_db.insert_account(
                conn,
                email=email,
                password_hash=await hasher.hash(password),
                name=name,
                roles=roles,
                timezone="America/Chicago",
            )
        admin, counselor = accounts[ADMIN_EMAIL], accounts[COUNSELOR_EMAIL]
        progress(f"  groups: {len(_GROUPS)}")
        for slug, name, fmt, topics, slots, address, lat, lon, url in _GROUPS:
            group_id = await groups_db.insert_group(
                conn,
                {
                    "slug": slug,
                    "name": name,
                    "format": fmt,
                    "topics": topics,
                    "timezone": "America/Chicago",
                    "address": address,
                    "latitude": lat,
                    "longitude": lon,
                    "conference_url": url,
                    "capacity": 12,
                    "description": "A peer support group for people after IOP.",
                    "is_public": fmt != "online",  # online links stay out of the public feed
                },
            )
            await set_schedule(conn, group_id, slots)
            await groups_db.replace_facilitators(conn, group_id, [accounts[FACILITATOR_EMAIL]["id"]])
        for i, (alias, zone, days_since_iop) in enumerate(_GRADUATES, start=1):
            progress(f"  graduate {i}/{len(_GRADUATES)}: {alias}")
            person_id = await people_db.insert_participant(
                conn,
                alias=alias,
                timezone=zone,
                iop_completed_on=today - dt.timedelta(days=days_since_iop),
                email=None,
                phone=None,
                counselor_id=counselor["id"],
                sobriety_date=today - dt.timedelta(days=days_since_iop + 60),
            )
            code, _ = await issue_activation_code(conn, await new_verifier(hasher), 7, person_id, admin["id"])
            logins.activation_codes[alias] = code
    return logins
