"""The rules of a group's discussion: who reads and moderates it, and what happens to one
post, in order. Routes call these inside a transaction and publish the returned events
once it has committed."""

from __future__ import annotations

import datetime as dt
import hashlib
import unicodedata
from dataclasses import dataclass
from typing import Any, TypeVar, overload
from uuid import UUID

import asyncpg

from api.checkins import risk
from api.checkins.schemas import CrisisResource
from api.discussions import events
from api.discussions.crisis_watch import assess_post
from api.discussions.schemas import Author, Post, PostCreate, PostCreated, Reactions
from api.problems import found, problem
from api.security import ADMIN, STAFF, Principal
from api.settings import Settings
from db import discussions as posts_db
from db import moderation as moderation_db
from db import notifications as notifications_db
from notifications import kinds, templates
from notifications.outbox import notify

Events = list[tuple[str, dict[str, Any]]]
P = TypeVar("P", bound=Post)
CRISIS_NOTE = (
    "Your post is up. If you are struggling right now, you don't have to wait for a reply: call or text 988, "
    "or call 911 if you are in danger. " + risk.NOT_WATCHED
)


@dataclass(frozen=True)
class Access:
    group_id: UUID
    group_name: str
    moderator: bool  # the group's facilitator, or staff
    staff: bool
    role: str  # what the person posts as here
    archived: bool


async def group_access(conn: asyncpg.Connection, group_id: UUID, user: Principal) -> Access:
    """The caller's place in the group's discussion: members, its facilitators and staff
    read it; anyone else (waitlisted too) gets a 404, as for a group that does not exist.
    Archived groups' discussions stay readable to staff only."""
    row = await posts_db.discussion_access(conn, group_id, user.id)
    staff = user.has_any(STAFF, ADMIN)
    if row is None or not (staff or ((row["member"] or row["facilitates"]) and row["archived_at"] is None)):
        found(None, "group")
    role = "staff" if staff else "facilitator" if row["facilitates"] else "participant"
    return Access(group_id, row["name"], staff or row["facilitates"], staff, role, row["archived_at"] is not None)


async def post_access(
    conn: asyncpg.Connection, post_id: int, user: Principal, lock: bool = False
) -> tuple[asyncpg.Record, Access]:
    """The post and the caller's place in its group; 404 where the caller cannot see it
    (another group's, or its author blocked by the caller). `lock` (for a change): the post
    stays as read until the transaction ends."""
    facts = found(await posts_db.post_facts(conn, post_id, lock), "post")
    access = await group_access(conn, facts["group_id"], user)
    if await posts_db.blocked(conn, user.id, facts["author_id"]):
        found(None, "post")
    return facts, access


async def visible_post(conn: asyncpg.Connection, post_id: int, user: Principal, moderator: bool) -> asyncpg.Record:
    """The post as the caller now sees it; 404 if they no longer can (they blocked its
    author, or the thread's, in a request that ran at the same time)."""
    return found(await posts_db.get_post(conn, post_id, user.id, moderator), "post")


# Made as `cls` (PostCreated, with `extra`), it is typed as one.
@overload
def to_post(row: asyncpg.Record | dict[str, Any], cls: type[P], **extra: Any) -> P: ...
@overload
def to_post(row: asyncpg.Record | dict[str, Any]) -> Post: ...
def to_post(row: asyncpg.Record | dict[str, Any], cls: type[Post] = Post, **extra: Any) -> Post:
    author = None if row["removed"] else Author(id=row["author_id"], alias=row["author_alias"], role=row["author_role"])
    return cls(
        id=row["id"],
        group_id=row["group_id"],
        author=author,
        body=row["body"],
        created_at=row["created_at"],
        reply_to=row["reply_to"],
        reply_count=row["reply_count"],
        reactions=Reactions(support=row["support_count"]),
        my_reaction=row["my_reaction"],
        hidden=row["hidden"],
        removed=row["removed"],
        **extra,
    )


def digest(body: str) -> bytes:
    """The same words, whatever their case, accents' encoding or spacing."""
    text = " ".join(unicodedata.normalize("NFKC", body).casefold().split())
    return hashlib.sha256(text.encode()).digest()


