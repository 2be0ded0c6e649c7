"""`/v1/checkins`: what is due, submitting, history; `/v1/crisis-resources` for anyone."""

from __future__ import annotations

import datetime as dt

from litestar import Controller, Response, get, post
from litestar.params import JSONBody

from api.checkins import risk
from api.checkins.schemas import Checkin, CheckinRequest, CrisisResource, CrisisResources, Due
from api.checkins.service import due, local_today, submit, to_checkin
from api.deps import Conn
from api.openapi import may_answer, repeat_answers
from api.pagination import FromDate, Page, ToDate
from api.problems import invalid
from api.security import SignedInRequest, participants_only
from db import checkins as checkins_db

MAX_HISTORY_DAYS = 366


def date_range(first: dt.date | None, last: dt.date | None, today: dt.date) -> tuple[dt.date, dt.date]:
    for name, value in (("from", first), ("to", last)):
        if value is not None and abs((value - today).days) > 3660:
            raise invalid(name, "must be within ten years of today", "query")
    last = last or today
    first = first or last - dt.timedelta(days=29)
    if first > last:
        raise invalid("from", "must not be after `to`", "query")
    if (last - first).days >= MAX_HISTORY_DAYS:
        raise invalid("from", "at most a year at a time", "query")
    return first, last


class CheckinController(Controller):
    path = "/v1/checkins"
    tags = ["check-ins"]
    guards = [participants_only]

    @get("/due", summary="What is due now")
    async def due(self, request: SignedInRequest, conn: Conn) -> Due:
        """The current slot (its local dates, start and end, done or not), the next one, the
        streak of slots with a check-in, and days since the sobriety date."""
        return await due(conn, request.user.id)

    @post("/", responses=repeat_answers(Checkin) | may_answer(409), summary="Check in")
    async def submit(self, data: JSONBody[CheckinRequest], request: SignedInRequest, conn: Conn) -> Response[Checkin]:
        """201 for a new check-in, 200 with the original result for a repeat of the same
        `client_id` with the same answers; 409 `idempotency_conflict` when that `client_id`
        came with other answers (`errors` names each answer that differs). `risk_reasons`
        say what staff will see; with `need_support: crisis_now` the answer carries crisis
        resources to use at once."""
        checkin, created = await submit(conn, request.user.id, data)
        return Response(checkin, status_code=201 if created else 200)

    @get("/", summary="My check-ins")
    async def history(
        self,
        request: SignedInRequest,
        conn: Conn,
        first: FromDate = None,
        last: ToDate = None,
    ) -> Page[Checkin]:
        """Newest first, by local date (default: the last 30 days; at most a year)."""
        first, last = date_range(first, last, local_today(request.user.timezone))
        rows = await checkins_db.history(conn, request.user.id, first, last, 1000)
        return Page(items=[to_checkin(r) for r in rows], next_cursor=None)


@get("/v1/crisis-resources", tags=["check-ins"], opt={"public": True}, security=[{}], summary="Crisis help, for anyone")
async def crisis_resources() -> CrisisResources:
    """No sign-in needed. Check-ins are not watched around the clock: these are."""
    return CrisisResources(items=[CrisisResource(**c) for c in risk.CRISIS_RESOURCES], note=risk.NOT_WATCHED)
