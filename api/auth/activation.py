"""Issuing activation codes (enrolment and reissue share this) and set-up codes (a staff
account's first password, and an admin's reset): the same kind of code, another purpose."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from api.auth import credentials
from api.auth.credentials import Hasher
from db import auth as auth_db


@dataclass(frozen=True)
class Verifier:
    """The secret half of a new code and its argon2 hash."""

    secret: str
    hashed: str


async def new_verifier(hasher: Hasher) -> Verifier:
    """Made before the caller takes a connection: argon2 must not hold one."""
    secret = credentials.new_verifier()
    return Verifier(secret, await hasher.hash(secret))


async def issue_activation_code(
    conn: asyncpg.Connection,
    verifier: Verifier,
    ttl_days: float,
    person_id: UUID,
    created_by: UUID | None,
    purpose: str = "activation",
) -> tuple[str, dt.datetime]:
    """Replace the person's live code with a new one; return (code, expiry). Call inside a
    transaction. The selector is 20 random bits, so a clash with another live code is rare:
    draw another selector (the verifier and its hash stay)."""
    expires_at = dt.datetime.now(dt.UTC) + dt.timedelta(days=ttl_days)
    for _ in range(10):
        selector = credentials.new_selector()
        try:
            async with conn.transaction():  # a savepoint: a clash undoes only this try
                await auth_db.replace_activation_code(
                    conn,
                    person_id=person_id,
                    selector=selector,
                    verifier_hash=verifier.hashed,
                    expires_at=expires_at,
                    created_by=created_by,
                    purpose=purpose,
                )
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name != "activation_codes_live_selector_key":
                raise
            continue
        return credentials.shown_code(selector, verifier.secret), expires_at
    raise RuntimeError("could not draw a free activation-code selector in 10 tries")
