"""Staff side of help now: a graduate's calls for help, who they reached and who answered.
Every read is audited."""

from __future__ import annotations

from uuid import UUID

import asyncpg
from litestar import Controller, get
from litestar.params import FromPath

from api.audit import audit
from api.circle import service
from api.circle.schemas import StaffHelpRequest
from api.deps import Conn
from api.pagination import Page
from api.problems import found
from api.security import SignedInRequest, staff_only
from db import circle as circle_db
from db import people as people_db

STAFF_REQUESTS_SHOWN = 50


class StaffHelpNowController(Controller):
    path = "/v1/staff/participants"
    guards = [staff_only]
    tags = ["staff: support circle"]

    @get("/{participant_id:uuid}/help-requests", summary="A graduate's calls for help")
    async def help_requests(
        self, participant_id: FromPath[UUID], request: SignedInRequest, conn: Conn
    ) -> Page[StaffHelpRequest]:
        """Newest first (the last 50): the message, how many were reached, who answered what,
        and when 15 minutes passed with nobody reaching out (`escalated_at`)."""
        async with conn.transaction():
            found(await people_db.get_participant(conn, participant_id), "participant")
            rows = await circle_db.requests_of(conn, participant_id, STAFF_REQUESTS_SHOWN)
            await audit(conn, request, "participant.help_requests.read", participant_id)
        return Page(items=[to_staff(r) for r in rows], next_cursor=None)


def to_staff(row: asyncpg.Record) -> StaffHelpRequest:
    return StaffHelpRequest(
        **service.request_fields(row), answers=service.answers_of(row), escalated_at=row["escalated_at"]
    )
