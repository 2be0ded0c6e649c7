"""`/v1/groups/{id}/posts` and `/v1/posts`: a group's discussion, for its members, its
facilitators and staff (PRODUCT.md section 10)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.params import FromPath, JSONBody, QueryParameter

from api.audit import audit
from api.deps import Conn, RuntimeDep
from api.discussions import events, service
from api.discussions.schemas import (
    HideRequest,
    Post,
    PostCreate,
    PostCreated,
    ReactionRequest,
    Reactions,
    ReactionState,
    ReportCreate,
    ReportReceipt,
    UnhideRequest,
)
from api.errors import rate_limit_answers
from api.openapi import may_answer
from api.pagination import Cursor, Limit, Page, RowId, decode_cursor, encode_cursor
from api.problems import invalid
from api.security import SignedInRequest
from db import discussions as posts_db

After = Annotated[
    int | None,
    QueryParameter(
        ge=0,
        le=2**63 - 1,
        description="Catch up: everything (posts and replies) after this id, oldest first. Use the last id your"
        " live socket gave you when it reconnects.",
    ),
]


# Toggling a reaction over and over would be a flood of live events to everyone in the group.
# One bucket a person, for both the PUT and the DELETE, shared by the API's processes through
# Redis when REDIS_URL is set (as the sign-in limit is). Litestar counts by read-then-write,
# so requests at the very same moment may pass a change or two over: a brake on floods, not
# an exact quota.
REACTIONS_PER_MINUTE = 60


def _reacting_person(request: Request[Any, Any, Any]) -> str:
    # The limiter runs after sign-in (route middleware sits inside the app's auth middleware).
    return f"reactions:{request.user.id}"


_reaction_limit = RateLimitConfig(rate_limit=("minute", REACTIONS_PER_MINUTE), identifier_for_request=_reacting_person)
_REACTION_LIMIT_ANSWERS = rate_limit_answers(
    "reaction_rate_limited",
    f"More than {REACTIONS_PER_MINUTE} reactions in a minute. Wait a minute and try again.",
    "Reactions are paused for a moment (the rate limiter is unreachable). Try again shortly.",
)


async def _audited(
    conn: asyncpg.Connection,
    request: SignedInRequest,
    access: service.Access,
    rows: list[asyncpg.Record],
    action: str,
    scope: dict[str, Any],
) -> None:
    """Staff reading peers' words read participant data: one audit row naming the graduates
    whose posts it showed."""
    if access.staff:
        authors = [r["author_id"] for r in rows if r["author_role"] == "participant" and r["author_id"]]
        await audit(conn, request, action, authors, scope)


# A cursor names the way it pages, so that `cursor` alone goes on as the first page went
# (a client that drops `after` on the next request still catches up, oldest first).
OLDER, NEWER = "older", "newer"


def _start(cursor: str | None, after: int | None) -> tuple[str, int | None]:
    """(which way, from which id) a page of a group's posts starts."""
    if cursor is None:
        return (OLDER, None) if after is None else (NEWER, after)
    way, start = decode_cursor(cursor, str, int)
    if way not in (OLDER, NEWER) or (after is not None and way != NEWER) or start < 0:
        raise invalid("cursor", "not a cursor from this list; start again without one", "query")
    return way, start


def _page(rows: list[asyncpg.Record], limit: int, cursor_of: Callable[[asyncpg.Record], tuple[Any, ...]]) -> Page[Post]:
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(
        items=[service.to_post(r) for r in rows], next_cursor=encode_cursor(*cursor_of(rows[-1])) if more else None
    )


class GroupPostsController(Controller):
    path = "/v1/groups/{group_id:uuid}/posts"
    tags = ["discussions"]

    @get("/", summary="A group's discussion")
    async def list_posts(
        self,
        group_id: FromPath[UUID],
        request: SignedInRequest,
        conn: Conn,
        cursor: Cursor = None,
        after: After = None,
        limit: Limit = 20,
    ) -> Page[Post]:
        """Posts (not replies), newest first; `next_cursor` pages to older ones. With `after`,
        instead: everything posted after that id, replies too, oldest first (a reconnecting
        live socket's catch-up; page on with `next_cursor`). Posts by people you blocked are
        left out; a hidden post shows as `hidden` without its text (its author and the
        group's moderators still see it); a removed post stays only where others replied."""
        async with conn.transaction():
            access = await service.group_access(conn, group_id, request.user)
            way, start = _start(cursor, after)
            if way == NEWER:
                assert start is not None  # a catch-up always starts after an id (_start)
                rows = await posts_db.posts_after(conn, group_id, request.user.id, access.moderator, start, limit + 1)
            else:
                rows = await posts_db.top_level_posts(
                    conn, group_id, request.user.id, access.moderator, start, limit + 1
                )
            await _audited(conn, request, access, rows[:limit], "group.posts.read", {"group_id": str(group_id)})
        return _page(rows, limit, lambda r: (way, r["id"]))

    @post("/", responses=may_answer(409, 429), summary="Post to a group's discussion, or reply")
    async def create(
        self,
        group_id: FromPath[UUID],
        data: JSONBody[PostCreate],
        request: SignedInRequest,
        conn: Conn,
        runtime: RuntimeDep,
    ) -> Response[PostCreated]:
        """Plain text up to 2,000 characters; `reply_to` to reply. 429 `post_rate_limited` past
        the hourly limit (20 by default), 409 `duplicate_post` for the same words again at
        once. A post whose words sound like a crisis or use is posted all the same; the answer
        then carries crisis resources, and the group's facilitators and your counselor are
        asked to look. Nobody replies automatically."""
        async with conn.transaction():
            created, published = await service.create_post(conn, runtime.settings, request.user, group_id, data)
        events.publish(request.app, published)
        return Response(created, status_code=201)


