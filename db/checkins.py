"""Check-ins, plans and missed slots."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

import asyncpg

CHECKIN_COLUMNS = """
    id, client_id, client_time, received_at, local_date, mood, craving, used, sleep, need_support,
    note, phq2, gad2, risk_reasons
"""


# What a check-in is made of, in the order `checkin_submit` takes it.
SUBMITTED_FIELDS = (
    "client_id",
    "client_time",
    "mood",
    "craving",
    "used",
    "sleep",
    "need_support",
    "note",
    "phq2",
    "gad2",
)

_PLAN_CONTEXT = """
select p.timezone, pp.iop_completed_on, pp.activated_at, pp.sobriety_date,
       o.cadence as o_cadence, o.starts_on as o_from, o.ends_on as o_until
from people p
join participant_profiles pp on pp.person_id = p.id
left join checkin_plans o on o.person_id = p.id
where p.id = $1
"""


async def plan_context(conn: asyncpg.Connection, person_id: UUID) -> asyncpg.Record | None:
    """What the plan is computed from: zone, IOP date, activation, sobriety date, override."""
    return await conn.fetchrow(_PLAN_CONTEXT, person_id)


async def set_plan(
    conn: asyncpg.Connection,
    person_id: UUID,
    cadence: str,
    starts_on: dt.date,
    ends_on: dt.date | None,
    set_by: UUID,
    now: dt.datetime | None = None,
) -> None:
    """Set the override at `now` (the app's clock when not given: whether it cut a running
    slot short is judged by the date it was set, against that clock)."""
    await conn.execute(
        """
        insert into checkin_plans (person_id, cadence, starts_on, ends_on, set_by, set_at)
        values ($1, $2, $3, $4, $5, $6)
        on conflict (person_id) do update
            set cadence = excluded.cadence, starts_on = excluded.starts_on, ends_on = excluded.ends_on,
                set_by = excluded.set_by, set_at = excluded.set_at
        """,
        person_id,
        cadence,
        starts_on,
        ends_on,
        set_by,
        now or dt.datetime.now(dt.UTC),
    )


async def clear_plan(conn: asyncpg.Connection, person_id: UUID) -> None:
    await conn.execute("delete from checkin_plans where person_id = $1", person_id)


async def submit(
    conn: asyncpg.Connection, person_id: UUID, fields: dict[str, Any], crisis_notice: dict[str, Any] | None
) -> asyncpg.Record | None:
    """Store a check-in with everything that follows from it, in one statement (the SQL
    function `checkin_submit`, migration 0015: a check-in is the app's busiest write). The
    row: `created`, and the check-in, or for a repeat of the client id its first copy (the
    first copy may have been stored at this very moment: the insert waits for it); None
    when the person is no graduate."""
    return await conn.fetchrow(
        f"select created, {CHECKIN_COLUMNS} from checkin_submit($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        person_id,
        *(fields[name] for name in SUBMITTED_FIELDS),
        crisis_notice,
    )


async def by_client_id(conn: asyncpg.Connection, person_id: UUID, client_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"select {CHECKIN_COLUMNS} from checkins where person_id = $1 and client_id = $2", person_id, client_id
    )


async def dates_between(conn: asyncpg.Connection, person_id: UUID, first: dt.date, last: dt.date) -> set[dt.date]:
    rows = await conn.fetch(
        "select distinct local_date from checkins where person_id = $1 and local_date between $2 and $3",
        person_id,
        first,
        last,
    )
    return {row["local_date"] for row in rows}


async def history(
    conn: asyncpg.Connection, person_id: UUID, first: dt.date, last: dt.date, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""
        select {CHECKIN_COLUMNS} from checkins
        where person_id = $1 and local_date between $2 and $3
        order by client_time desc limit $4
        """,
        person_id,
        first,
        last,
        limit,
    )


async def missed_slots(
    conn: asyncpg.Connection, person_id: UUID, first: dt.date, last: dt.date
) -> dict[dt.date, asyncpg.Record]:
    rows = await conn.fetch(
        """
        select slot_starts_on, slot_ends_on, alerted, made_up_by from missed_checkins
        where person_id = $1 and slot_starts_on between $2 and $3
        """,
        person_id,
        first,
        last,
    )
    return {row["slot_starts_on"]: row for row in rows}
