"""The demo's people: staff accounts, and graduates at every stage of the plan, enrolled and
(all but a few) activated through the product's own functions.

Everyone is plainly invented: graduates go by nature and colour words, staff by a first name
and their role, emails end in `.example`."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from api.auth import credentials
from api.auth.activation import Verifier, issue_activation_code
from db import auth as auth_db
from db import checkins as checkins_db
from db import people as people_db
from db.zones import zone_of

PROGRAM_ZONE = "America/Chicago"
ADMIN_EMAIL = "admin@aftercare.example"
COUNSELOR_EMAIL = "counselor@aftercare.example"
FACILITATOR_EMAIL = "facilitator@aftercare.example"
SECOND_COUNSELOR_EMAIL = "counselor2@aftercare.example"

# email, name, roles. The first counselor carries the bigger caseload; the admin has none.
STAFF = [
    (ADMIN_EMAIL, "Demo Admin", ["admin", "staff"]),
    (COUNSELOR_EMAIL, "Casey (counselor)", ["staff"]),
    (SECOND_COUNSELOR_EMAIL, "Robin (counselor)", ["staff"]),
    (FACILITATOR_EMAIL, "Pat (facilitator)", ["facilitator"]),
    ("facilitator2@aftercare.example", "Sky (facilitator)", ["facilitator"]),
    ("facilitator3@aftercare.example", "Jules (facilitator)", ["facilitator"]),
]
COUNSELORS = [COUNSELOR_EMAIL, SECOND_COUNSELOR_EMAIL]
FACILITATORS = [FACILITATOR_EMAIL, "facilitator2@aftercare.example", "facilitator3@aftercare.example"]

# How a graduate's history goes (api/demo/checkins.py draws it):
#   steady    most check in most of the time;
#   fading    checks in less and less until now (misses, alerts, overdue);
#   recovered faded two months ago, was reached, came back;
#   relapse / crisis / low_mood / talk / craving: an episode `episode_days_ago` days back
#             (a few days back: still on the watchlist; weeks back: resolved with outreach).
STEADY, FADING, RECOVERED = "steady", "fading", "recovered"
RELAPSE, CRISIS, LOW_MOOD, TALK, CRAVING = "relapse", "crisis", "low_mood", "talk", "craving"


@dataclass(frozen=True)
class Graduate:
    alias: str
    zone: str
    days_since_iop: int  # at the day the demo loads
    counselor: int  # index into COUNSELORS
    pattern: str = STEADY
    episode_days_ago: int | None = None
    pending: bool = False  # enrolled, not signed in yet
    extended: bool = False  # a year on, staff kept weekly check-ins going


NY, CHI, DEN, PHX, LA, HNL, LON = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "Pacific/Honolulu",
    "Europe/London",
)
G = Graduate
GRADUATES = [
    # Not signed in yet (their codes are printed at every start).
    G("Pebble", CHI, 1, 0, pending=True),
    G("Quartz", NY, 2, 0, pending=True),
    G("Thistle", LA, 0, 1, pending=True),
    G("Yarrow", CHI, 3, 0, pending=True),
    # Weeks 1-4: a check-in a day.
    G("Aspen", CHI, 2, 0),
    G("Birch", NY, 4, 1),
    G("Cedar", CHI, 6, 0),
    G("Cobalt", DEN, 9, 0),
    G("Coral", CHI, 12, 0, FADING),
    G("Dune", LA, 14, 1),
    G("Ember", CHI, 17, 0, CRISIS, 2),
    G("Fern", NY, 19, 0),
    G("Flint", PHX, 22, 1, CRAVING, 18),
    G("Harbor", CHI, 25, 0, TALK, 1),
    # Weeks 5-12: three slots a week.
    G("Indigo", CHI, 31, 0),
    G("Juniper", NY, 35, 1, LOW_MOOD, 2),
    G("Kestrel", CHI, 40, 0, RELAPSE, 3),
    G("Lark", LON, 44, 1),
    G("Linden", CHI, 48, 0, FADING),
    G("Maple", DEN, 53, 0),
    G("Meadow", CHI, 57, 1, TALK, 30),
    G("Moss", NY, 62, 0, CRAVING, 1),
    G("Nova", CHI, 66, 0),
    G("Oak", LA, 71, 1, RECOVERED),
    G("Ochre", CHI, 76, 0),
    G("Olive", HNL, 80, 1),
    # Weeks 13-52: weekly.
    G("Onyx", CHI, 88, 0, RECOVERED),
    G("Pine", NY, 95, 0, RELAPSE, 55),
    G("Poppy", CHI, 103, 1),
    G("Rain", DEN, 112, 0),
    G("Raven", CHI, 121, 1, FADING),
    G("Reed", LA, 130, 0, CRISIS, 41),
    G("Ridge", CHI, 142, 0),
    G("River", NY, 155, 1, LOW_MOOD, 64),
    G("Rowan", CHI, 168, 0),
    G("Rust", PHX, 181, 0, RECOVERED),
    G("Saffron", CHI, 197, 1),
    G("Sage", NY, 213, 0, CRAVING, 47),
    G("Sequoia", CHI, 229, 0),
    G("Slate", LON, 246, 1, RELAPSE, 88),
    G("Sparrow", CHI, 262, 0),
    G("Spruce", LA, 279, 1, CRISIS, 97),
    G("Storm", CHI, 296, 0),
    G("Teal", NY, 312, 0, TALK, 72),
    G("Topaz", CHI, 329, 1),
    G("Umber", DEN, 345, 0),
    G("Willow", CHI, 358, 1, RECOVERED),
    # A year and more: the plan has ended (one kept on weekly check-ins by staff).
    G("Wren", CHI, 371, 0),
    G("Zephyr", NY, 389, 1),
    G("Amber", CHI, 402, 0, extended=True),
    G("Basil", LA, 430, 0),
    G("Clover", CHI, 466, 1),
    G("Cove", NY, 512, 0),
    # More of the first counselor's caseload, spread over the plan.
    G("Daisy", CHI, 8, 0),
    G("Drift", NY, 27, 0),
    G("Elm", CHI, 58, 0),
    G("Frost", LA, 99, 0),
    G("Garnet", CHI, 160, 0),
    G("Heath", NY, 240, 0),
]
PENDING = [g.alias for g in GRADUATES if g.pending]


@dataclass
class Enrolled:
    """A graduate as stored: their id, counselor's id, dates."""

    spec: Graduate
    id: UUID
    counselor_id: UUID
    iop: dt.date
    activated_at: dt.datetime | None
    code: str | None = None  # pending: the activation code

    @property
    def zone(self) -> str:
        return self.spec.zone


