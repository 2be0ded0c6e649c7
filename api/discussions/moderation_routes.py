"""`/v1/staff/moderation`: reports and crisis flags waiting for a moderator, oldest first.
Staff see every group's (or, with `mine`, those about their caseload); a facilitator sees
the groups they run. Hiding a post (`POST /v1/posts/{id}/hide`) closes its items; `dismiss`
closes one without changing the post."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import asyncpg
from litestar import Controller, get, post
from litestar.params import QueryParameter

from api.audit import audit
from api.deps import Conn
from api.discussions.schemas import Author, ModeratedPost, ModerationItem
from api.pagination import Cursor, Limit, Page, RowId, decode_cursor, encode_cursor
from api.problems import found
from api.security import ADMIN, FACILITATOR, STAFF, SignedInRequest, require_roles
from db import moderation as moderation_db

Mine = Annotated[bool, QueryParameter(description="Staff: only items about posts by my caseload.")]


def to_item(row: asyncpg.Record, staff: bool) -> ModerationItem:
    author = None if row["removed"] else Author(id=row["author_id"], alias=row["author_alias"], role=row["author_role"])
    participant = staff and row["author_role"] == "participant" and row["author_id"] is not None
    return ModerationItem(
        id=row["id"],
        kind=row["kind"],
        reason=row["reason"],
        note=row["note"],
        phrases=list(row["phrases"]),
        created_at=row["created_at"],
        open_reports=row["open_reports"],
        post=ModeratedPost(
            id=row["post_id"],
            group_id=row["group_id"],
            group_name=row["group_name"],
            author=author,
            body=row["body"],
            created_at=row["post_created_at"],
            reply_to=row["reply_to"],
            hidden=row["hidden"],
            removed=row["removed"],
        ),
        participant_url=f"/v1/staff/participants/{row['author_id']}" if participant else None,
    )


class ModerationController(Controller):
    path = "/v1/staff/moderation"
    tags = ["moderation"]
    guards = [require_roles(STAFF, ADMIN, FACILITATOR)]

    @get("/", summary="The moderation queue")
    async def queue(
        self, request: SignedInRequest, conn: Conn, mine: Mine = False, cursor: Cursor = None, limit: Limit = 50
    ) -> Page[ModerationItem]:
        """Open reports and crisis flags, oldest first, each with the post as moderators see it."""
        staff = request.user.has_any(STAFF, ADMIN)
        after = decode_cursor(cursor, dt.datetime, int) if cursor else None
        async with conn.transaction():
            rows = await moderation_db.open_items(conn, request.user.id, staff, mine, after, limit + 1)
            more = len(rows) > limit
            rows = rows[:limit]
            if staff:
                authors = [r["author_id"] for r in rows if r["author_role"] == "participant" and r["author_id"]]
                await audit(conn, request, "moderation.read", authors)
        next_cursor = encode_cursor(rows[-1]["created_at"], rows[-1]["id"]) if more else None
        return Page(items=[to_item(r, staff) for r in rows], next_cursor=next_cursor)

    @post("/{item_id:int}/dismiss", status_code=200, summary="Dismiss a report or flag")
    async def dismiss(self, item_id: RowId, request: SignedInRequest, conn: Conn) -> ModerationItem:
        """Closes the item and leaves the post as it is. A closed or foreign item is a 404."""
        staff = request.user.has_any(STAFF, ADMIN)
        async with conn.transaction():
            row = found(await moderation_db.open_item(conn, item_id, request.user.id, staff), "moderation item")
            # Two moderators at once, or a hide in between: only the one that closes it is answered.
            found(await moderation_db.dismiss(conn, item_id, request.user.id) or None, "moderation item")
            if staff and row["author_role"] == "participant" and row["author_id"]:
                await audit(conn, request, "moderation.dismiss", row["author_id"], {"item_id": item_id})
        return to_item(row, staff)
