"""Staff side of check-ins: a graduate's plan and check-ins, and the alert workflow. Every
read of participant data is audited."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Literal, cast
from uuid import UUID

import asyncpg
import msgspec
from litestar import Controller, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from api.audit import audit
from api.checkins.risk import SEVERITY_NAMES, SEVERITY_VALUES
from api.checkins.routes import date_range
from api.checkins.schemas import (
    Alert,
    AlertEvent,
    Checkin,
    DayAdherence,
    DayCount,
    Metrics,
    OutreachRequest,
    Plan,
    PlanRequest,
    ResolveRequest,
    WatchlistEntry,
)
from api.checkins.service import local_today, override_of, slot_out, slot_states, to_checkin
from api.deps import Conn
from api.groups.service import sessions_between
from api.openapi import may_answer
from api.pagination import Cursor, FromDate, Limit, Page, RowId, ToDate, decode_cursor, encode_cursor
from api.problems import found, invalid, problem
from api.security import SignedInRequest, staff_only
from db import alerts as alerts_db
from db import checkins as checkins_db
from db import engagement as engagement_db
from db import groups as groups_db
from db import people as people_db
from db import watch as watch_db

Severity = Literal["low", "medium", "high", "critical"]
AlertId = RowId
Status = Literal["open", "acknowledged", "resolved"]


# Resolving says what came of it: in a note, or in the outreach already logged on the alert.
OUTCOME_REQUIRED = (
    "Say what came of it: no outreach is logged on this alert, so resolving it needs a note "
    "(or log the call, text or visit first)."
)


def to_alert(
    row: asyncpg.Record, events: list[asyncpg.Record] | None = None, checkin: asyncpg.Record | None = None
) -> Alert:
    return Alert(
        id=row["id"],
        participant_id=row["person_id"],
        alias=row["alias"],
        counselor_id=row["counselor_id"],
        kind=row["kind"],
        severity=SEVERITY_NAMES[row["severity"]],  # type: ignore[arg-type]  # its values are the Literal's
        status=row["status"],
        reasons=list(row["reasons"]),
        opened_at=row["opened_at"],
        updated_at=row["updated_at"],
        acknowledged_at=row["acknowledged_at"],
        acknowledged_by=row["acknowledged_by"],
        resolved_at=row["resolved_at"],
        resolved_by=row["resolved_by"],
        resolution_note=row["resolution_note"],
        events=[to_event(e) for e in events] if events is not None else None,
        checkin=to_checkin(checkin) if checkin is not None else None,
    )


def to_event(row: asyncpg.Record) -> AlertEvent:
    return AlertEvent(
        id=row["id"],
        at=row["at"],
        actor_id=row["actor_id"],
        actor_name=row["actor_name"],
        kind=row["kind"],
        checkin_id=row["checkin_id"],
        channel=row["channel"],
        reached=row["reached"],
        note=row["note"],
        details=row["details"],
    )


async def with_timelines(conn: asyncpg.Connection, rows: list[asyncpg.Record]) -> list[Alert]:
    """The alerts with their timelines and the check-ins behind them, in two statements
    however many alerts there are."""
    ids = [r["id"] for r in rows]
    events: dict[int, list[asyncpg.Record]] = {i: [] for i in ids}
    for event in await alerts_db.timelines(conn, ids):
        events[event["alert_id"]].append(event)
    checkins = {c["alert_id"]: c for c in await alerts_db.checkins_behind(conn, ids)}
    return [to_alert(r, events[r["id"]], checkins.get(r["id"])) for r in rows]


class StaffCheckinController(Controller):
    path = "/v1/staff/participants"
    guards = [staff_only]
    tags = ["staff: check-ins"]

    @put("/{participant_id:uuid}/plan", summary="Override a graduate's check-in plan")
    async def set_plan(
        self, participant_id: FromPath[UUID], data: JSONBody[PlanRequest], request: SignedInRequest, conn: Conn
    ) -> Plan:
        """E.g. back to daily for two weeks after a lapse (`ends_on`), or open-ended. `default`
        returns to the stepped-down plan."""
        async with conn.transaction():
            context = found(await checkins_db.plan_context(conn, participant_id), "participant")
            today = local_today(context["timezone"])
            starts_on = data.starts_on or today
            if starts_on < today:
                raise invalid("starts_on", "must be today or later: past slots stay as they were")
            if data.ends_on is not None and data.ends_on < starts_on:
                raise invalid("ends_on", f"must not be before the start ({starts_on})")
            if data.cadence == "default":
                await checkins_db.clear_plan(conn, participant_id)
            else:
                await checkins_db.set_plan(conn, participant_id, data.cadence, starts_on, data.ends_on, request.user.id)
            await audit(conn, request, "participant.plan.write", participant_id, {"cadence": data.cadence})
            return await self._plan(conn, participant_id)

    @get("/{participant_id:uuid}/plan", summary="A graduate's check-in plan")
    async def get_plan(self, participant_id: FromPath[UUID], request: SignedInRequest, conn: Conn) -> Plan:
        async with conn.transaction():
            plan = await self._plan(conn, participant_id)
            await audit(conn, request, "participant.plan.read", participant_id)
            return plan

    async def _plan(self, conn: asyncpg.Connection, participant_id: UUID) -> Plan:
        context = found(await checkins_db.plan_context(conn, participant_id), "participant")
        today = local_today(context["timezone"])
        states = await slot_states(conn, participant_id, context, today, today)
        current = next(((s, d) for s, d in states if s.starts_on <= today <= s.ends_on), None)
        override = override_of(context)
        return Plan(
            cadence=override.cadence if override else "default",  # type: ignore[arg-type]  # a CHECK constraint's values
            starts_on=override.starts_on if override else None,
            ends_on=override.ends_on if override else None,
            current_slot=slot_out(current[0], context["timezone"], current[1]) if current else None,
        )

    @get("/{participant_id:uuid}/checkins", summary="A graduate's check-ins")
    async def checkins(
        self,
        participant_id: FromPath[UUID],
        request: SignedInRequest,
        conn: Conn,
        first: FromDate = None,
        last: ToDate = None,
    ) -> Page[Checkin]:
        async with conn.transaction():
            participant = found(await people_db.get_participant(conn, participant_id), "participant")
            first, last = date_range(first, last, local_today(participant["timezone"]))
            rows = await checkins_db.history(conn, participant_id, first, last, 1000)
            await audit(conn, request, "participant.checkins.read", participant_id)
        return Page(items=[to_checkin(r) for r in rows], next_cursor=None)


class AlertController(Controller):
    path = "/v1/staff/alerts"
    guards = [staff_only]
    tags = ["staff: alerts"]

    @get("/", summary="Alerts, most severe and longest waiting first")
    async def list_alerts(
        self,
        request: SignedInRequest,
        conn: Conn,
        status: FromQuery[list[Status] | None] = None,
        severity: Annotated[Severity | None, QueryParameter(description="This severity or higher")] = None,
        counselor_id: FromQuery[UUID | None] = None,
        participant_id: Annotated[
            list[UUID] | None, QueryParameter(description="These graduates' alerts (repeat it for several)")
        ] = None,
        timeline: Annotated[
            bool, QueryParameter(description="With each alert's timeline and the check-in behind it")
        ] = False,
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> Page[Alert]:
        """Open and acknowledged ones by default. `timeline=true` brings each alert's events
        (outreach by name included) and the check-in behind it, as one alert's read does."""
        after = decode_cursor(cursor, int, dt.datetime, int) if cursor else None
        async with conn.transaction():
            rows = await alerts_db.list_alerts(
                conn,
                statuses=status or ["open", "acknowledged"],
                min_severity=SEVERITY_VALUES[severity] if severity else None,
                counselor_id=counselor_id,
                person_ids=participant_id,
                after=after,
                limit=limit + 1,
            )
            more = len(rows) > limit
            rows = rows[:limit]
            items = await with_timelines(conn, rows) if timeline else [to_alert(r) for r in rows]
            people = sorted({r["person_id"] for r in rows}, key=str)
            await audit(conn, request, "alert.list", people, {"timeline": True} if timeline else None)
        last = rows[-1] if more else None
        return Page(
            items=items,
            next_cursor=encode_cursor(last["severity"], last["opened_at"], last["id"]) if last else None,
        )

    @get("/{alert_id:int}", summary="One alert with its timeline")
    async def read(self, alert_id: AlertId, request: SignedInRequest, conn: Conn) -> Alert:
        async with conn.transaction():
            row = found(await alerts_db.get(conn, alert_id), "alert")
            [alert] = await with_timelines(conn, [row])
            await audit(conn, request, "alert.read", row["person_id"], {"alert_id": alert_id})
        return alert

    @post("/{alert_id:int}/acknowledge", status_code=200, responses=may_answer(409), summary="I am on it")
    async def acknowledge(self, alert_id: AlertId, request: SignedInRequest, conn: Conn) -> Alert:
        return await self._act(
            conn, request, alert_id, "acknowledge", lambda: alerts_db.acknowledge(conn, alert_id, request.user.id)
        )

    @post("/{alert_id:int}/outreach", status_code=200, responses=may_answer(409), summary="Log an outreach attempt")
    async def outreach(
        self, alert_id: AlertId, data: JSONBody[OutreachRequest], request: SignedInRequest, conn: Conn
    ) -> Alert:
        """A call, text or visit, whether the graduate was reached, and a note."""
        return await self._act(
            conn,
            request,
            alert_id,
            "outreach",
            lambda: alerts_db.log_outreach(conn, alert_id, request.user.id, data.channel, data.reached, data.note),
        )

    @post("/{alert_id:int}/resolve", status_code=200, responses=may_answer(409, 422), summary="Resolve an alert")
    async def resolve(
        self, alert_id: AlertId, data: JSONBody[ResolveRequest], request: SignedInRequest, conn: Conn
    ) -> Alert:
        """Say what came of it in `note`. With no outreach logged on the alert a note is
        required: without one (or with a blank one) the answer is 422 `outcome_required` and
        the alert stays as it was. After outreach, the note may be left out."""
        note = (data.note or "").strip() or None

        async def step() -> None:
            # Under the alert's lock: outreach logged at the same moment is seen, or waits.
            if note is None and not await alerts_db.has_outreach(conn, alert_id):
                raise problem(422, "outcome_required", OUTCOME_REQUIRED)
            await alerts_db.resolve(conn, alert_id, request.user.id, note)

        return await self._act(conn, request, alert_id, "resolve", step)

    async def _act(
        self,
        conn: asyncpg.Connection,
        request: SignedInRequest,
        alert_id: int,
        action: str,
        step: Callable[[], Awaitable[object]],
    ) -> Alert:
        async with conn.transaction():
            alert = found(await alerts_db.lock(conn, alert_id), "alert")
            if alert["status"] == "resolved":
                raise problem(409, "alert_resolved", "This alert is resolved; a new one opens if needed.")
            await step()
            await audit(conn, request, f"alert.{action}", alert["person_id"], {"alert_id": alert_id})
            row = await alerts_db.get(conn, alert_id)
            assert row is not None  # locked above, in this transaction: it cannot have gone
            [answer] = await with_timelines(conn, [row])
            return answer


