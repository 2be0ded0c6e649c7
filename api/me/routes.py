from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

import asyncpg
from litestar import Controller, delete, get, patch, post
from litestar.params import FromPath, JSONBody

from api.auth.password_change import change_own_password
from api.auth.schemas import PasswordChange
from api.checkins.plan import days_sober
from api.deps import Conn, RuntimeDep, TransactionsDep
from api.discussions import events
from api.me.schemas import Deleted, Me, MeUpdate, SignIn
from api.openapi import may_answer
from api.pagination import Page
from api.participants.deletion import delete_graduate
from api.problems import found, invalid
from api.security import DURING_MFA_ENROLMENT, PARTICIPANT, SignedInRequest, participants_only
from db import auth as auth_db
from db import people as people_db
from db import privacy as privacy_db


def to_me(row: asyncpg.Record) -> Me:
    return Me(
        id=row["id"],
        roles=sorted(row["roles"]),
        alias=row["alias"],
        timezone=row["timezone"],
        email=row["email"] or row["contact_email"],
        phone=row["contact_phone"],
        iop_completed_on=row["iop_completed_on"],
        sobriety_date=row["sobriety_date"],
        days_sober=days_sober(row["sobriety_date"], row["timezone"]),
        created_at=row["created_at"],
    )


class MeController(Controller):
    path = "/v1/me"
    tags = ["me"]

    @get("/", summary="My profile")
    async def read(self, request: SignedInRequest, conn: Conn) -> Me:
        return to_me(found(await people_db.get_me(conn, request.user.id), "person"))

    @patch("/", summary="Change my alias, time zone or sobriety date")
    async def update(self, data: JSONBody[MeUpdate], request: SignedInRequest, conn: Conn) -> Me:
        changes = data.changes()
        if "sobriety_date" in changes and PARTICIPANT not in request.user.roles:
            raise invalid("sobriety_date", "only graduates have a sobriety date")
        await people_db.update_me(conn, request.user.id, changes)
        return to_me(found(await people_db.get_me(conn, request.user.id), "person"))

    @get("/export", summary="Download everything we hold about me")
    async def export(self, request: SignedInRequest, conn: Conn) -> dict[str, Any]:
        """A JSON copy of every record about the caller (secrets such as password hashes
        are left out)."""
        data = await privacy_db.export_person(conn, request.user.id)
        return {"exported_at": dt.datetime.now(dt.UTC).isoformat(), "data": data}

    @delete("/", status_code=200, guards=[participants_only], summary="Delete my account and data")
    async def delete_account(self, request: SignedInRequest, conn: Conn) -> Deleted:
        """Deletes the account and its personal data for good and ends every session. The
        audit log keeps only opaque ids of who accessed the record and when. If a counselor
        was still working on an alert of yours, they keep your alias and the alert's kind
        until they have closed it (`care_record_kept`), nothing more."""
        return await delete_graduate(conn, request, request.user.id)

    @post(
        "/password",
        status_code=204,
        responses=may_answer(403, 409),
        summary="Change my password",
        opt={DURING_MFA_ENROLMENT: True},
    )
    async def change_password(
        self,
        data: JSONBody[PasswordChange],
        request: SignedInRequest,
        transactions: TransactionsDep,
        runtime: RuntimeDep,
    ) -> None:
        """For everyone who signs in with a password. The new one needs at least 12
        characters, must be hard to guess and must not contain your email or name. A wrong
        current password answers 403 `wrong_password`. Every other session of yours ends
        (anyone who knew the old password is signed out); this one stays."""
        await change_own_password(request, transactions, runtime, data)

    @get("/sign-ins", summary="Devices where I am signed in")
    async def sign_ins(self, request: SignedInRequest, conn: Conn) -> Page[SignIn]:
        rows = await auth_db.list_sessions(conn, request.user.id)
        current = request.user.session_id
        return Page(items=[SignIn(**dict(row), current=row["id"] == current) for row in rows], next_cursor=None)

    @delete("/sign-ins/{sign_in_id:uuid}", summary="Sign out one device")
    async def end_sign_in(self, sign_in_id: FromPath[UUID], request: SignedInRequest, conn: Conn) -> None:
        """For a lost or shared phone: that device's tokens stop working at once."""
        found(await auth_db.revoke_own_session(conn, request.user.id, sign_in_id) or None, "sign-in")
        events.access_changed(request.app, request.user.id)  # that device's live sockets close too
