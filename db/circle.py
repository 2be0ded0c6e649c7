"""The support circle and help requests: invitations, members, who a request reached and
what they answered, and the worker's look for requests nobody answered."""

from __future__ import annotations

import datetime as dt
from typing import cast
from uuid import UUID

import asyncpg

# Who may be in a graduate's circle: an active person sharing a group with them (a fellow
# member, or the group's facilitator), with no block between the two either way.
SHARES_A_GROUP = """
    exists (select from group_members mine join group_members theirs using (group_id)
            where mine.person_id = {owner} and mine.status = 'member'
              and theirs.person_id = {peer} and theirs.status = 'member')
    or exists (select from group_members mine join group_facilitators f using (group_id)
               where mine.person_id = {owner} and mine.status = 'member' and f.person_id = {peer})
"""
NOT_BLOCKED = """
    not exists (select from person_blocks b
                where (b.blocker_id = {owner} and b.blocked_id = {peer})
                   or (b.blocker_id = {peer} and b.blocked_id = {owner}))
"""


async def lock_circle(conn: asyncpg.Connection, *owner_ids: UUID) -> None:
    """One change to a circle at a time: two invitations (or acceptances) at once cannot
    both find room for a fifth, and a block waits for an acceptance under way. Several
    circles are locked in one order, so two holders never deadlock."""
    for owner_id in sorted(owner_ids):
        await conn.execute("select pg_advisory_xact_lock(hashtextextended('circle:' || $1::uuid::text, 0))", owner_id)


async def invitable_peer(conn: asyncpg.Connection, owner_id: UUID, person_id: UUID) -> asyncpg.Record | None:
    """The person, if the owner may invite them; None otherwise, so an id proves nothing."""
    condition = (SHARES_A_GROUP + " ) and (" + NOT_BLOCKED).format(owner="$1", peer="p.id")
    return await conn.fetchrow(
        f"""
        select p.id, p.name from people p
        where p.id = $2 and p.id <> $1 and p.is_active and p.roles && array['participant', 'facilitator']
          and ({condition})
        """,
        owner_id,
        person_id,
    )


async def circle_size(conn: asyncpg.Connection, owner_id: UUID, now: dt.datetime) -> int:
    """Members and invitations still open: both take a place."""
    size: int = await conn.fetchval(
        """
        select (select count(*) from circle_members where owner_id = $1)
             + (select count(*) from circle_invitations
                where owner_id = $1 and answered_at is null and expires_at > $2)
        """,
        owner_id,
        now,
    )
    return size


async def member_count(conn: asyncpg.Connection, owner_id: UUID) -> int:
    return cast(int, await conn.fetchval("select count(*) from circle_members where owner_id = $1", owner_id))


async def is_member(conn: asyncpg.Connection, owner_id: UUID, member_id: UUID) -> bool:
    member: bool = await conn.fetchval(
        "select exists (select from circle_members where owner_id = $1 and member_id = $2)", owner_id, member_id
    )
    return member


async def invited(conn: asyncpg.Connection, owner_id: UUID, invitee_id: UUID, now: dt.datetime) -> bool:
    open_invitation: bool = await conn.fetchval(
        """
        select exists (select from circle_invitations
                       where owner_id = $1 and invitee_id = $2 and answered_at is null and expires_at > $3)
        """,
        owner_id,
        invitee_id,
        now,
    )
    return open_invitation


async def invite(
    conn: asyncpg.Connection, owner_id: UUID, invitee_id: UUID, now: dt.datetime, expires_at: dt.datetime
) -> asyncpg.Record:
    """A new invitation (id, expires_at), under the circle's lock after `invited` said none
    is open. One that ran out is closed first, so it does not stand in the way."""
    await conn.execute(
        """
        update circle_invitations set answered_at = $3, outcome = 'expired'
        where owner_id = $1 and invitee_id = $2 and answered_at is null and expires_at <= $3
        """,
        owner_id,
        invitee_id,
        now,
    )
    invitation = await conn.fetchrow(
        """
        insert into circle_invitations (owner_id, invitee_id, created_at, expires_at) values ($1, $2, $3, $4)
        returning id, expires_at
        """,
        owner_id,
        invitee_id,
        now,
        expires_at,
    )
    assert invitation is not None  # insert ... returning: always its row
    return invitation


INVITATION_COLUMNS = """
    i.id, i.created_at, i.expires_at,
    i.owner_id, o.name as owner_alias, i.invitee_id, v.name as invitee_alias
"""


async def open_invitations(conn: asyncpg.Connection, person_id: UUID, now: dt.datetime) -> list[asyncpg.Record]:
    """Invitations to and from the person still waiting for an answer, newest first."""
    return await conn.fetch(
        f"""
        select {INVITATION_COLUMNS} from circle_invitations i
        join people o on o.id = i.owner_id join people v on v.id = i.invitee_id
        where (i.owner_id = $1 or i.invitee_id = $1) and i.answered_at is null and i.expires_at > $2
        order by i.created_at desc, i.id desc
        """,
        person_id,
        now,
    )