class WatchController(Controller):
    path = "/v1/staff"
    guards = [staff_only]
    tags = ["staff: watchlist"]

    @get("/watchlist", summary="Who needs attention now")
    async def watchlist(
        self,
        request: SignedInRequest,
        conn: Conn,
        counselor_id: FromQuery[UUID | None] = None,
        cursor: Cursor = None,
        # Up to 1,000 a page: each page computes the whole list (measured: bench/dashboard.py).
        limit: Annotated[int, QueryParameter(ge=1, le=1000, description="Items per page (1-1000).")] = 200,
    ) -> Page[WatchlistEntry]:
        """Every graduate overdue now or with an open alert: most severe alert first, then
        most misses in a row, then longest without a check-in. Page on with `next_cursor`:
        nobody falls off the end. Also listed, by the same order: graduates whose time zone
        cannot be worked with (`status: time_zone_unknown`), and graduates who deleted their
        account while alerts were open (`status: account_deleted`) until acknowledged."""
        (offset,) = decode_cursor(cursor, int) if cursor else (0,)
        if offset < 0:
            raise invalid("cursor", "not a cursor from this list", "query")
        async with conn.transaction():
            rows = await watch_db.watchlist(conn, dt.datetime.now(dt.UTC), counselor_id, limit + 1, offset)
            more = len(rows) > limit
            rows = rows[:limit]
            await audit(conn, request, "watchlist.read", [r["participant_id"] for r in rows])
        return Page(
            items=[
                msgspec.convert(dict(r) | {"top_severity": SEVERITY_NAMES.get(r["top_severity"])}, WatchlistEntry)
                for r in rows
            ],
            next_cursor=encode_cursor(offset + limit) if more else None,
        )

    @get("/metrics", summary="Program metrics")
    async def metrics(self, request: SignedInRequest, conn: Conn) -> Metrics:
        """Active graduates, check-in adherence over 7 and 30 days, open alerts by severity,
        check-ins per day for the last 30 days, and the sessions scheduled this week (counted
        at most once a minute). Counts only: nobody's data."""
        now = dt.datetime.now(dt.UTC)
        # Writes, so before the read-only snapshot.
        await engagement_db.refresh_stale(conn, now)
        await engagement_db.fold_some_deltas(conn)
        # One snapshot: every number is from the same moment.
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            data = await watch_db.metrics(conn, now)
            sessions = await _sessions_this_week(conn, request, now)
        return Metrics(
            adherence_by_day=[DayAdherence(**d) for d in data["adherence_by_day"]],
            sessions_this_week=sessions,
            attendance_rate_30d=data["attendance_rate_30d"],
            active_graduates=data["active_graduates"],
            adherence_7d=data["adherence_7d"],
            adherence_30d=data["adherence_30d"],
            open_alerts={name: data["open_alerts"].get(value, 0) for value, name in SEVERITY_NAMES.items()},
            checkins_by_day=[DayCount(**d) for d in data["checkins_by_day"]],
        )


# Counting this week's sessions works every group's schedule out (about a second of Python
# for 10,000 groups); a count a minute old is as good for the overview's tile.
SESSIONS_COUNT_TTL_S = 60


async def _sessions_this_week(conn: asyncpg.Connection, request: SignedInRequest, now: dt.datetime) -> int:
    monday = dt.datetime.combine(now.date() - dt.timedelta(days=now.weekday()), dt.time(), tzinfo=dt.UTC)
    # (monday, counted at, count), as stored below
    counted = cast(tuple[dt.datetime, float, int] | None, getattr(request.app.state, "sessions_this_week", None))
    if counted is not None and counted[0] == monday and time.monotonic() - counted[1] < SESSIONS_COUNT_TTL_S:
        return counted[2]
    week = await sessions_between(
        conn, await groups_db.active_group_ids(conn), monday, monday + dt.timedelta(days=7), viewer_id=None
    )
    count = sum(1 for s in week if s.status == "scheduled")
    request.app.state.sessions_this_week = (monday, time.monotonic(), count)
    return count