class PostController(Controller):
    path = "/v1/posts"
    tags = ["discussions"]

    @get("/{post_id:int}/replies", summary="A post's replies")
    async def replies(
        self, post_id: RowId, request: SignedInRequest, conn: Conn, cursor: Cursor = None, limit: Limit = 50
    ) -> Page[Post]:
        """Oldest first, as a conversation reads; `next_cursor` pages to newer ones."""
        async with conn.transaction():
            facts, access = await service.post_access(conn, post_id, request.user)
            (after,) = decode_cursor(cursor, int) if cursor else (None,)
            rows = await posts_db.replies(conn, post_id, request.user.id, access.moderator, after, limit + 1)
            scope = {"group_id": str(access.group_id), "post_id": post_id}
            await _audited(conn, request, access, rows[:limit], "group.posts.read", scope)
        return _page(rows, limit, lambda r: (r["id"],))

    @delete("/{post_id:int}", summary="Delete my post")
    async def remove(self, post_id: RowId, request: SignedInRequest, conn: Conn) -> None:
        """Only its author deletes a post. Replies by others stay, under a "removed" placeholder."""
        async with conn.transaction():
            published = await service.delete_post(conn, request.user, post_id)
        events.publish(request.app, published)

    @put(
        "/{post_id:int}/reaction",
        responses=may_answer(409, 429),
        summary="Show support for a post",
        middleware=[_reaction_limit.middleware],
        exception_handlers=_REACTION_LIMIT_ANSWERS,
    )
    async def react(
        self, post_id: RowId, data: JSONBody[ReactionRequest], request: SignedInRequest, conn: Conn
    ) -> ReactionState:
        """429 `reaction_rate_limited` past 60 changes a minute (with `Retry-After`)."""
        return await self._react(request, conn, post_id, data.kind, True)

    @delete(
        "/{post_id:int}/reaction",
        status_code=200,
        responses=may_answer(429),
        summary="Take back my support",
        middleware=[_reaction_limit.middleware],
        exception_handlers=_REACTION_LIMIT_ANSWERS,
    )
    async def unreact(self, post_id: RowId, request: SignedInRequest, conn: Conn) -> ReactionState:
        """429 `reaction_rate_limited` past 60 changes a minute, counted with the PUT's."""
        return await self._react(request, conn, post_id, "support", False)

    async def _react(
        self, request: SignedInRequest, conn: asyncpg.Connection, post_id: int, kind: str, on: bool
    ) -> ReactionState:
        async with conn.transaction():
            count, published, _ = await service.react(conn, request.user, post_id, kind, on)
        events.publish(request.app, published)
        return ReactionState(post_id=post_id, reactions=Reactions(support=count), my_reaction=on)

    @post("/{post_id:int}/report", responses=may_answer(409, 422), summary="Report a post to the moderators")
    async def report(
        self, post_id: RowId, data: JSONBody[ReportCreate], request: SignedInRequest, conn: Conn
    ) -> ReportReceipt:
        """The group's facilitators and staff see it in their moderation queue; the author is
        not told who reported it. Reporting again while yours is open changes nothing (the same
        `id`). 422 `own_post` for your own; 409 `post_unavailable` once it is hidden or removed."""
        async with conn.transaction():
            report_id = await service.report_post(conn, request.user, post_id, data.reason, data.note)
        return ReportReceipt(id=report_id, post_id=post_id, reason=data.reason)

    @post(
        "/{post_id:int}/hide", status_code=200, responses=may_answer(409), summary="Hide a post (facilitators, staff)"
    )
    async def hide(self, post_id: RowId, data: JSONBody[HideRequest], request: SignedInRequest, conn: Conn) -> Post:
        """Members then see that a post was hidden, not what it said. The author is told why,
        privately, in their inbox. Open reports and flags on it are closed."""
        async with conn.transaction():
            shown, published = await service.set_hidden(conn, request.user, post_id, True, data.reason)
        events.publish(request.app, published)
        return shown

    @post(
        "/{post_id:int}/unhide",
        status_code=200,
        responses=may_answer(409),
        summary="Show a hidden post again (facilitators, staff)",
    )
    async def unhide(
        self, post_id: RowId, request: SignedInRequest, conn: Conn, data: JSONBody[UnhideRequest | None] = None
    ) -> Post:
        async with conn.transaction():
            shown, published = await service.set_hidden(
                conn, request.user, post_id, False, data.reason if data else None
            )
        events.publish(request.app, published)
        return shown
