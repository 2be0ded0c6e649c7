"""`/v1/staff/accounts` and `/v1/staff/audit` (admins only), and `/v1/staff/team` (staff)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from uuid import UUID

import asyncpg
import msgspec
from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from api.admin.schemas import (
    Account,
    AccountCreate,
    AuditEntry,
    SetupCode,
    to_account,
    to_audit_entry,
)
from api.audit import audit
from api.auth.activation import Verifier, issue_activation_code, new_verifier
from api.deps import Conn, Runtime, RuntimeDep, TransactionsDep
from api.discussions import events
from api.openapi import may_answer
from api.pagination import (
    Cursor,
    Limit,
    Page,
    decode_cursor,
    encode_cursor,
    time_id_after,
    time_id_page,
)
from api.problems import found, problem
from api.security import SignedInRequest, admin_only, staff_only
from api.time_bounds import refuse_query_time
from db import audit as audit_db
from db import auth as auth_db
from db import mfa as mfa_db
from db import people as people_db


class AccountController(Controller):
    path = "/v1/staff/accounts"
    guards = [admin_only]
    tags = ["admin"]

    @post("/", responses=may_answer(409), summary="Create a staff, admin or facilitator account")
    async def create(
        self,
        data: JSONBody[AccountCreate],
        request: SignedInRequest,
        transactions: TransactionsDep,
        runtime: RuntimeDep,
    ) -> SetupCode:
        """Answers the account and a one-time set-up code (shown once, valid 72 hours): hand
        it to the person, who chooses their own password with it at /v1/auth/setup. Nobody
        else ever knows the password. An email already in use answers 409."""
        verifier = await new_verifier(runtime.hasher)  # before a connection: argon2 holds none
        async with transactions.transaction() as conn:
            row = await people_db.insert_account(
                conn,
                email=data.email,
                password_hash=None,
                name=data.name,
                roles=sorted(set(data.roles)),
                timezone=data.timezone,
            )
            await audit(conn, request, "account.create", None, {"account_id": str(row["id"]), "roles": row["roles"]})
            return await _issue_setup_code(conn, request, runtime, row, verifier)

    @get("/", summary="List accounts")
    async def list_accounts(self, conn: Conn, cursor: Cursor = None, limit: Limit = 50) -> Page[Account]:
        rows = await people_db.list_accounts(conn, after=time_id_after(cursor), limit=limit + 1)
        return time_id_page(rows, limit, to_account)

    @post("/{account_id:uuid}/deactivate", status_code=200, responses=may_answer(409), summary="Deactivate an account")
    async def deactivate(self, account_id: FromPath[UUID], request: SignedInRequest, conn: Conn) -> Account:
        """Ends all of the account's sessions at once."""
        if account_id == request.user.id:
            raise problem(409, "cannot_deactivate_self", "You cannot deactivate your own account.")
        async with conn.transaction():
            found(await people_db.get_account(conn, account_id), "account")
            await people_db.set_active(conn, account_id, False, dt.datetime.now(dt.UTC))
            await audit(conn, request, "account.deactivate", None, {"account_id": str(account_id)})
            row = await people_db.get_account(conn, account_id)
            assert row is not None  # found above; the update has held its row lock since
            account = to_account(row)
        events.access_changed(request.app, account_id)
        return account

    @post("/{account_id:uuid}/unlock", status_code=200, summary="Unlock an account after wrong passwords")
    async def unlock(self, account_id: FromPath[UUID], request: SignedInRequest, conn: Conn) -> Account:
        """Clears the wrong-password count and any lock, for a colleague who cannot wait."""
        async with conn.transaction():
            found(await people_db.get_account(conn, account_id), "account")
            await people_db.unlock_account(conn, account_id)
            await audit(conn, request, "account.unlock", None, {"account_id": str(account_id)})
            row = await people_db.get_account(conn, account_id)
            assert row is not None  # found above; the update has held its row lock since
            return to_account(row)

    @post(
        "/{account_id:uuid}/reset",
        status_code=200,
        responses=may_answer(409),
        summary="Reset an account's password: a new set-up code",
    )
    async def reset(
        self, account_id: FromPath[UUID], request: SignedInRequest, transactions: TransactionsDep, runtime: RuntimeDep
    ) -> SetupCode:
        """For a colleague who forgot their password, may have given it away, or lost the phone
        with their authenticator app: ends all of their sessions, clears the password (the old
        one stops working at once) and their two-factor sign-in (they set it up again), and
        answers a new set-up code (shown once, valid 72 hours) to hand over in person. Your own account
        answers 409: change your password at /v1/me/password."""
        if account_id == request.user.id:
            raise problem(
                409, "cannot_reset_self", "You cannot reset your own account: change your password at /v1/me/password."
            )
        verifier = await new_verifier(runtime.hasher)  # before a connection: argon2 holds none
        async with transactions.transaction() as conn:
            found(await people_db.get_account(conn, account_id), "account")
            await people_db.set_password_hash(conn, account_id, None)
            ended = await auth_db.revoke_sessions(conn, account_id, "password reset by an admin")
            # A reset is also how someone who lost their phone and recovery codes gets back in:
            # they set up two-factor again (whoever holds the set-up code could anyway).
            mfa_removed = await mfa_db.remove(conn, account_id)
            await audit(
                conn,
                request,
                "account.reset",
                None,
                {"account_id": str(account_id), "sessions_ended": ended, "mfa_removed": mfa_removed},
            )
            row = await people_db.get_account(conn, account_id)  # its lock cleared with the password
            assert row is not None  # found above; the password update has held its row lock since
            issued = await _issue_setup_code(conn, request, runtime, row, verifier)
        events.access_changed(request.app, account_id)  # its live sockets close too
        return issued