async def _within_limits(
    conn: asyncpg.Connection,
    settings: Settings,
    author_id: UUID,
    where: tuple[UUID, int | None],
    body: str,
    now: dt.datetime,
) -> bytes:
    """The hourly limit and the duplicate check; the body's digest. `where` is the group and
    the thread (None for a new post)."""
    await posts_db.lock_author(conn, author_id)
    sent = await posts_db.recent_posts_by(conn, author_id, now - dt.timedelta(hours=1))
    if sent >= settings.post_rate_per_hour:
        raise problem(
            429,
            "post_rate_limited",
            f"You can post {settings.post_rate_per_hour} times an hour. Please wait a little and try again.",
            headers={"Retry-After": "600"},
        )
    mine = digest(body)
    # A double send is the same words to the same place; "Congrats!" under two people's posts is two replies.
    since = now - dt.timedelta(seconds=settings.post_duplicate_window_s)
    if await posts_db.posted_lately(conn, author_id, mine, *where, since):
        raise problem(
            409, "duplicate_post", "You posted the same words here a few minutes ago. They are already there."
        )
    return mine


async def _parent(conn: asyncpg.Connection, access: Access, reply_to: int, user: Principal) -> asyncpg.Record:
    """The post a reply goes under (a reply to a reply goes under the same post)."""
    target = await posts_db.post_facts(conn, reply_to, lock=True)
    if (
        target is None
        or target["group_id"] != access.group_id
        or await posts_db.blocked(conn, user.id, target["author_id"])
    ):
        found(None, "post")
    if target["removed_at"] is not None or target["hidden_at"] is not None:
        raise problem(409, "post_unavailable", "That post was removed or hidden: it takes no replies.")
    if await posts_db.blocked(conn, target["author_id"], user.id):
        raise problem(403, "cannot_reply", "You can't reply to this post.")
    return target


async def create_post(
    conn: asyncpg.Connection, settings: Settings, user: Principal, group_id: UUID, data: PostCreate
) -> tuple[PostCreated, Events]:
    now = dt.datetime.now(dt.UTC)
    access = await group_access(conn, group_id, user)
    if access.archived:
        raise problem(409, "group_archived", "This group is archived: its discussion is read-only.")
    target = await _parent(conn, access, data.reply_to, user) if data.reply_to else None
    # The reply goes under the thread's post; both the post's author and the person replied to are told.
    thread = await _parent(conn, access, target["reply_to"], user) if target and target["reply_to"] else target
    root = thread["id"] if thread else None
    body_digest = await _within_limits(conn, settings, user.id, (group_id, root), data.body, now)
    # Under the group's lock: posts commit in the order of their ids (api/discussions/events.py).
    await posts_db.lock_group_discussion(conn, group_id)
    post_id = await posts_db.insert_post(
        conn,
        group_id=group_id,
        author_id=user.id,
        author_role=access.role,
        reply_to=root,
        body=data.body,
        digest=body_digest,
        # Python's clock, as the limits above read it.
        at=now,
    )
    flag = assess_post(data.body)
    if flag is not None:
        # Posted all the same: a flag asks a person to look, it never silences anyone.
        await moderation_db.add_crisis_flag(conn, post_id, group_id, flag.categories, flag.phrases)
    authors = {t["author_id"] for t in (target, thread) if t is not None} - {None, user.id}
    told = await posts_db.readers_among(conn, group_id, sorted(authors)) if authors else []
    if told:
        assert root is not None  # only a reply tells anyone, and a reply has its thread
        await notify(
            conn,
            told,
            templates.group_reply(group_id=str(group_id), group_name=access.group_name, post_id=root),
        )
    if target is None:
        await _new_posts_notice(conn, access, user.id, now)
    row = await visible_post(conn, post_id, user, access.moderator)
    created = to_post(
        row,
        PostCreated,
        crisis_resources=[CrisisResource(**c) for c in risk.CRISIS_RESOURCES] if flag else None,
        crisis_note=CRISIS_NOTE if flag else None,
    )
    kind = events.REPLY if root else events.POST
    return created, [(events.group_channel(group_id), events.post_event(kind, row))]


