"""Request and answer shapes of the support circle and help now."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from api.checkins.schemas import CrisisResource
from api.circle.rules import LONGEST_MUTE_HOURS
from api.validation import PEER_TEXT

HelpMessage = Annotated[
    str,
    msgspec.Meta(min_length=1, max_length=280, pattern=PEER_TEXT, description="Plain text, up to 280 characters."),
]
Response = Literal["reaching_out", "cannot_now"]


class Person(msgspec.Struct):
    id: UUID
    alias: str


class InvitationCreate(msgspec.Struct, forbid_unknown_fields=True):
    person_id: UUID
    """Someone you share a group with: a fellow member or the group's facilitator."""


class InvitationCreated(msgspec.Struct):
    id: int
    expires_at: dt.datetime


class Invitation(msgspec.Struct):
    id: int
    direction: Literal["received", "sent"]
    person: Person
    """Who invited you (received), or whom you invited (sent)."""
    created_at: dt.datetime
    expires_at: dt.datetime


class CircleMembership(msgspec.Struct):
    """A circle you accepted a place in."""

    id: UUID
    alias: str
    muted_until: dt.datetime | None


class Circle(msgspec.Struct):
    members: list[Person]
    """Who a call for help from you reaches (unless one of them muted it for a while)."""
    in_circles_of: int
    in_circles: list[CircleMembership]


class Mute(msgspec.Struct, forbid_unknown_fields=True):
    hours: Annotated[int, msgspec.Meta(ge=1, le=LONGEST_MUTE_HOURS)]


class HelpNowRequest(msgspec.Struct, forbid_unknown_fields=True):
    message: HelpMessage | None = None


class HelpNowCreated(msgspec.Struct):
    id: int
    reached: int
    """How many people in your circle were told, at once."""
    crisis_resources: list[CrisisResource]
    note: str


class HelpResponseRequest(msgspec.Struct, forbid_unknown_fields=True):
    response: Response


class Answer(msgspec.Struct):
    person: Person
    response: Response
    responded_at: dt.datetime


class MyHelpRequest(msgspec.Struct):
    """A call for help of mine, with who said they are reaching out."""

    id: int
    message: str | None
    created_at: dt.datetime
    reached: int
    reaching_out: list[Person]


class ReceivedHelpRequest(msgspec.Struct):
    """A call for help that reached me, and my answer."""

    id: int
    asker: Person
    message: str | None
    created_at: dt.datetime
    my_response: Response | None


class StaffHelpRequest(msgspec.Struct):
    id: int
    message: str | None
    created_at: dt.datetime
    reached: int
    answers: list[Answer]
    escalated_at: dt.datetime | None
    """When 15 minutes had passed with nobody reaching out (the alert rose to high)."""
