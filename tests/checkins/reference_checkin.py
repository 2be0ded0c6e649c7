"""A check-in as it was stored before it became one statement (commit f1dde43): a
transaction of four to eight statements with the risk rules in Python. Slower, but plainly
the rules; the one statement (`checkin_submit`, migration 0015) must leave the same rows
and give the same answers (tests/checkins/test_checkin_paths.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

import asyncpg

from api.checkins import plan, risk
from api.checkins.schemas import Checkin, CheckinRequest
from api.checkins.service import FUTURE_SLACK, OLDEST, override_of, repeat_of, to_checkin
from api.problems import found, invalid
from db import alerts as alerts_db
from db import checkins as checkins_db
from db.checkins import CHECKIN_COLUMNS
from db.zones import zone_of
from notifications import templates
from notifications.outbox import notify

_PLAN_CONTEXT_HELD = """
select p.timezone, pp.iop_completed_on, pp.activated_at, pp.sobriety_date,
       o.cadence as o_cadence, o.starts_on as o_from, o.ends_on as o_until,
       (select case when e.fresh_until > '-infinity' then e.open_alerts end from engagement e
        where e.person_id = p.id for update) as open_alerts
from people p
join participant_profiles pp on pp.person_id = p.id
left join checkin_plans o on o.person_id = p.id
where p.id = $1
"""


async def _insert(
    conn: asyncpg.Connection, person_id: UUID, fields: dict[str, Any], *, earlier: int, fills_slot: dt.date | None
) -> tuple[asyncpg.Record, list[dict[str, Any]]] | None:
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


def _answers(row) -> risk.Answers:
    return risk.Answers(
        mood=row["mood"],
        craving=row["craving"],
        used=row["used"],
        need_support=row["need_support"],
        phq2=tuple(row["phq2"]) if row["phq2"] else None,
        gad2=tuple(row["gad2"]) if row["gad2"] else None,
    )


async def submit(conn: asyncpg.Connection, person_id: UUID, data: CheckinRequest) -> tuple[Checkin, bool]:
    now = dt.datetime.now(dt.UTC)
    if data.client_time > now + FUTURE_SLACK:
        raise invalid("client_time", "is in the future: check the phone's clock")
    if data.client_time < now - OLDEST:
        if (earlier_copy := await checkins_db.by_client_id(conn, person_id, data.client_id)) is not None:
            return repeat_of(earlier_copy, data), False
        raise invalid("client_time", "is more than 7 days old, too late to count")
    async with conn.transaction():
        context = found(await conn.fetchrow(_PLAN_CONTEXT_HELD, person_id), "participant")
        local_date = data.client_time.astimezone(zone_of(context["timezone"])).date()
        slot = plan.slot_for(local_date, context["iop_completed_on"], override_of(context))
        fields = {name: getattr(data, name) for name in checkins_db.SUBMITTED_FIELDS} | {"local_date": local_date}
        stored = await _insert(
            conn,
            person_id,
            fields,
            earlier=risk.CRAVING_HISTORY,
            fills_slot=slot.starts_on if slot is not None else None,
        )
        if stored is None:
            return repeat_of(await checkins_db.by_client_id(conn, person_id, data.client_id), data), False
        row, earlier = stored
        reasons = risk.assess(_answers(row), [_answers(e) for e in earlier])
        stored_reasons = [
            {"code": r.code, "kind": r.kind, "severity": risk.SEVERITY_NAMES[r.severity], "message": r.message}
            for r in reasons
        ]
        if stored_reasons:
            row = await conn.fetchrow(
                f"update checkins set risk_reasons = $2 where id = $1 returning {CHECKIN_COLUMNS}",
                row["id"],
                stored_reasons,
            )
        for reason, entry in zip(reasons, stored_reasons, strict=True):
            await alerts_db.raise_alert(
                conn, person_id, reason.kind, reason.severity, entry | {"checkin_id": str(row["id"])}, row["id"]
            )
        if stored_reasons or context["open_alerts"] != 0:
            await alerts_db.note_checkin(conn, person_id, row["id"])
        if data.need_support == "crisis_now":
            await notify(
                conn,
                [person_id],
                templates.crisis_support(risk.crisis_text()),
                dedup_key=f"crisis:{row['id']}",
                urgent=True,
            )
    return to_checkin(row), True
