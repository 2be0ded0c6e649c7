"""`/v1/sessions/{id}/...` and `/v1/me/sessions`: RSVPs, attendance and self check-in, and
the facilitator's roster, cancel and reschedule."""

from __future__ import annotations

import datetime as dt
import hmac
from typing import Annotated, cast
from uuid import UUID

import asyncpg
from litestar import Controller, get, post, put
from litestar.params import JSONBody, PathParameter

from api.audit import audit
from api.deps import Conn, RuntimeDep
from api.groups import notices
from api.groups import schedule as rules
from api.groups.routes import session_range
from api.groups.schemas import (
    Attendance,
    AttendanceRequest,
    CancelRequest,
    CheckedIn,
    CheckInRequest,
    RescheduleRequest,
    Roster,
    RosterEntry,
    Rsvp,
    RsvpRequest,
    Session,
)
from api.groups.service import managed_group, resolve_session, sessions_between, store_session, visible_group
from api.openapi import may_answer
from api.pagination import FromTime, Page, ToTime
from api.problems import invalid, problem
from api.security import SignedInRequest, participants_only
from db import sessions as sessions_db
from db.zones import python_zone

# Wrong self check-in codes a member may try per session (a code has a million values).
MAX_CODE_TRIES = 5

SessionId = Annotated[str, PathParameter(max_length=80, description="As listed, e.g. <group id>.2026-12-07.1")]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def _member_session(conn: asyncpg.Connection, request: SignedInRequest, session_id: str) -> Session:
    """The session, for a member of its group: a non-member of a group they may see gets a
    403 saying so; an unknown session or group, a 404."""
    session = await resolve_session(conn, session_id)
    group = await visible_group(conn, session.group_id, request.user)
    if group["my_status"] != "member":
        raise problem(403, "not_a_member", "Join the group first.")
    return session


async def _managed_session(conn: asyncpg.Connection, request: SignedInRequest, session_id: str) -> Session:
    session = await resolve_session(conn, session_id)
    await managed_group(conn, session.group_id, request.user)
    return session


