"""The append-only audit log of staff access to participant data."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

import asyncpg

from db.sql import Params


async def record(
    conn: asyncpg.Connection,
    *,
    actor_id: UUID,
    actor_roles: list[str],
    action: str,
    participant_id: UUID | None,
    participant_ids: list[UUID] | None,
    method: str,
    path: str,
    client_ip: str | None,
    details: dict[str, Any] | None = None,
) -> None:
    """One row: about one graduate (`participant_id`), several (`participant_ids`, a list
    read), or none (an action on accounts)."""
    await conn.execute(
        """
        insert into audit_log (actor_id, actor_roles, action, participant_id, participant_ids, method, path,
                               client_ip, details)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        """,
        actor_id,
        actor_roles,
        action,
        participant_id,
        participant_ids,
        method,
        path,
        client_ip,
        details or {},
    )


# Rows about a graduate: theirs alone, or a list's that held them. Each side through its own
# index, then the newest of those (an `or` in the outer filter would walk the whole log back
# by id for a graduate seldom read).
_ABOUT = """a.id in (select id from audit_log where participant_id = {0}
                     union all
                     select id from audit_log where participant_ids @> array[{0}]::uuid[])"""
# Rows whose actor or a graduate has a name holding the text, any case, taken as it is
# (strpos: `%` and `_` are no wildcards). The people named are looked up once.
_NAMED = """a.id in (with named as (select array(select id from people
                                             where strpos(lower(name), lower({0})) > 0) as ids)
                     select l.id from audit_log l, named where l.actor_id = any(named.ids)
                     union all
                     select l.id from audit_log l, named where l.participant_id = any(named.ids)
                     union all
                     select l.id from audit_log l, named where l.participant_ids && named.ids)"""


async def list_entries(
    conn: asyncpg.Connection,
    *,
    actor_id: UUID | None,
    participant_id: UUID | None,
    person: str | None,
    action: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    before_id: int | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Newest first, with names beside ids: the actor's (`actor_name`) and, in
    `participants` ({id, alias} in the order recorded), every graduate the row is about.
    A name is null once its account is deleted. `person` finds rows whose actor or one of
    whose graduates has a name holding it."""
    params = Params()
    for condition, value in (
        ("a.actor_id = {0}", actor_id),
        (_ABOUT, participant_id),
        (_NAMED, person),
        ("a.action = {0}", action),
        ("a.at >= {0}", since),
        ("a.at < {0}", until),
        ("a.id < {0}", before_id),
    ):
        if value is not None:
            params.where(condition, value)
    return await conn.fetch(
        f"""
        select a.id, a.at, a.actor_id, actor.name as actor_name, a.actor_roles, a.action, a.participant_id,
               coalesce((select jsonb_agg(jsonb_build_object('id', s.id, 'alias', p.name) order by s.n)
                         from unnest(coalesce(a.participant_ids, array[a.participant_id])) with ordinality as s(id, n)
                         left join people p on p.id = s.id
                         where s.id is not null), '[]'::jsonb) as participants,
               a.method, a.path, a.client_ip, a.details
        from audit_log a
        left join people actor on actor.id = a.actor_id
        where {params.clause()}
        order by a.id desc
        limit {params.add(limit)}
        """,
        *params.values,
    )
