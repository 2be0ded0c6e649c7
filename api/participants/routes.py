"""`/v1/staff/participants`: staff and admins only; every read and write is audited."""

from __future__ import annotations

import datetime as dt
from typing import Literal, cast
from uuid import UUID

import asyncpg
import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from api.audit import audit
from api.auth.activation import issue_activation_code, new_verifier
from api.deps import Conn, RuntimeDep, TransactionsDep
from api.discussions import events
from api.groups import schedule as rules
from api.groups.schemas import SlotOut
from api.me.schemas import Deleted
from api.openapi import may_answer
from api.pagination import Cursor, Limit, Page, time_id_after, time_id_page
from api.participants.deletion import delete_graduate
from api.participants.schemas import (
    ActivationCode,
    DeletedParticipant,
    DeletionRequest,
    EnrolledParticipant,
    EnrollRequest,
    Participant,
    ParticipantStatus,
    ParticipantUpdate,
    to_participant,
)
from api.problems import found, invalid, problem
from api.security import SignedInRequest, admin_only, staff_only
from db import participant_groups as participant_groups_db
from db import people as people_db
from db import privacy as privacy_db


async def _check_counselor(conn: asyncpg.Connection, counselor_id: UUID | None) -> None:
    if counselor_id is not None and not await people_db.is_staff_member(conn, counselor_id):
        raise invalid("counselor_id", "is not an active staff member")


class ParticipantGroup(msgspec.Struct):
    """A group the graduate belongs to, or waits for a seat in."""

    id: UUID
    name: str
    format: Literal["in_person", "online", "hybrid"]
    timezone: str
    schedule: list[SlotOut]
    status: Literal["member", "waitlisted"]
    since: dt.datetime
    """Joined (members) or joined the waitlist."""
    waitlist_position: int | None
    archived_at: dt.datetime | None


def to_participant_group(row: asyncpg.Record) -> ParticipantGroup:
    return ParticipantGroup(
        id=row["id"],
        name=row["name"],
        format=row["format"],
        timezone=row["timezone"],
        schedule=[
            SlotOut(weekday=rules.WEEKDAYS[s["weekday"] - 1], start=s["start"], end=s["end"]) for s in row["schedule"]
        ],
        status=row["status"],
        since=row["since"],
        waitlist_position=row["waitlist_position"],
        archived_at=row["archived_at"],
    )