async def open_invitation(
    conn: asyncpg.Connection, invitation_id: int, person_id: UUID, now: dt.datetime, lock: bool = True
) -> asyncpg.Record | None:
    """An invitation to or from the person still waiting for an answer (`lock`: locked for it)."""
    return await conn.fetchrow(
        f"""
        select {INVITATION_COLUMNS} from circle_invitations i
        join people o on o.id = i.owner_id join people v on v.id = i.invitee_id
        where i.id = $1 and (i.owner_id = $2 or i.invitee_id = $2) and i.answered_at is null and i.expires_at > $3
        {"for update of i" if lock else ""}
        """,
        invitation_id,
        person_id,
        now,
    )


async def answer_invitation(conn: asyncpg.Connection, invitation_id: int, outcome: str, now: dt.datetime) -> None:
    await conn.execute(
        "update circle_invitations set answered_at = $3, outcome = $2 where id = $1", invitation_id, outcome, now
    )


async def add_member(conn: asyncpg.Connection, owner_id: UUID, member_id: UUID, now: dt.datetime) -> None:
    await conn.execute(
        "insert into circle_members (owner_id, member_id, joined_at) values ($1, $2, $3) on conflict do nothing",
        owner_id,
        member_id,
        now,
    )


async def members(conn: asyncpg.Connection, owner_id: UUID) -> list[asyncpg.Record]:
    """Who is in the owner's circle (whether they muted it is theirs to know)."""
    return await conn.fetch(
        """
        select p.id, p.name as alias, m.joined_at from circle_members m join people p on p.id = m.member_id
        where m.owner_id = $1 order by m.joined_at, p.id
        """,
        owner_id,
    )


async def circles_of(conn: asyncpg.Connection, member_id: UUID) -> list[asyncpg.Record]:
    """The circles the person accepted a place in, with their mute."""
    return await conn.fetch(
        """
        select p.id, p.name as alias, m.joined_at, m.muted_until
        from circle_members m join people p on p.id = m.owner_id
        where m.member_id = $1 order by m.joined_at, p.id
        """,
        member_id,
    )


async def remove_member(conn: asyncpg.Connection, owner_id: UUID, member_id: UUID) -> bool:
    status = await conn.execute(
        "delete from circle_members where owner_id = $1 and member_id = $2", owner_id, member_id
    )
    return status != "DELETE 0"


async def part(conn: asyncpg.Connection, a: UUID, b: UUID) -> None:
    """Everything between two people in each other's circles, both ways, pending invitations
    too (after a block)."""
    await conn.execute(
        """
        with gone as (
            delete from circle_members where (owner_id = $1 and member_id = $2) or (owner_id = $2 and member_id = $1)
        )
        update circle_invitations set answered_at = now(), outcome = 'declined'
        where answered_at is null and ((owner_id = $1 and invitee_id = $2) or (owner_id = $2 and invitee_id = $1))
        """,
        a,
        b,
    )


async def set_mute(conn: asyncpg.Connection, owner_id: UUID, member_id: UUID, until: dt.datetime | None) -> bool:
    status = await conn.execute(
        "update circle_members set muted_until = $3 where owner_id = $1 and member_id = $2", owner_id, member_id, until
    )
    return status != "UPDATE 0"


# --- help requests ---------------------------------------------------------------------------


async def lock_asker(conn: asyncpg.Connection, person_id: UUID) -> str:
    """One person's requests one at a time, so the hourly limit holds for two sent at once;
    their alias, as their circle knows them."""
    alias: str = await conn.fetchval(
        "select p.name from pg_advisory_xact_lock(hashtextextended('help:' || $1::uuid::text, 0)), people p "
        "where p.id = $1",
        person_id,
    )
    return alias


async def requests_since(conn: asyncpg.Connection, person_id: UUID, since: dt.datetime) -> list[dt.datetime]:
    """When the person asked since then, oldest first."""
    rows = await conn.fetch(
        "select created_at from help_requests where person_id = $1 and created_at >= $2 order by created_at",
        person_id,
        since,
    )
    return [r["created_at"] for r in rows]


async def reachable_members(conn: asyncpg.Connection, owner_id: UUID, now: dt.datetime) -> list[UUID]:
    """Members to reach now: active, not muting the circle, with no block either way (a
    block since they joined parts them, this is the second line)."""
    condition = NOT_BLOCKED.format(owner="m.owner_id", peer="m.member_id")
    rows = await conn.fetch(
        f"""
        select m.member_id from circle_members m join people p on p.id = m.member_id
        where m.owner_id = $1 and p.is_active and (m.muted_until is null or m.muted_until <= $2) and {condition}
        order by m.joined_at, m.member_id
        """,
        owner_id,
        now,
    )
    return [r["member_id"] for r in rows]


async def add_request(
    conn: asyncpg.Connection, person_id: UUID, message: str | None, recipients: list[UUID], now: dt.datetime
) -> int:
    """The request and one waiting response per person reached, in one statement."""
    request_id: int = await conn.fetchval(
        """
        with request as (
            insert into help_requests (person_id, message, created_at, reached) values ($1, $2, $3, cardinality($4::uuid[]))
            returning id
        ), reached as (
            insert into help_responses (request_id, person_id) select request.id, r from request, unnest($4::uuid[]) r
        )
        select id from request
        """,
        person_id,
        message,
        now,
        recipients,
    )
    return request_id


