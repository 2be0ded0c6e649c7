"""Demo data for `aftercare up`: an admin, a counselor, a facilitator and a few graduates,
so that a newcomer can sign in at once. Loaded once; later runs find it and skip."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field

import asyncpg

from api.auth.activation import issue_activation_code
from api.auth.credentials import Hasher
from db import people as people_db

ADMIN_EMAIL = "admin@aftercare.example"
COUNSELOR_EMAIL = "counselor@aftercare.example"
FACILITATOR_EMAIL = "facilitator@aftercare.example"

_ACCOUNTS = [
    (ADMIN_EMAIL, "Demo Admin", ["admin", "staff"]),
    (COUNSELOR_EMAIL, "Casey (counselor)", ["staff"]),
    (FACILITATOR_EMAIL, "Pat (facilitator)", ["facilitator"]),
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
            async with conn.transaction():
                codes[row["alias"]], _ = await issue_activation_code(conn, hasher, 7, row["id"], None)
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
            code, _ = await issue_activation_code(conn, hasher, 7, person_id, admin["id"])
            logins.activation_codes[alias] = code
    return logins