async def _issue_setup_code(
    conn: asyncpg.Connection, request: SignedInRequest, runtime: Runtime, row: asyncpg.Record, verifier: Verifier
) -> SetupCode:
    """A new set-up code for the account (replacing any live one), audited. Inside the
    caller's transaction."""
    code, expires_at = await issue_activation_code(
        conn, verifier, runtime.settings.setup_code_ttl_hours / 24, row["id"], request.user.id, purpose="setup"
    )
    await audit(conn, request, "account.setup_code_issued", None, {"account_id": str(row["id"])})
    return SetupCode(account=to_account(row), setup_code=code, setup_code_expires_at=expires_at)


class AuditController(Controller):
    path = "/v1/staff/audit"
    guards = [admin_only]
    tags = ["admin"]

    @get("/", summary="Read the audit log")
    async def list_entries(
        self,
        request: SignedInRequest,
        conn: Conn,
        actor_id: FromQuery[UUID | None] = None,
        participant_id: FromQuery[UUID | None] = None,
        person: Annotated[
            str | None,
            QueryParameter(
                min_length=1,
                max_length=100,
                description="Part of a name, any case: rows whose actor, or a graduate they are about, has a name "
                "(an alias, for a graduate) holding it. Taken as typed: no wildcards.",
            ),
        ] = None,
        action: Annotated[
            str | None, QueryParameter(max_length=100, description="An action name, e.g. participant.read")
        ] = None,
        since: FromQuery[dt.datetime | None] = None,
        until: FromQuery[dt.datetime | None] = None,
        cursor: Cursor = None,
        limit: Limit = 100,
    ) -> Page[AuditEntry]:
        """Every staff read and write of participant data, newest first, with the names beside
        the ids. A read of a list is one row naming every graduate it showed (`participants`);
        `participant_id` finds it too. Append-only: the database refuses to change or delete its rows."""
        refuse_query_time(request, "since", since)
        refuse_query_time(request, "until", until)
        (before_id,) = decode_cursor(cursor, int) if cursor else (None,)
        rows = await audit_db.list_entries(
            conn,
            actor_id=actor_id,
            participant_id=participant_id,
            person=person,
            action=action,
            since=since,
            until=until,
            before_id=before_id,
            limit=limit + 1,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(
            items=[to_audit_entry(r) for r in rows],
            next_cursor=encode_cursor(rows[-1]["id"]) if more else None,
        )


class TeamMember(msgspec.Struct):
    id: UUID
    name: str
    roles: list[str]


class TeamController(Controller):
    """Names of the people staff work with (counselors, facilitators): for filters and forms.
    Staff may read it; managing accounts stays with admins."""

    path = "/v1/staff/team"
    guards = [staff_only]
    tags = ["admin"]

    @get("/", summary="Active staff and facilitators, by name")
    async def team(self, conn: Conn) -> Page[TeamMember]:
        rows = await people_db.list_team(conn)
        return Page(
            items=[TeamMember(id=r["id"], name=r["name"], roles=sorted(r["roles"])) for r in rows], next_cursor=None
        )
