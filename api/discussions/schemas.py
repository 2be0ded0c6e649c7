"""Request and answer shapes of group discussions, blocks, moderation and live tickets."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from api.checkins.schemas import CrisisResource
from api.validation import PEER_TEXT

PostBody = Annotated[
    str,
    msgspec.Meta(min_length=1, max_length=2000, pattern=PEER_TEXT, description="Plain text, up to 2,000 characters."),
]
ModeratorReason = Annotated[str, msgspec.Meta(min_length=1, max_length=500, pattern=PEER_TEXT)]
ReportNote = Annotated[str, msgspec.Meta(max_length=500, pattern=PEER_TEXT)]
Role = Literal["participant", "facilitator", "staff"]
ReportReason = Literal["unsafe", "harassment", "spam", "other"]


class PostCreate(msgspec.Struct, forbid_unknown_fields=True):
    body: PostBody
    reply_to: Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)] | None = None
    """A post's id to reply to it. Replies are one level deep: replying to a reply puts
    yours under the same post (and tells the reply's author)."""


class Author(msgspec.Struct):
    id: UUID | None
    alias: str | None
    role: Role


class Reactions(msgspec.Struct):
    support: int


class Post(msgspec.Struct):
    id: int
    group_id: UUID
    author: Author | None
    """None for a removed post (kept as a placeholder because others replied to it)."""
    body: str | None
    """Plain text: show it as text, links included, never as markup. None when removed, or
    hidden (except to its author and the group's moderators)."""
    created_at: dt.datetime
    reply_to: int | None
    reply_count: int
    reactions: Reactions
    my_reaction: bool
    hidden: bool
    removed: bool


class PostCreated(Post):
    crisis_resources: list[CrisisResource] | None = None
    """When the text sounds like a crisis or use: call or text these now. The post is
    posted all the same, and the group's facilitators and your counselor are told."""
    crisis_note: str | None = None


class ReactionRequest(msgspec.Struct, forbid_unknown_fields=True):
    kind: Literal["support"] = "support"


class ReactionState(msgspec.Struct):
    post_id: int
    reactions: Reactions
    my_reaction: bool


class ReportCreate(msgspec.Struct, forbid_unknown_fields=True):
    reason: ReportReason
    note: ReportNote | None = None


class ReportReceipt(msgspec.Struct):
    id: int
    post_id: int
    reason: ReportReason


class HideRequest(msgspec.Struct, forbid_unknown_fields=True):
    reason: ModeratorReason
    """Why: the author reads it in their inbox."""


class UnhideRequest(msgspec.Struct, forbid_unknown_fields=True):
    reason: ModeratorReason | None = None


class BlockCreate(msgspec.Struct, forbid_unknown_fields=True):
    person_id: UUID


class Block(msgspec.Struct):
    person_id: UUID
    alias: str
    created_at: dt.datetime


class ModeratedPost(msgspec.Struct):
    id: int
    group_id: UUID
    group_name: str
    author: Author | None
    body: str | None
    created_at: dt.datetime
    reply_to: int | None
    hidden: bool
    removed: bool


class ModerationItem(msgspec.Struct):
    id: int
    kind: Literal["report", "crisis"]
    reason: str
    """A report's reason; a crisis flag's categories (`crisis`, `use`, comma-separated)."""
    note: str | None
    phrases: list[str]
    """For a crisis flag: the phrases of the reviewed list that matched."""
    created_at: dt.datetime
    open_reports: int
    post: ModeratedPost
    participant_url: str | None
    """For staff: the author's page in the API (the dashboard links to its own)."""


class LiveTicket(msgspec.Struct):
    ticket: str
    expires_at: dt.datetime
    expires_in: int
