"""What live sockets are told, and on which channel.

An event names what happened by ids (and a count), never by content: it travels through
PostgreSQL's NOTIFY (8,000 bytes at most) or Redis, and each API process loads what it
shows from the database, once per event (api/discussions/live.py). Events are published
after the change commits, so a socket never hears of a post the list would not show."""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

from litestar import Litestar
from litestar.channels import ChannelsPlugin

POST = "post"
REPLY = "reply"
HIDDEN = "hidden"
UNHIDDEN = "unhidden"
DELETED = "deleted"
REACTION = "reaction"
# On a person's own channel: their access changed (left a group, deactivated), or whom they block.
ACCESS = "access"
BLOCKS = "blocks"
# On a person's own channel: someone in their circle is reaching out (api/circle).
HELP_RESPONSE = "help_response"


def group_channel(group_id: UUID) -> str:
    return f"aftercare_group_{group_id.hex}"


def person_channel(person_id: UUID) -> str:
    return f"aftercare_person_{person_id.hex}"


def event(kind: str, **ids: Any) -> dict[str, Any]:
    """An event with a fresh id: the processes' caches key what they loaded by it."""
    return {"event_id": uuid.uuid4().hex, "type": kind} | {
        k: str(v) if isinstance(v, UUID) else v for k, v in ids.items()
    }


def post_event(kind: str, post: dict[str, Any] | Any) -> dict[str, Any]:
    return event(kind, group_id=post["group_id"], post_id=post["id"], reply_to=post["reply_to"])


def publish(app: Litestar, events: list[tuple[str, dict[str, Any]]]) -> None:
    """Queue (channel, event) pairs for every process's sockets; returns at once."""
    channels = app.plugins.get(ChannelsPlugin)
    for channel, payload in events:
        channels.publish(payload, channel)


def access_changed(app: Litestar, person_id: UUID) -> None:
    """The person's live sockets check again, at once, whether they may stay open."""
    publish(app, [(person_channel(person_id), event(ACCESS))])


def group_access_changed(app: Litestar, group_id: UUID) -> None:
    """Every live socket on the group checks again, at once (the group was archived)."""
    publish(app, [(group_channel(group_id), event(ACCESS))])
