"""The support circle and help now, in order: who may join whose circle, what one call for
help does at once, and what an answer to it does. Routes call these inside a transaction
and publish the returned live events once it has committed."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

import asyncpg

from api.checkins import risk
from api.checkins.schemas import CrisisResource
from api.circle import rules
from api.circle.schemas import (
    Answer,
    Circle,
    CircleMembership,
    HelpNowCreated,
    InvitationCreated,
    Person,
    ReceivedHelpRequest,
)
from api.discussions import events
from api.discussions.crisis_watch import assess_post
from api.problems import found, problem
from api.security import Principal
from db import alerts as alerts_db
from db import circle as circle_db
from db import engagement
from db.zones import zone_of
from notifications import templates
from notifications.outbox import notify

Events = list[tuple[str, dict[str, Any]]]
REACHED_NOTE = (
    "We told {n} in your circle. While you wait, you can call or text 988 any time, or call 911 if you are in danger."
)
NOBODY_REACHED_NOTE = (
    "Nobody in your circle could be told right now. You don't have to wait: call or text 988, "
    "or call 911 if you are in danger."
)
UNANSWERED_TEXT = "Nobody in your circle has said they're reaching out yet. You don't have to wait for them. "


def request_fields(row: asyncpg.Record) -> dict[str, Any]:
    """What every view of a call for help shows (from db.circle.requests_of)."""
    return {k: row[k] for k in ("id", "message", "created_at", "reached")}


def answers_of(row: asyncpg.Record) -> list[Answer]:
    return [
        Answer(
            person=Person(id=a["person_id"], alias=a["alias"]),
            response=a["response"],
            # Built in SQL as JSON text: read back as a moment, so it is written like every other.
            responded_at=dt.datetime.fromisoformat(a["responded_at"]),
        )
        for a in row["responses"]
    ]


async def circle_of(conn: asyncpg.Connection, person_id: UUID) -> Circle:
    members = await circle_db.members(conn, person_id)
    circles = await circle_db.circles_of(conn, person_id)
    return Circle(
        members=[Person(id=m["id"], alias=m["alias"]) for m in members],
        in_circles_of=len(circles),
        in_circles=[CircleMembership(id=c["id"], alias=c["alias"], muted_until=c["muted_until"]) for c in circles],
    )


async def invite(conn: asyncpg.Connection, owner_id: UUID, person_id: UUID, now: dt.datetime) -> InvitationCreated:
    """Someone the owner shares a group with, no block between them (anyone else is a 404:
    an id proves nothing); at most five places, open invitations included."""
    await circle_db.lock_circle(conn, owner_id)
    peer = found(await circle_db.invitable_peer(conn, owner_id, person_id), "person")
    if await circle_db.is_member(conn, owner_id, peer["id"]):
        raise problem(409, "already_in_circle", "They are in your circle already.")
    if await circle_db.invited(conn, owner_id, peer["id"], now):
        raise problem(409, "already_invited", "You invited them already; they have not answered yet.")
    if await circle_db.circle_size(conn, owner_id, now) >= rules.CIRCLE_LIMIT:
        raise problem(
            409,
            "circle_full",
            f"A circle holds {rules.CIRCLE_LIMIT} people, open invitations included. "
            "Remove someone, or decline an invitation you sent, first.",
        )
    created = await circle_db.invite(conn, owner_id, peer["id"], now, now + rules.INVITATION_LIFETIME)
    return InvitationCreated(id=created["id"], expires_at=created["expires_at"])


async def accept(conn: asyncpg.Connection, user: Principal, invitation_id: int, now: dt.datetime) -> Circle | None:
    """The circle, or None when the invitation lapsed (they no longer share a group, or a
    block came between them): it is closed, and the caller commits that before the 404."""
    # The owner's circle first, then the invitation's row: the order a block takes them in.
    peek = found(await circle_db.open_invitation(conn, invitation_id, user.id, now, lock=False), "invitation")
    await circle_db.lock_circle(conn, peek["owner_id"])
    invitation = found(await circle_db.open_invitation(conn, invitation_id, user.id, now), "invitation")
    if invitation["invitee_id"] != user.id:
        raise problem(
            403, "not_invited", "Only the person invited accepts an invitation; you can withdraw it (decline)."
        )
    owner_id = invitation["owner_id"]
    if await circle_db.invitable_peer(conn, owner_id, user.id) is None:
        await circle_db.answer_invitation(conn, invitation_id, "declined", now)
        return None
    if await circle_db.member_count(conn, owner_id) >= rules.CIRCLE_LIMIT:
        raise problem(409, "circle_full", "Their circle is full now.")
    await circle_db.answer_invitation(conn, invitation_id, "accepted", now)
    await circle_db.add_member(conn, owner_id, user.id, now)
    return await circle_of(conn, user.id)


async def decline(conn: asyncpg.Connection, user: Principal, invitation_id: int, now: dt.datetime) -> None:
    """The invitee declines, or the owner withdraws: neither is told which."""
    found(await circle_db.open_invitation(conn, invitation_id, user.id, now), "invitation")
    await circle_db.answer_invitation(conn, invitation_id, "declined", now)


async def leave(conn: asyncpg.Connection, person_id: UUID, other_id: UUID) -> None:
    """Either side ends it: the other from my circle if they are in it, else me from theirs."""
    if not await circle_db.remove_member(conn, person_id, other_id):
        found(await circle_db.remove_member(conn, other_id, person_id) or None, "person")


# --- help now --------------------------------------------------------------------------------


async def ask(conn: asyncpg.Connection, user: Principal, message: str | None, now: dt.datetime) -> HelpNowCreated:
    """Everything a call for help does at once: the circle's pushes (urgent, past quiet
    hours, never naming anyone), the counselor's timeline and alert, and the resources."""
    alias = await circle_db.lock_asker(conn, user.id)
    asked = await circle_db.requests_since(conn, user.id, now - rules.ASKED_AGAIN_WITHIN)
    wait = rules.retry_after_s([at for at in asked if at > now - dt.timedelta(hours=1)], now)
    if wait is not None:
        raise problem(
            429,
            "help_now_rate_limited",
            f"You asked your circle {rules.REQUESTS_PER_HOUR} times this hour; they have been told. "
            "If you need someone now, call or text 988, or call 911 if you are in danger.",
            headers={"Retry-After": str(wait)},
        )
    recipients = await circle_db.reachable_members(conn, user.id, now)
    request_id = await circle_db.add_request(conn, user.id, message, recipients, now)
    if recipients:
        await notify(
            conn,
            recipients,
            templates.help_now(request_id=request_id, asker_alias=alias, message=message),
            urgent=True,
            not_before=now,
        )
    today = now.astimezone(zone_of(user.timezone)).date()
    reasons = rules.alert_reasons(
        earlier_calls_24h=len(asked),
        used_or_crisis_today=await circle_db.used_or_crisis_on(conn, user.id, today),
        crisis_words=message is not None and assess_post(message) is not None,
    )
    if reasons:
        await engagement.hold(conn, [user.id])  # as every writer of an alert does, first
    for reason in reasons:
        await alerts_db.raise_alert(
            conn, user.id, reason.kind, reason.severity, stored_reason(reason, request_id), None, at=now
        )
    await circle_db.note_on_open_alerts(conn, user.id, request_id, now)
    return HelpNowCreated(
        id=request_id,
        reached=len(recipients),
        crisis_resources=[CrisisResource(**c) for c in risk.CRISIS_RESOURCES],
        note=REACHED_NOTE.format(n=_people(len(recipients))) if recipients else NOBODY_REACHED_NOTE,
    )


