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


async def insert(
    conn: asyncpg.Connection,
    person_id: UUID,
    fields: dict[str, Any],
    *,
    earlier: int,
    fills_slot: dt.date | None,
) -> tuple[asyncpg.Record, list[dict[str, Any]]] | None:
    """Store a check-in, with what follows from it in the same round trip (a check-in is the
    app's busiest write): the person's `earlier` check-ins before it, newest first, for its
    risk assessment; and the slot starting on `fills_slot`, if it was recorded as missed and
    no alert counted it yet, made up by it. None when this person already sent one with this
    client id (also when the other copy is being stored at this very moment: the insert
    waits for it); nothing is changed then."""
    columns = ["person_id", *fields]
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    client_time, after = columns.index("client_time") + 1, len(columns)
    row = await conn.fetchrow(
        f"""
        with stored as (
            insert into checkins ({", ".join(columns)}) values ({placeholders})
            on conflict (person_id, client_id) do nothing
            returning {CHECKIN_COLUMNS}
        ), made_up as (
            update missed_checkins m set made_up_by = stored.id
            from stored
            where m.person_id = $1 and m.slot_starts_on = ${after + 2} and not m.alerted and m.made_up_by is null
        )
        select stored.*,
               coalesce((select jsonb_agg(e order by e.client_time desc)
                         from (select mood, craving, used, need_support, phq2, gad2, client_time from checkins
                               where person_id = $1 and client_time < ${client_time}
                               order by client_time desc limit ${after + 1}) e), '[]') as earlier
        from stored
        """,
        person_id,
        *fields.values(),
        earlier,
        fills_slot,
    )
    return None if row is None else (row, row["earlier"])


async def by_client_id(conn: asyncpg.Connection, person_id: UUID, client_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"select {CHECKIN_COLUMNS} from checkins where person_id = $1 and client_id = $2", person_id, client_id
    )


async def set_risk_reasons(conn: asyncpg.Connection, checkin_id: UUID, reasons: list[dict]) -> asyncpg.Record:
    """The check-in, with its reasons."""
    return await conn.fetchrow(
        f"update checkins set risk_reasons = $2 where id = $1 returning {CHECKIN_COLUMNS}", checkin_id, reasons
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