async def request_for_responder(
    conn: asyncpg.Connection, request_id: int, person_id: UUID, lock: bool = True
) -> asyncpg.Record | None:
    """The request, if it reached this person and they are still in the asker's circle with
    no block between them; `lock` (to answer it): its row locked against a second answer at once."""
    condition = NOT_BLOCKED.format(owner="h.person_id", peer="r.person_id")
    return await conn.fetchrow(
        f"""
        select h.id, h.person_id, a.name as asker_alias, h.message, h.created_at, h.escalated_at,
               r.response, r.responded_at, me.name as responder_alias
        from help_responses r
        join help_requests h on h.id = r.request_id
        join people a on a.id = h.person_id
        join people me on me.id = r.person_id
        where r.request_id = $1 and r.person_id = $2
          and exists (select from circle_members m where m.owner_id = h.person_id and m.member_id = r.person_id)
          and {condition}
        {"for update of r" if lock else ""}
        """,
        request_id,
        person_id,
    )


async def respond(conn: asyncpg.Connection, request_id: int, person_id: UUID, response: str, now: dt.datetime) -> None:
    """The answer; the first "reaching out" also settles the request (no escalation after)."""
    await conn.execute(
        """
        with answer as (
            update help_responses set response = $3, responded_at = $4 where request_id = $1 and person_id = $2
        )
        update help_requests set reached_out_at = $4
        where id = $1 and $3 = 'reaching_out' and reached_out_at is null
        """,
        request_id,
        person_id,
        response,
        now,
    )


async def requests_of(conn: asyncpg.Connection, person_id: UUID, limit: int) -> list[asyncpg.Record]:
    """The person's requests, newest first, each with who answered what (`responses`: a list
    of {person_id, alias, response, responded_at}, answered ones only)."""
    return await conn.fetch(
        """
        select h.id, h.message, h.created_at, h.reached, h.escalated_at,
               coalesce((select jsonb_agg(jsonb_build_object(
                            'person_id', r.person_id, 'alias', p.name, 'response', r.response,
                            'responded_at', r.responded_at) order by r.responded_at, r.person_id)
                         from help_responses r join people p on p.id = r.person_id
                         where r.request_id = h.id and r.response is not null), '[]'::jsonb) as responses
        from help_requests h
        where h.person_id = $1
        order by h.created_at desc, h.id desc
        limit $2
        """,
        person_id,
        limit,
    )


async def used_or_crisis_on(conn: asyncpg.Connection, person_id: UUID, local_date: dt.date) -> bool:
    """Whether a check-in of that (local) day reported use or a crisis."""
    found: bool = await conn.fetchval(
        """
        select exists (select from checkins
                       where person_id = $1 and local_date = $2 and (used or need_support = 'crisis_now'))
        """,
        person_id,
        local_date,
    )
    return found


async def unanswered(
    conn: asyncpg.Connection, asked_before: dt.datetime, now: dt.datetime, limit: int
) -> list[asyncpg.Record]:
    """Requests older than the wait, nobody reaching out, not escalated yet (nor waiting to
    be tried again after a failure); locked until the transaction ends (SKIP LOCKED: two
    workers never take the same one)."""
    return await conn.fetch(
        """
        select h.id, h.person_id, h.created_at, h.reached, p.timezone from help_requests h
        join people p on p.id = h.person_id
        where h.escalated_at is null and h.reached_out_at is null and h.created_at <= $1
          and (h.escalation_retry_at is null or h.escalation_retry_at <= $2)
        order by h.created_at, h.id
        limit $3
        for update of h skip locked
        """,
        asked_before,
        now,
        limit,
    )


async def retry_escalation_at(conn: asyncpg.Connection, request_id: int, at: dt.datetime) -> None:
    await conn.execute("update help_requests set escalation_retry_at = $2 where id = $1", request_id, at)


async def mark_escalated(conn: asyncpg.Connection, request_id: int, now: dt.datetime) -> None:
    await conn.execute("update help_requests set escalated_at = $2 where id = $1", request_id, now)


async def note_on_open_alerts(conn: asyncpg.Connection, person_id: UUID, request_id: int, at: dt.datetime) -> None:
    """A call for help shows on every alert of the person still open (unless the call
    itself opened it or added a reason to it)."""
    await conn.execute(
        """
        insert into alert_events (alert_id, kind, details, at)
        select a.id, 'help_now', jsonb_build_object('help_request_id', $2::bigint), $3 from alerts a
        where a.person_id = $1 and a.status <> 'resolved'
          and not exists (select from alert_events e
                          where e.alert_id = a.id and e.details->>'help_request_id' = $2::bigint::text)
        """,
        person_id,
        request_id,
        at,
    )


async def alias_of(conn: asyncpg.Connection, person_id: UUID) -> str:
    return cast(str, await conn.fetchval("select name from people where id = $1", person_id))