def _people(n: int) -> str:
    return "1 person" if n == 1 else f"{n} people"


def stored_reason(reason: risk.Reason, request_id: int) -> dict[str, Any]:
    return {
        "code": reason.code,
        "kind": reason.kind,
        "severity": risk.SEVERITY_NAMES[reason.severity],
        "message": reason.message,
        "help_request_id": request_id,
    }


async def respond(
    conn: asyncpg.Connection, user: Principal, request_id: int, response: str, now: dt.datetime
) -> tuple[ReceivedHelpRequest, Events]:
    """A member's answer; the asker is told (inbox, push, live) when someone is reaching
    out, once. Answers may change: "can't right now" may become "I'm reaching out"."""
    # Reached it, still in the circle, no block between them: else a 404.
    row = found(await circle_db.request_for_responder(conn, request_id, user.id), "help request")
    published: Events = []
    if row["response"] != response:
        await circle_db.respond(conn, request_id, user.id, response, now)
        if response == "reaching_out":
            await notify(
                conn,
                [row["person_id"]],
                templates.help_on_the_way(
                    request_id=request_id, responder_id=str(user.id), responder_alias=row["responder_alias"]
                ),
                urgent=True,
                dedup_key=f"help_on_the_way:{request_id}:{user.id}",
                not_before=now,
            )
            published.append(
                (events.person_channel(row["person_id"]), events.event(events.HELP_RESPONSE, request_id=request_id))
            )
    answer = ReceivedHelpRequest(
        id=row["id"],
        asker=Person(id=row["person_id"], alias=row["asker_alias"]),
        message=row["message"],
        created_at=row["created_at"],
        my_response=response,  # type: ignore[arg-type]  # a CHECK constraint's values
    )
    return answer, published
