"""`/v1/me/circle`, `/v1/me/help-now` and `/v1/help-requests`: the people a graduate chose
to call on in a bad moment, and the call itself (PRODUCT.md section 10)."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

import asyncpg
from litestar import Controller, Response, delete, get, post
from litestar.params import FromPath, JSONBody

from api.circle import service
from api.circle.schemas import (
    Circle,
    CircleMembership,
    HelpNowCreated,
    HelpNowRequest,
    HelpResponseRequest,
    Invitation,
    InvitationCreate,
    InvitationCreated,
    Mute,
    MyHelpRequest,
    Person,
    ReceivedHelpRequest,
)
from api.deps import Conn
from api.discussions import events
from api.openapi import may_answer
from api.pagination import Page, RowId
from api.problems import found
from api.security import FACILITATOR, PARTICIPANT, SignedInRequest, participants_only, require_roles
from db import circle as circle_db

# Graduates have circles; facilitators can be in one (they run a group with the graduate).
circle_people = require_roles(PARTICIPANT, FACILITATOR)
MY_REQUESTS_SHOWN = 20


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class CircleController(Controller):
    path = "/v1/me/circle"
    tags = ["support circle"]
    guards = [circle_people]

    @get("/", summary="My support circle, and the circles I am in")
    async def read(self, request: SignedInRequest, conn: Conn) -> Circle:
        """`members`: whom a call for help from you reaches. `in_circles`: the graduates whose
        invitation you accepted (and whether you muted theirs)."""
        return await service.circle_of(conn, request.user.id)

    @delete("/{person_id:uuid}", summary="Leave a circle, or take someone out of mine")
    async def leave(self, person_id: FromPath[UUID], request: SignedInRequest, conn: Conn) -> None:
        """Someone in your circle is taken out of it; otherwise you leave theirs. Nobody is
        told why. (Two people in each other's circles: the first call ends yours, a second
        theirs.)"""
        async with conn.transaction():
            await service.leave(conn, request.user.id, person_id)

    @post("/{person_id:uuid}/mute", status_code=200, summary="Mute a circle I am in, for a while")
    async def mute(
        self, person_id: FromPath[UUID], data: JSONBody[Mute], request: SignedInRequest, conn: Conn
    ) -> CircleMembership:
        """Their calls for help do not reach you for `hours` (up to a week); they are not told,
        and the number they see reached leaves you out."""
        until = _now() + dt.timedelta(hours=data.hours)
        found(await circle_db.set_mute(conn, person_id, request.user.id, until) or None, "circle")
        return CircleMembership(id=person_id, alias=await circle_db.alias_of(conn, person_id), muted_until=until)

    @delete("/{person_id:uuid}/mute", summary="Unmute a circle")
    async def unmute(self, person_id: FromPath[UUID], request: SignedInRequest, conn: Conn) -> None:
        found(await circle_db.set_mute(conn, person_id, request.user.id, None) or None, "circle")

    @post("/invitations", guards=[participants_only], responses=may_answer(404, 409), summary="Invite someone")
    async def invite(self, data: JSONBody[InvitationCreate], request: SignedInRequest, conn: Conn) -> InvitationCreated:
        """Someone you share a group with (a fellow member or its facilitator); anyone else,
        and anyone with a block between you, is a 404. Up to 5 people, open invitations
        included; an invitation lapses after 7 days. 409 `already_invited`,
        `already_in_circle`, `circle_full`."""
        async with conn.transaction():
            return await service.invite(conn, request.user.id, data.person_id, _now())

    @get("/invitations", summary="Invitations waiting for an answer")
    async def invitations(self, request: SignedInRequest, conn: Conn) -> Page[Invitation]:
        """`received`: someone asks you into their circle; `sent`: yours not answered yet.
        Declined and lapsed ones are not listed."""
        rows = await circle_db.open_invitations(conn, request.user.id, _now())
        items = [
            Invitation(
                id=r["id"],
                direction="received" if r["invitee_id"] == request.user.id else "sent",
                person=Person(id=r["owner_id"], alias=r["owner_alias"])
                if r["invitee_id"] == request.user.id
                else Person(id=r["invitee_id"], alias=r["invitee_alias"]),
                created_at=r["created_at"],
                expires_at=r["expires_at"],
            )
            for r in rows
        ]
        return Page(items=items, next_cursor=None)

    @post("/invitations/{invitation_id:int}/accept", status_code=200, responses=may_answer(403, 409), summary="Accept")
    async def accept(self, invitation_id: RowId, request: SignedInRequest, conn: Conn) -> Circle:
        """Their calls for help will reach you (you can mute them for a while, or leave)."""
        async with conn.transaction():
            circle = await service.accept(conn, request.user, invitation_id, _now())
        # A lapsed invitation is closed (committed above), then a 404 as for any unknown one.
        return found(circle, "invitation")

    @post("/invitations/{invitation_id:int}/decline", status_code=204, summary="Decline, or withdraw mine")
    async def decline(self, invitation_id: RowId, request: SignedInRequest, conn: Conn) -> None:
        """The other person is not told which."""
        async with conn.transaction():
            await service.decline(conn, request.user, invitation_id, _now())


class HelpNowController(Controller):
    path = "/v1/me/help-now"
    tags = ["support circle"]
    guards = [participants_only]

    @post("/", responses=may_answer(429), summary="Ask my circle for help now")
    async def ask(
        self, request: SignedInRequest, conn: Conn, data: JSONBody[HelpNowRequest | None] = None
    ) -> Response[HelpNowCreated]:
        """Everyone in your circle gets an urgent push at once, through quiet hours ("Someone
        in your circle asked you to reach out": no name, no reason on a lock screen) and an
        inbox item with your alias and `message`. Your counselor sees it too. The answer
        always carries crisis resources; after 15 minutes with nobody reaching out you are
        offered them again. 429 `help_now_rate_limited` past 3 an hour (with Retry-After)."""
        async with conn.transaction():
            created = await service.ask(conn, request.user, data.message if data else None, _now())
        return Response(created, status_code=201)

    @get("/", summary="My recent calls for help, and who is reaching out")
    async def mine(self, request: SignedInRequest, conn: Conn) -> Page[MyHelpRequest]:
        rows = await circle_db.requests_of(conn, request.user.id, MY_REQUESTS_SHOWN)
        return Page(items=[_mine(r) for r in rows], next_cursor=None)


def _mine(row: asyncpg.Record) -> MyHelpRequest:
    reaching_out = [a.person for a in service.answers_of(row) if a.response == "reaching_out"]
    return MyHelpRequest(**service.request_fields(row), reaching_out=reaching_out)


class HelpRequestController(Controller):
    path = "/v1/help-requests"
    tags = ["support circle"]
    guards = [circle_people]

    @get("/{request_id:int}", summary="A call for help that reached me")
    async def read(self, request_id: RowId, request: SignedInRequest, conn: Conn) -> ReceivedHelpRequest:
        row = found(
            await circle_db.request_for_responder(conn, request_id, request.user.id, lock=False), "help request"
        )
        return ReceivedHelpRequest(
            id=row["id"],
            asker=Person(id=row["person_id"], alias=row["asker_alias"]),
            message=row["message"],
            created_at=row["created_at"],
            my_response=row["response"],
        )

    @post("/{request_id:int}/respond", status_code=200, summary="Answer a call for help")
    async def respond(
        self, request_id: RowId, data: JSONBody[HelpResponseRequest], request: SignedInRequest, conn: Conn
    ) -> ReceivedHelpRequest:
        """`reaching_out`: they are told at once that you are coming (by alias). `cannot_now`:
        nobody is told; the counselor hears after 15 minutes if nobody else is reaching out.
        You may change your answer."""
        async with conn.transaction():
            answer, published = await service.respond(conn, request.user, request_id, data.response, _now())
        events.publish(request.app, published)
        return answer
