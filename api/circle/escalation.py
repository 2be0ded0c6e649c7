"""The worker's `help_now` job: a call for help that nobody has answered "I'm reaching out"
to within 15 minutes. The graduate is offered the crisis line again (urgent, through quiet
hours, a neutral lock screen) and their counselor's alert rises to high."""

from __future__ import annotations

import datetime as dt

import asyncpg

from api.checkins import risk
from api.circle import rules
from api.circle.service import UNANSWERED_TEXT, stored_reason
from db import alerts as alerts_db
from db import circle as circle_db
from db import engagement
from db.job_health import Skip
from notifications import templates
from notifications.outbox import notify

BATCH = 100
# A request whose escalation failed is tried again this much later (the skip is shown to
# staff meanwhile): one bad row must not keep the job, or the requests behind it, waiting.
RETRY_AFTER = dt.timedelta(minutes=2)


async def escalate_unanswered(conn: asyncpg.Connection, now: dt.datetime) -> tuple[int, list[Skip], bool]:
    """(escalated, skipped, more waiting). Each request in its own savepoint: one that
    fails is tried again in two minutes and named to staff, the others go on."""
    escalated, skipped = 0, []
    async with conn.transaction():
        due = await circle_db.unanswered(conn, now - rules.WAIT_FOR_SOMEONE, now, BATCH)
        for row in due:
            try:
                async with conn.transaction():
                    await _escalate(conn, row, now)
                escalated += 1
            except (asyncpg.PostgresError, ValueError) as exc:
                await circle_db.retry_escalation_at(conn, row["id"], now + RETRY_AFTER)
                skipped.append(Skip(row["person_id"], None, f"call for help not escalated yet ({type(exc).__name__})"))
    return escalated, skipped, len(due) == BATCH


async def _escalate(conn: asyncpg.Connection, row: asyncpg.Record, now: dt.datetime) -> None:
    await circle_db.mark_escalated(conn, row["id"], now)
    await notify(
        conn,
        [row["person_id"]],
        templates.crisis_support(UNANSWERED_TEXT + risk.crisis_text()),
        urgent=True,
        dedup_key=f"help_now_unanswered:{row['id']}",
        not_before=now,
    )
    reason = rules.nobody_came(row["reached"])
    # As every writer of an alert does, first: staff acting on it never deadlock with this.
    await engagement.hold(conn, [row["person_id"]])
    await alerts_db.raise_alert(
        conn, row["person_id"], reason.kind, reason.severity, stored_reason(reason, row["id"]), None, at=now
    )
