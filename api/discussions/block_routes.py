"""`/v1/me/blocks`: a graduate blocks another. The blocked person's posts disappear for the
blocker everywhere (lists, replies, the live socket), they cannot reply to the blocker, and
neither is in the other's support circle any more."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, delete, get, post
from litestar.params import FromPath, JSONBody

from api.deps import Conn
from api.discussions import events
from api.discussions.schemas import Block, BlockCreate
from api.openapi import may_answer
from api.pagination import Page
from api.problems import found
from api.security import SignedInRequest, participants_only
from db import circle as circle_db
from db import discussions as posts_db


class BlockController(Controller):
    path = "/v1/me/blocks"
    tags = ["discussions"]
    guards = [participants_only]

    @get("/", summary="People I blocked")
    async def list_blocks(self, request: SignedInRequest, conn: Conn) -> Page[Block]:
        return Page(
            items=[Block(**dict(r)) for r in await posts_db.list_blocks(conn, request.user.id)], next_cursor=None
        )

    @post("/", responses=may_answer(404), summary="Block someone")
    async def block(self, data: JSONBody[BlockCreate], request: SignedInRequest, conn: Conn) -> Block:
        """A graduate you can meet in a group's discussion; anyone else is a 404. They are not
        told. Blocking again changes nothing."""
        async with conn.transaction():
            peer = found(await posts_db.blockable_peer(conn, request.user.id, data.person_id), "person")
            # Nor are they in each other's support circle any more, either way (after any
            # acceptance under way: the circles' locks first).
            await circle_db.lock_circle(conn, request.user.id, peer["id"])
            await posts_db.add_block(conn, request.user.id, peer["id"])
            await circle_db.part(conn, request.user.id, peer["id"])
            [row] = [r for r in await posts_db.list_blocks(conn, request.user.id) if r["person_id"] == peer["id"]]
        events.publish(request.app, [(events.person_channel(request.user.id), events.event(events.BLOCKS))])
        return Block(**dict(row))

    @delete("/{person_id:uuid}", summary="Unblock someone")
    async def unblock(self, person_id: FromPath[UUID], request: SignedInRequest, conn: Conn) -> None:
        found(await posts_db.remove_block(conn, request.user.id, person_id) or None, "block")
        events.publish(request.app, [(events.person_channel(request.user.id), events.event(events.BLOCKS))])