async def _new_posts_notice(conn: asyncpg.Connection, access: Access, author_id: UUID, now: dt.datetime) -> None:
    """`group_post`, for the members who switched it on: one an hour per group at most, a
    rolling hour (posts at 10:59 and 11:01 make one). Called under the group's lock, so two
    posts at once cannot both find nobody told yet."""
    wanting = await notifications_db.group_post_subscribers(conn, access.group_id, author_id, kinds.GROUP_POST)
    if wanting:
        told = await posts_db.told_of_new_posts_since(
            conn, access.group_id, wanting, kinds.GROUP_POST, now - dt.timedelta(hours=1)
        )
        wanting = [person for person in wanting if person not in told]
    if wanting:
        await notify(
            conn,
            wanting,
            templates.group_post(group_id=str(access.group_id), group_name=access.group_name),
            not_before=now,
        )


async def set_hidden(
    conn: asyncpg.Connection, user: Principal, post_id: int, hidden: bool, reason: str | None
) -> tuple[Post, Events]:
    """A moderator hides a post (or shows it again); its author is told why, in their inbox.
    Hiding closes the open reports and flags on it."""
    facts, access = await post_access(conn, post_id, user, lock=True)
    if not access.moderator:
        raise problem(403, "forbidden", "Only the group's facilitators and staff hide posts; report it instead.")
    if facts["removed_at"] is not None:
        raise problem(409, "post_removed", "That post was removed by its author.")
    changed = await posts_db.set_hidden(conn, post_id, user.id, reason, hidden)
    if hidden:
        await moderation_db.close_for_post(conn, post_id, user.id, "hidden")
    if changed and facts["author_id"] not in (None, user.id):
        await notify(
            conn,
            [facts["author_id"]],
            templates.post_moderated(
                group_id=str(access.group_id),
                group_name=access.group_name,
                post_id=post_id,
                hidden=hidden,
                reason=reason,
            ),
        )
    row = await visible_post(conn, post_id, user, access.moderator)
    published = [
        (events.group_channel(access.group_id), events.post_event(events.HIDDEN if hidden else events.UNHIDDEN, row))
    ]
    return to_post(row), published if changed else []


async def delete_post(conn: asyncpg.Connection, user: Principal, post_id: int) -> Events:
    """The author's words are theirs to take back, even after leaving the group (or once it
    is archived); anyone else learns only what they could see anyway."""
    facts = found(await posts_db.post_facts(conn, post_id, lock=True), "post")
    if facts["author_id"] != user.id:
        await post_access(conn, post_id, user)
        raise problem(403, "forbidden", "Only its author deletes a post; moderators hide it.")
    if facts["removed_at"] is not None:
        return []
    await posts_db.remove_post(conn, post_id)
    await moderation_db.close_for_post(conn, post_id, None, "removed")
    return [(events.group_channel(facts["group_id"]), events.post_event(events.DELETED, facts))]


async def react(
    conn: asyncpg.Connection, user: Principal, post_id: int, kind: str, on: bool
) -> tuple[int, Events, UUID]:
    facts, access = await post_access(conn, post_id, user, lock=True)
    if on and access.archived:
        raise problem(409, "group_archived", "This group is archived: its discussion is read-only.")
    if on and (facts["removed_at"] is not None or facts["hidden_at"] is not None):
        raise problem(409, "post_unavailable", "That post was removed or hidden.")
    count = await posts_db.react(conn, post_id, user.id, kind, on)
    payload = events.event(
        events.REACTION, group_id=access.group_id, post_id=post_id, reply_to=facts["reply_to"], support=count
    )
    return count, [(events.group_channel(access.group_id), payload)], access.group_id


async def report_post(conn: asyncpg.Connection, user: Principal, post_id: int, reason: str, note: str | None) -> int:
    """The report's id: reporting again while yours is open answers with the same one."""
    facts, access = await post_access(conn, post_id, user, lock=True)
    if facts["author_id"] == user.id:
        raise problem(422, "own_post", "That is your own post: delete it instead.")
    if facts["removed_at"] is not None or facts["hidden_at"] is not None:
        # Already out of sight: a report would ask a moderator to look at nothing.
        raise problem(409, "post_unavailable", "That post was removed or hidden already.")
    # Open already: the same one. Dismissed between the two statements: a new one.
    while (report_id := await moderation_db.add_report(conn, post_id, access.group_id, user.id, reason, note)) is None:
        if (report_id := await moderation_db.open_report_of(conn, post_id, user.id)) is not None:
            break
    return report_id