class ParticipantController(Controller):
    path = "/v1/staff/participants"
    guards = [staff_only]
    tags = ["staff: participants"]

    @post("/", summary="Enrol a graduate at IOP completion")
    async def enroll(
        self,
        data: JSONBody[EnrollRequest],
        request: SignedInRequest,
        transactions: TransactionsDep,
        runtime: RuntimeDep,
    ) -> EnrolledParticipant:
        """Creates the graduate and returns their one-time activation code. The code is shown
        only in this answer (it is stored hashed) and expires after 7 days."""
        verifier = await new_verifier(runtime.hasher)
        async with transactions.transaction() as conn:
            await _check_counselor(conn, data.counselor_id)
            person_id = await people_db.insert_participant(
                conn,
                alias=data.alias,
                timezone=data.timezone,
                iop_completed_on=data.iop_completed_on,
                email=data.email,
                phone=data.phone,
                counselor_id=data.counselor_id,
                sobriety_date=data.sobriety_date,
            )
            code, expires_at = await issue_activation_code(
                conn, verifier, runtime.settings.activation_code_ttl_days, person_id, request.user.id
            )
            await audit(conn, request, "participant.create", person_id)
            row = await people_db.get_participant(conn, person_id)
            assert row is not None  # inserted above, in this transaction
        return EnrolledParticipant(
            **{f: getattr(to_participant(row), f) for f in Participant.__struct_fields__},
            activation_code=code,
            activation_expires_at=expires_at,
        )

    @get("/", summary="List graduates")
    async def list_participants(
        self,
        request: SignedInRequest,
        conn: Conn,
        counselor_id: FromQuery[UUID | None] = None,
        status: FromQuery[ParticipantStatus | None] = None,
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> Page[Participant]:
        """Newest enrolment first. Filter by primary counselor and by status."""
        async with conn.transaction():
            rows = await people_db.list_participants(
                conn, counselor_id=counselor_id, status=status, after=time_id_after(cursor), limit=limit + 1
            )
            page = time_id_page(rows, limit, to_participant)
            await audit(conn, request, "participant.list", [p.id for p in page.items])
        return page

    @get("/{participant_id:uuid}", summary="Read a graduate's profile")
    async def read(self, participant_id: FromPath[UUID], request: SignedInRequest, conn: Conn) -> Participant:
        async with conn.transaction():
            row = found(await people_db.get_participant(conn, participant_id), "participant")
            await audit(conn, request, "participant.read", participant_id)
        return to_participant(row)

    @get("/{participant_id:uuid}/groups", summary="A graduate's groups")
    async def groups(
        self, participant_id: FromPath[UUID], request: SignedInRequest, conn: Conn
    ) -> Page[ParticipantGroup]:
        """The groups they belong to or are waitlisted for (archived ones last)."""
        async with conn.transaction():
            found(await people_db.get_participant(conn, participant_id), "participant")
            rows = await participant_groups_db.groups_of(conn, participant_id)
            await audit(conn, request, "participant.groups.read", participant_id)
        return Page(items=[to_participant_group(r) for r in rows], next_cursor=None)

    @patch("/{participant_id:uuid}", summary="Edit a graduate's profile")
    async def update(
        self, participant_id: FromPath[UUID], data: JSONBody[ParticipantUpdate], request: SignedInRequest, conn: Conn
    ) -> Participant:
        changes = data.changes()
        async with conn.transaction():
            found(await people_db.get_participant(conn, participant_id), "participant")
            # The field's type (ParticipantUpdate.counselor_id) makes this a UUID or None.
            await _check_counselor(conn, cast("UUID | None", changes.get("counselor_id")))
            # Found above, but not locked: a deletion committed since is a 404 too, never a 500.
            row = found(await people_db.update_participant(conn, participant_id, changes), "participant")
            await audit(conn, request, "participant.update", participant_id, {"fields": sorted(changes)})
        return to_participant(row)

    @post("/{participant_id:uuid}/deactivate", status_code=200, summary="Deactivate a graduate")
    async def deactivate(self, participant_id: FromPath[UUID], request: SignedInRequest, conn: Conn) -> Participant:
        """Ends every session they have at once; their data stays until they or staff delete it."""
        return await self._set_active(participant_id, request, conn, active=False)

    @post("/{participant_id:uuid}/reactivate", status_code=200, summary="Reactivate a graduate")
    async def reactivate(self, participant_id: FromPath[UUID], request: SignedInRequest, conn: Conn) -> Participant:
        """They sign in again with a new activation code."""
        return await self._set_active(participant_id, request, conn, active=True)

    async def _set_active(
        self, participant_id: FromPath[UUID], request: SignedInRequest, conn: Conn, *, active: bool
    ) -> Participant:
        async with conn.transaction():
            found(await people_db.get_participant(conn, participant_id), "participant")
            await people_db.set_active(conn, participant_id, active)
            await audit(conn, request, "participant.reactivate" if active else "participant.deactivate", participant_id)
            # A deletion that committed between the first read and the update: a 404 (rolled back).
            row = found(await people_db.get_participant(conn, participant_id), "participant")
        if not active:
            events.access_changed(request.app, participant_id)
        return to_participant(row)

    @post("/{participant_id:uuid}/activation-code", responses=may_answer(409), summary="Issue a new activation code")
    async def reissue_code(
        self,
        participant_id: FromPath[UUID],
        request: SignedInRequest,
        transactions: TransactionsDep,
        runtime: RuntimeDep,
    ) -> ActivationCode:
        """Replaces any unused code (the old one stops working). Shown once."""
        verifier = await new_verifier(runtime.hasher)
        async with transactions.transaction() as conn:
            row = found(await people_db.get_participant(conn, participant_id), "participant")
            if row["status"] == "deactivated":
                raise problem(409, "participant_deactivated", "Reactivate this graduate before issuing a code.")
            code, expires_at = await issue_activation_code(
                conn, verifier, runtime.settings.activation_code_ttl_days, participant_id, request.user.id
            )
            await audit(conn, request, "participant.activation_code", participant_id)
        return ActivationCode(activation_code=code, activation_expires_at=expires_at)

    @delete("/{participant_id:uuid}", status_code=200, guards=[admin_only], summary="Delete a graduate's account")
    async def delete_participant(
        self, participant_id: FromPath[UUID], data: JSONBody[DeletionRequest], request: SignedInRequest, conn: Conn
    ) -> Deleted:
        """For a graduate who asks for deletion but cannot sign in (deactivated, lost phone):
        the same as their own `DELETE /v1/me`, audited as `participant.delete` with the admin
        as the actor. Repeat their alias in `confirm_alias`."""
        return await delete_graduate(conn, request, participant_id, confirm_alias=data.confirm_alias)


class DeletedParticipantController(Controller):
    path = "/v1/staff/deleted-accounts"
    guards = [staff_only]
    tags = ["staff: watchlist"]

    @post("/{participant_id:uuid}/acknowledge", status_code=200, summary="Seen: a graduate with open alerts left")
    async def acknowledge(
        self, participant_id: FromPath[UUID], request: SignedInRequest, conn: Conn
    ) -> DeletedParticipant:
        """Takes a deleted graduate's kept record (alias, counselor, their open alerts' kinds
        and severities) off the watchlist; it is forgotten 30 days later."""
        async with conn.transaction():
            row = found(
                await privacy_db.acknowledge_deleted(conn, participant_id, request.user.id, dt.datetime.now(dt.UTC)),
                "deleted account",
            )
            # Each read of what was kept is audited; the details say whether this one acknowledged it.
            await audit(
                conn,
                request,
                "participant.deleted.acknowledge",
                participant_id,
                {"already_acknowledged": row["already"]},
            )
        return msgspec.convert({k: v for k, v in dict(row).items() if k != "already"}, DeletedParticipant)