class SessionController(Controller):
    path = "/v1/sessions"
    tags = ["sessions"]

    @put(
        "/{session_id:str}/rsvp",
        guards=[participants_only],
        responses=may_answer(409),
        summary="Say whether you are going",
    )
    async def rsvp(
        self, session_id: SessionId, data: JSONBody[RsvpRequest], request: SignedInRequest, conn: Conn
    ) -> Rsvp:
        async with conn.transaction():
            session = await _member_session(conn, request, session_id)
            if session.status == "cancelled":
                raise problem(409, "session_cancelled", "This session is cancelled.")
            if session.ends_at <= _now():
                raise problem(409, "session_over", "This session is over.")
            await store_session(conn, session)
            await sessions_db.set_rsvp(conn, session.id, request.user.id, data.status)
        return Rsvp(session_id=session.id, status=data.status)

    @post(
        "/{session_id:str}/check-in",
        status_code=200,
        guards=[participants_only],
        responses=may_answer(409),
        summary="Check yourself in",
    )
    async def check_in(
        self,
        session_id: SessionId,
        data: JSONBody[CheckInRequest],
        request: SignedInRequest,
        conn: Conn,
        runtime: RuntimeDep,
    ) -> CheckedIn:
        """With the code the facilitator shows, from 30 minutes before the start until 30
        minutes after the end."""
        async with conn.transaction():
            session = await _member_session(conn, request, session_id)
            if session.status == "cancelled":
                raise problem(409, "session_cancelled", "This session is cancelled.")
            if not rules.check_in_open(session.starts_at, session.ends_at, _now()):
                raise problem(
                    409,
                    "check_in_closed",
                    "Check-in opens 30 minutes before the session and closes 30 minutes after it ends.",
                    opens_at=(session.starts_at - rules.CHECK_IN_MARGIN).isoformat(),
                    closes_at=(session.ends_at + rules.CHECK_IN_MARGIN).isoformat(),
                )
            await store_session(conn, session)
            # The try is counted before its code is compared, so that tries sent at once
            # cannot all be compared while the count still reads below the limit.
            if not await sessions_db.claim_check_in_try(conn, session.id, request.user.id, MAX_CODE_TRIES):
                outcome = problem(
                    429, "too_many_tries", "Too many wrong codes: ask the facilitator to mark you present."
                )
            elif not hmac.compare_digest(rules.check_in_code(runtime.settings.secret_key, session.id), data.code):
                outcome = invalid("code", "that is not this session's code")
            else:
                await sessions_db.give_back_check_in_try(conn, session.id, request.user.id)
                attendance = await sessions_db.self_check_in(conn, session.id, request.user.id)
                # session_attendance.status is one of these (its check constraint, migration 0002).
                return CheckedIn(session_id=session.id, attendance=cast(Attendance, attendance))
        raise outcome  # after the commit, so the wrong try is counted

    @put("/{session_id:str}/attendance", responses=may_answer(409), summary="Mark attendance (facilitators, staff)")
    async def attendance(
        self,
        session_id: SessionId,
        data: JSONBody[AttendanceRequest],
        request: SignedInRequest,
        conn: Conn,
        runtime: RuntimeDep,
    ) -> Roster:
        async with conn.transaction():
            session = await _managed_session(conn, request, session_id)
            if session.status == "cancelled":
                raise problem(409, "session_cancelled", "This session is cancelled.")
            if session.starts_at - rules.CHECK_IN_MARGIN > _now():
                raise problem(409, "session_not_started", "Attendance is taken from 30 minutes before the start.")
            members = {r["participant_id"] for r in await sessions_db.roster(conn, session.group_id, session.id)}
            for i, record in enumerate(data.records):
                if record.participant_id not in members:
                    raise invalid(f"records[{i}].participant_id", "is not a member of this group")
            await store_session(conn, session)
            records: list[tuple[UUID, str]] = [(r.participant_id, r.status) for r in data.records]
            await sessions_db.set_attendance(conn, session.id, records, "facilitator", request.user.id)
            await audit(conn, request, "session.attendance.write", [p for p, _ in records], {"session_id": session.id})
            return await self._roster(conn, request, session, runtime.settings.secret_key)

    @get("/{session_id:str}/roster", summary="Who is coming, and who came (facilitators, staff)")
    async def roster(self, session_id: SessionId, request: SignedInRequest, conn: Conn, runtime: RuntimeDep) -> Roster:
        async with conn.transaction():
            session = await _managed_session(conn, request, session_id)
            return await self._roster(conn, request, session, runtime.settings.secret_key)

    async def _roster(
        self, conn: asyncpg.Connection, request: SignedInRequest, session: Session, secret: str
    ) -> Roster:
        rows = await sessions_db.roster(conn, session.group_id, session.id)
        await audit(
            conn, request, "session.roster.read", [r["participant_id"] for r in rows], {"session_id": session.id}
        )
        return Roster(
            session=session,
            check_in_code=rules.check_in_code(secret, session.id),
            members=[RosterEntry(**dict(r)) for r in rows],
        )

    @post(
        "/{session_id:str}/cancel",
        status_code=200,
        responses=may_answer(409),
        summary="Cancel a session (facilitators, staff)",
    )
    async def cancel(
        self, session_id: SessionId, data: JSONBody[CancelRequest], request: SignedInRequest, conn: Conn
    ) -> Session:
        """Members see it as cancelled, with the reason, and are told (through quiet hours
        when it was to start within two hours)."""
        async with conn.transaction():
            session = await _managed_session(conn, request, session_id)
            await store_session(conn, session)
            await sessions_db.cancel(conn, session.id, data.reason)
            if session.status != "cancelled":
                await notices.session_cancelled(
                    conn,
                    session_id=session.id,
                    group_id=session.group_id,
                    starts_at=session.starts_at,
                    reason=data.reason,
                    now=_now(),
                )
            return await resolve_session(conn, session.id)

    @post(
        "/{session_id:str}/reschedule",
        status_code=200,
        responses=may_answer(409),
        summary="Move a session (facilitators, staff)",
    )
    async def reschedule(
        self, session_id: SessionId, data: JSONBody[RescheduleRequest], request: SignedInRequest, conn: Conn
    ) -> Session:
        """The session keeps its id and its RSVPs; later schedule edits leave it where it is.
        It may move into the coming year (366 days), no further."""
        now = _now()
        # Within the API's date window already (RescheduleRequest), so safe to compare.
        if not now < data.starts_at <= now + rules.RESCHEDULE_AHEAD:
            raise invalid("starts_at", "must be in the future, and at most a year ahead")
        async with conn.transaction():
            session = await _managed_session(conn, request, session_id)
            if session.status == "cancelled":
                raise problem(409, "session_cancelled", "This session is cancelled.")
            if session.starts_at <= _now():
                raise problem(409, "session_started", "A session that has started cannot be moved.")
            await store_session(conn, session)
            await sessions_db.move(conn, session.id, data.starts_at, data.ends_at, data.reason)
            await notices.session_moved(
                conn,
                session_id=session.id,
                group_id=session.group_id,
                old_starts_at=session.starts_at,
                starts_at=data.starts_at,
                ends_at=data.ends_at,
                reason=data.reason,
                now=_now(),
            )
            return await resolve_session(conn, session.id)


class MySessionsController(Controller):
    path = "/v1/me/sessions"
    tags = ["sessions"]

    @get("/", summary="Upcoming sessions of my groups")
    async def my_sessions(
        self,
        request: SignedInRequest,
        conn: Conn,
        start: FromTime = None,
        end: ToTime = None,
    ) -> Page[Session]:
        """Sessions of every group I am a member of, with my RSVP (default: the next four
        weeks). A date (2026-03-01) is the start of that day in my own time zone."""
        first, last = session_range(start, end, python_zone(request.user.timezone or "") or dt.UTC)
        group_ids = await sessions_db.member_group_ids(conn, request.user.id)
        return Page(items=await sessions_between(conn, group_ids, first, last, request.user.id), next_cursor=None)
