"""Statements only the demo loader uses (api/demo/): its months of check-ins are stored a
batch at a time, as many phones' would be between two runs of the sweep, so that loading
takes seconds. The rows are the same as `checkins.insert` stores, and the check-in trigger
(db/migrations) keeps the engagement state from them as from any other."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import NamedTuple
from uuid import UUID

import asyncpg


class NewCheckin(NamedTuple):
    person_id: UUID
    client_id: UUID
    client_time: dt.datetime
    received_at: dt.datetime
    local_date: dt.date
    mood: int
    craving: int
    used: bool
    sleep: int
    need_support: str
    note: str | None
    phq2: list[int] | None
    gad2: list[int] | None
    risk_reasons: list[dict[str, str]]  # code, kind, severity and message of each


async def insert_checkins(conn: asyncpg.Connection, rows: Sequence[NewCheckin]) -> list[UUID]:
    """Store these check-ins in one statement; their ids, in the order given."""
    if not rows:
        return []
    columns = [list(c) for c in zip(*rows, strict=True)]
    screens = {11, 12}  # phq2, gad2: arrays of arrays are not ragged-safe, so "{1,2}" literals
    for i in screens:
        columns[i] = [None if v is None else "{" + ",".join(map(str, v)) + "}" for v in columns[i]]
    columns[13] = [json.dumps(v) for v in columns[13]]
    stored = await conn.fetch(
        """
        insert into checkins (person_id, client_id, client_time, received_at, local_date, mood, craving, used, sleep,
                              need_support, note, phq2, gad2, risk_reasons)
        select person_id, client_id, client_time, received_at, local_date, mood, craving, used, sleep, need_support,
               note, phq2::smallint[], gad2::smallint[], risk_reasons::jsonb
        from unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::timestamptz[], $5::date[], $6::smallint[],
                    $7::smallint[], $8::boolean[], $9::smallint[], $10::text[], $11::text[], $12::text[], $13::text[],
                    $14::text[])
             as c(person_id, client_id, client_time, received_at, local_date, mood, craving, used, sleep, need_support,
                  note, phq2, gad2, risk_reasons)
        order by client_time
        returning id, person_id, client_id
        """,
        *columns,
    )
    ids = {(row["person_id"], row["client_id"]): row["id"] for row in stored}
    return [ids[(row.person_id, row.client_id)] for row in rows]


async def with_open_alerts(conn: asyncpg.Connection, person_ids: Sequence[UUID]) -> set[UUID]:
    """Those among these people with an alert not resolved."""
    rows = await conn.fetch(
        "select distinct person_id from alerts where person_id = any($1::uuid[]) and status <> 'resolved'",
        list(person_ids),
    )
    return {row["person_id"] for row in rows}


async def alerts_by_status(conn: asyncpg.Connection) -> dict[str, int]:
    rows = await conn.fetch("select status, count(*)::int as n from alerts group by status")
    return {row["status"]: row["n"] for row in rows}


async def date_moderation_item(conn: asyncpg.Connection, item_id: int, at: dt.datetime) -> None:
    """A report or flag dated when the invented history has it, not when the demo loads."""
    await conn.execute("update moderation_items set created_at = $2 where id = $1", item_id, at)