def at_local(day: dt.date, time: dt.time, zone: str) -> dt.datetime:
    """A local wall-clock time as an instant in UTC."""
    return dt.datetime.combine(day, time, tzinfo=zone_of(zone)).astimezone(dt.UTC)


async def create_staff(conn: asyncpg.Connection, password_hash: str) -> dict[str, asyncpg.Record]:
    accounts = {}
    for email, name, roles in STAFF:
        accounts[email] = await people_db.insert_account(
            conn, email=email, password_hash=password_hash, name=name, roles=roles, timezone=PROGRAM_ZONE
        )
    return accounts


async def enrol(
    conn: asyncpg.Connection,
    rng: random.Random,
    today: dt.date,
    now: dt.datetime,
    staff: dict[str, asyncpg.Record],
    pending_verifiers: list[Verifier],
    shared: Verifier,
) -> list[Enrolled]:
    """Enrol everyone; activate all but the pending (their codes kept to print). An active
    graduate redeemed a code on the day of their IOP completion or the day after (slots
    count from then), never later than now."""
    admin_id = staff[ADMIN_EMAIL]["id"]
    enrolled = []
    verifiers = iter(pending_verifiers)
    for spec in GRADUATES:
        iop = today - dt.timedelta(days=spec.days_since_iop)
        counselor_id = staff[COUNSELORS[spec.counselor]]["id"]
        sober_before = rng.randint(30, 150)
        sobriety = iop - dt.timedelta(days=sober_before)
        if spec.pattern == RELAPSE and spec.episode_days_ago is not None:
            sobriety = today - dt.timedelta(days=spec.episode_days_ago - 1)  # counted again from the day after
        person_id = await people_db.insert_participant(
            conn,
            alias=spec.alias,
            timezone=spec.zone,
            iop_completed_on=iop,
            email=None,
            phone=None,
            counselor_id=counselor_id,
            sobriety_date=sobriety,
        )
        if spec.pending:
            code, _ = await issue_activation_code(conn, next(verifiers), 7, person_id, admin_id)
            enrolled.append(Enrolled(spec, person_id, counselor_id, iop, None, code))
            continue
        minute = rng.randint(9 * 60, 17 * 60)
        activated_at = at_local(
            iop + dt.timedelta(days=rng.randint(0, 1)), dt.time(minute // 60, minute % 60), spec.zone
        )
        activated_at = min(activated_at, now - dt.timedelta(hours=2))
        code, _ = await issue_activation_code(conn, shared, 7, person_id, admin_id)
        parts = credentials.split_activation_code(code)
        assert parts is not None  # a code just issued is well formed
        selector, _ = parts
        row = await auth_db.lock_code_by_selector(conn, selector)
        assert row is not None  # issued just above
        await auth_db.redeem_code(conn, row["id"], person_id, activated_at)
        if spec.extended:
            # Staff kept weekly check-ins going past the plan's year, from its last day on.
            set_at = min(at_local(iop + dt.timedelta(days=358), dt.time(11), spec.zone), now)
            await checkins_db.set_plan(
                conn, person_id, "weekly", iop + dt.timedelta(days=364), None, counselor_id, now=set_at
            )
        enrolled.append(Enrolled(spec, person_id, counselor_id, iop, activated_at))
    return enrolled
