"""Small steps many tests take, always through the real API where the API can do it."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import asyncpg

from api.auth.credentials import Hasher  # noqa: F401 (tests use helpers.Hasher)
from db import notifications as notifications_db
from db import people as people_db

PASSWORD = "correct horse battery staple"
LOGIN = "/v1/auth/login"
ENROL = "/v1/staff/participants"


@dataclass
class Actor:
    id: str
    headers: dict[str, str]
    tokens: dict = field(default_factory=dict)
    email: str | None = None
    code: str | None = None


def login_body(email: str, password: str) -> dict:
    return {"email": email, "password": password}


def bearer(tokens: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def account(client, conn: asyncpg.Connection, hasher: Hasher, roles: list[str], *, active: bool = True) -> Actor:
    """A password account made in the database (there is no API before the first admin),
    signed in through the API."""
    email = f"{roles[0]}-{uuid.uuid4().hex[:8]}@example.org"
    row = await people_db.insert_account(
        conn, email=email, password_hash=await hasher.hash(PASSWORD), name=roles[0].title(), roles=roles, timezone="UTC"
    )
    response = await client.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    tokens = response.json()
    return Actor(id=str(row["id"]), headers=bearer(tokens), tokens=tokens, email=email)


async def enroll(client, staff: Actor, **fields) -> dict:
    body = {"alias": "Sam", "timezone": "America/Chicago", "iop_completed_on": str(dt.date.today())}
    body.update(fields)
    response = await client.post("/v1/staff/participants", json=body, headers=staff.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def activate(client, code: str) -> dict:
    response = await client.post("/v1/auth/activate", json={"code": code})
    assert response.status_code == 201, response.text
    return response.json()


async def graduate(client, staff: Actor, **fields) -> Actor:
    enrolled = await enroll(client, staff, **fields)
    tokens = await activate(client, enrolled["activation_code"])
    return Actor(id=enrolled["id"], headers=bearer(tokens), tokens=tokens, code=enrolled["activation_code"])


async def second_device(client, staff: Actor, who: Actor) -> dict[str, str]:
    """The same graduate signed in on a second device (a new code from staff): its headers."""
    response = await client.post(f"/v1/staff/participants/{who.id}/activation-code", headers=staff.headers)
    assert response.status_code in (200, 201), response.text
    return bearer(await activate(client, response.json()["activation_code"]))


def assert_problem(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code, body
    return body


GROUP = {
    "name": "Tuesday Evening Circle",
    "description": "A relapse-prevention group for people after IOP.",
    "format": "in_person",
    "timezone": "America/Chicago",
    "schedule": [{"weekday": "tuesday", "start": "19:00", "end": "20:30"}],
    "address": "100 Main St, Springfield, IL",
    "latitude": 39.80,
    "longitude": -89.65,
    "topics": ["relapse_prevention"],
}


async def create_group(client, staff: Actor, **fields) -> dict:
    response = await client.post("/v1/staff/groups", json=GROUP | fields, headers=staff.headers)
    assert response.status_code == 201, response.text
    return response.json()


def checkin_body(**change) -> dict:
    """A calm check-in made now, with a fresh client id; `change` overrides any answer."""
    return {
        "client_id": str(uuid.uuid4()),
        "client_time": dt.datetime.now(dt.UTC).isoformat(),
        "mood": 4,
        "craving": 2,
        "used": False,
        "sleep": 3,
        "need_support": "no",
    } | change


WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
ZONES = ["UTC", "Asia/Tokyo", "America/New_York", "Asia/Kolkata", "America/Los_Angeles", "Pacific/Auckland"]


def slot_starting_in(minutes: int, length: int = 60) -> tuple[str, dict]:
    """A group time zone and a weekly slot whose session today starts `minutes` from now
    (within the local day, whatever the hour the tests run at)."""
    now = dt.datetime.now(dt.UTC)
    for zone in ZONES:
        local = now.astimezone(ZoneInfo(zone))
        start = (local + dt.timedelta(minutes=minutes)).replace(second=0, microsecond=0)
        end = start + dt.timedelta(minutes=length)
        if start.date() == end.date() == local.date() and end.hour < 23:
            return zone, {
                "weekday": WEEKDAYS[start.weekday()],
                "start": start.strftime("%H:%M"),
                "end": end.strftime("%H:%M"),
            }
    raise AssertionError("no zone fits")


async def group_now(client, staff: Actor, minutes_from_now=-10, length=60, **fields):
    """A group whose session today starts `minutes_from_now` from now (slot_starting_in): the
    group, and that session."""
    zone, slot = slot_starting_in(minutes_from_now, length)
    group = await create_group(client, staff, timezone=zone, schedule=[slot], **fields)
    sessions = (
        await client.get(
            f"/v1/groups/{group['id']}/sessions",
            params={"from": _iso(-24 * 60), "to": _iso(24 * 60)},
            headers=staff.headers,
        )
    ).json()["items"]
    today = [s for s in sessions if s["local_date"] == dt.datetime.now(ZoneInfo(zone)).date().isoformat()]
    return group, today[0]


def _iso(minutes: int) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)).isoformat()


async def member(client, staff: Actor, group, **fields) -> Actor:
    """A new graduate who joined `group` (as a member, not on the waitlist)."""
    person = await graduate(client, staff, **fields)
    assert (await client.post(f"/v1/groups/{group['id']}/membership", headers=person.headers)).json()[
        "status"
    ] == "member"
    return person


async def graduate_with_history(
    client, conn, staff: Actor, *, today: dt.date, iop_days_ago: int, checkin_days: list[int], activated=True, alias="G"
) -> tuple[uuid.UUID, dict | None]:
    """A graduate (time zone UTC) activated on their IOP date, with check-ins on the given
    days (offsets from `today`): (their id, their headers, or None when not activated)."""

    def day(offset: int) -> dt.date:
        return today + dt.timedelta(days=offset)

    enrolled = await enroll(client, staff, alias=alias, timezone="UTC", iop_completed_on=str(day(-iop_days_ago)))
    tokens = await activate(client, enrolled["activation_code"]) if activated else None
    person = uuid.UUID(enrolled["id"])
    if activated:
        await conn.execute(
            "update participant_profiles set activated_at = $2 where person_id = $1",
            person,
            dt.datetime.combine(day(-iop_days_ago), dt.time(9), tzinfo=dt.UTC),
        )
    for offset in checkin_days:
        await conn.execute(
            """
            insert into checkins (person_id, client_id, client_time, local_date, mood, craving, used, sleep, need_support)
            values ($1, $2, $3, $4, 4, 2, false, 3, 'no')
            """,
            person,
            uuid.uuid4(),
            dt.datetime.combine(day(offset), dt.time(12), tzinfo=dt.UTC),
            day(offset),
        )
    return person, (bearer(tokens) if tokens else None)


async def outbox_backlog(
    conn: asyncpg.Connection, people: list[str], per_person: int, *, due: dt.datetime, urgent: bool = False
) -> list[int]:
    """Staff messages straight into the outbox, as a busy evening would leave them: their ids."""
    rows = [
        notifications_db.NewNotification(
            uuid.UUID(person),
            "staff_message",
            None,
            f"Note {i}",
            "Body",
            "New message",
            "Open the app to read it.",
            json.dumps({"kind": "staff_message"}),
            urgent,
            due,
            None,
        )
        for person in people
        for i in range(per_person)
    ]
    return [r["id"] for r in await notifications_db.insert_many(conn, rows)]


def ical_text(value: str) -> str:
    """An iCalendar TEXT value as a calendar app shows it (RFC 5545 3.3.11 escapes undone):
    icalendar leaves X- properties such as X-WR-CALNAME as they are on the wire."""
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m[1] in "nN" else m[1], value)


async def empty_database(conn: asyncpg.Connection) -> None:
    """Every table emptied and every sequence restarted (the audit log too: `replica` mode
    skips its append-only trigger and the foreign keys' checks; for tests only), but the
    migrations' own record and the reference list of time zones. DELETE, not TRUNCATE: after
    each of some 1,500 tests, TRUNCATE's new files cost 90 ms, these small tables' rows 5."""
    tables = await conn.fetch(
        "select tablename from pg_tables where schemaname = 'public'"
        " and tablename not in ('schema_migrations', 'known_time_zones')"
    )
    deletes = "".join(f'delete from "{t["tablename"]}";' for t in tables)
    await conn.execute(
        f"""
        begin;
        set local session_replication_role = replica;
        {deletes}
        select setval(format('%I.%I', schemaname, sequencename), start_value, false)
          from pg_sequences where schemaname = 'public';
        commit;
        """
    )


# A zone neither PostgreSQL nor Python knows, as a database upgrade or a hand-written row
# could leave one.
UNKNOWN_ZONE = "Mars/Olympus_Mons"


async def plant_time_zone(conn: asyncpg.Connection, table: str, row_id: str | uuid.UUID, zone: str) -> None:
    """Write a zone straight into `people` or `groups`, past the API and past the trigger that
    refuses zones the server does not know (switched off for this one write)."""
    assert table in ("people", "groups")
    trigger = f"{table}_time_zone_change"
    await conn.execute(f"alter table {table} disable trigger {trigger}")
    try:
        await conn.execute(f"update {table} set timezone = $2 where id = $1", uuid.UUID(str(row_id)), zone)
    finally:
        await conn.execute(f"alter table {table} enable trigger {trigger}")


def totp_code(secret: str, steps: int = 0) -> str:
    """The authenticator app's code for now, or `steps` 30-second steps away from now."""
    import time

    import pyotp

    return pyotp.TOTP(secret).at(time.time() + 30 * steps)


async def enrol_totp(client, actor: Actor) -> tuple[str, list[str]]:
    """Turn two-factor sign-in on for `actor` through the API: (secret, recovery codes)."""
    started = await client.post("/v1/me/mfa/totp", headers=actor.headers)
    assert started.status_code == 201, started.text
    secret = started.json()["secret"]
    confirmed = await client.post("/v1/me/mfa/totp/confirm", json={"code": totp_code(secret)}, headers=actor.headers)
    assert confirmed.status_code == 200, confirmed.text
    return secret, confirmed.json()["recovery_codes"]
