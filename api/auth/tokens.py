"""A device session begun, and the token pair that carries it to the client."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

import asyncpg

from api.auth import credentials
from api.auth.schemas import TokenPair
from api.deps import Runtime
from api.security import issue_access_token, must_enrol_mfa
from db import auth as auth_db
from db import mfa as mfa_db


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def start_session(
    conn: asyncpg.Connection, runtime: Runtime, person_id: UUID, roles: list[str], method: str
) -> TokenPair:
    refresh_token, refresh_hash = credentials.new_refresh_token()
    at = now()
    session_id = await auth_db.create_session(
        conn,
        person_id=person_id,
        method=method,
        refresh_hash=refresh_hash,
        refresh_expires_at=at + dt.timedelta(days=runtime.settings.refresh_token_ttl_days),
        now=at,
    )
    return await token_pair(conn, runtime, person_id, session_id, refresh_token, roles)


async def token_pair(
    conn: asyncpg.Connection, runtime: Runtime, person_id: UUID, session_id: UUID, refresh_token: str, roles: list[str]
) -> TokenPair:
    required = runtime.settings.require_mfa
    # Asked only of the roles it matters for: a graduate's sign-in costs no extra statement.
    mfa_on = await mfa_db.is_on(conn, person_id) if not required.isdisjoint(roles) else False
    return TokenPair(
        access_token=issue_access_token(runtime.jwt_auth, person_id, session_id),
        refresh_token=refresh_token,
        expires_in=runtime.settings.access_token_ttl_s,
        person_id=person_id,
        roles=sorted(roles),
        mfa_enrolment_required=must_enrol_mfa(required, roles, mfa_on),
    )
