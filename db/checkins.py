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


_PLAN_CONTEXT = """
select p.timezone, pp.iop_completed_on, pp.activated_at, pp.sobriety_date,
       o.cadence as o_cadence, o.starts_on as o_from, o.ends_on as o_until {hold}
from people p
join participant_profiles pp on pp.person_id = p.id
left join checkin_plans o on o.person_id = p.id
where p.id = $1
"""


async def plan_context(conn: asyncpg.Connection, person_id: UUID, hold_state: bool = False) -> asyncpg.Record | None:
    """What the plan is computed from: zone, IOP date, activation, sobriety date, override.
    `hold_state`: also lock the graduate's engagement row, as every writer of it does first
    (db/engagement.py `hold`), in the same round trip (a check-in's first step), and say how
    many alerts they have open (null: not known, the row is waiting to be worked out)."""
    hold = (
        ", (select case when e.fresh_until > '-infinity' then e.open_alerts end from engagement e"
        " where e.person_id = p.id for update) as open_alerts"
        if hold_state
        else ""
    )
    return await conn.fetchrow(_PLAN_CONTEXT.format(hold=hold), person_id)


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


async def insert(conn: asyncpg.Connection, person_id: UUID, fields: dict[str, Any]) -> asyncpg.Record | None:
    """Store a check-in; None when this person already sent one with this client id (also
    when the other copy is being stored at this very moment: the insert waits for it)."""
    columns = ["person_id", *fields]
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    return await conn.fetchrow(
        f"""
        insert into checkins ({", ".join(columns)}) values ({placeholders})
        on conflict (person_id, client_id) do nothing
        returning {CHECKIN_COLUMNS}
        """,
        person_id,
        *fields.values(),
    )


async def by_client_id(conn: asyncpg.Connection, person_id: UUID, client_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"select {CHECKIN_COLUMNS} from checkins where person_id = $1 and client_id = $2", person_id, client_id
    )


async def set_risk_reasons(conn: asyncpg.Connection, checkin_id: UUID, reasons: list[dict]) -> asyncpg.Record:
    """The check-in, with its reasons."""
    return await conn.fetchrow(
        f"update checkins set risk_reasons = $2 where id = $1 returning {CHECKIN_COLUMNS}", checkin_id, reasons
    )


async def earlier(conn: asyncpg.Connection, person_id: UUID, before: dt.datetime, limit: int) -> list[asyncpg.Record]:
    """The person's check-ins before `before` (by when they were made), newest first."""
    return await conn.fetch(
        """
        select mood, craving, used, need_support, phq2, gad2 from checkins
        where person_id = $1 and client_time < $2
        order by client_time desc limit $3
        """,
        person_id,
        before,
        limit,
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


async def make_up_missed(conn: asyncpg.Connection, person_id: UUID, slot_starts_on: dt.date, checkin_id: UUID) -> bool:
    """A late check-in fills a slot recorded as missed, unless an alert already counted it."""
    return (
        await conn.fetchval(
            """
            update missed_checkins set made_up_by = $3
            where person_id = $1 and slot_starts_on = $2 and not alerted and made_up_by is null
            returning true
            """,
            person_id,
            slot_starts_on,
            checkin_id,
        )
        or False
    )
