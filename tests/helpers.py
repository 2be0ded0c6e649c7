"""Small steps many tests take, always through the real API where the API can do it."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

import asyncpg

from api.auth.credentials import Hasher  # noqa: F401 (tests use helpers.Hasher)
from db import people as people_db

PASSWORD = "correct horse battery staple"


@dataclass
class Actor:
    id: str
    headers: dict[str, str]
    tokens: dict = field(default_factory=dict)
    email: str | None = None
    code: str | None = None


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
