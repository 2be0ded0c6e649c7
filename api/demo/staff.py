"""Counselors at work in the demo's past: each morning they go through the alerts still
open, acknowledge them, reach out (a call, a text, in person; reached or not, with a note)
and resolve them a day or few later; a crisis check-in gets a call within the hour. Through
the product's own alert functions (db/alerts.py), at past instants.

The graduates having a hard time right now (a fading pattern, or an episode in the last
week) are left on the watchlist: their fresh alerts are at most acknowledged, some with a
first try at reaching them, so the demo opens on a handful of people to look after."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from api.demo.people import FADING, PROGRAM_ZONE, Enrolled
from api.demo.timeline import Step
from db import alerts as alerts_db
from db.zones import zone_of

NOW_DAYS = 7  # an episode this recent is still being dealt with
FADING_DAYS = 36  # those fading now have been for up to five weeks (api/demo/checkins.py)
RESOLVED = {
    "crisis": "Safety plan reviewed together; follow-up appointment booked.",
    "reported_use": "Talked it through; back on the plan, going to an extra group this week.",
    "talk_soon": "Talked on the phone; nothing urgent, will keep in touch.",
    "craving": "The craving passed; went over their coping steps.",
    "low_mood": "Mood is better; will keep an eye on it.",
    "screen": "Talked about the screen; referred to their therapist.",
    "missed_checkins": "Back in touch; the phone had been broken.",
    "low_adherence": "Agreed on a check-in time that suits them better.",
}
REACHED = [
    "Talked for a while; doing okay.",
    "Reached by text; will check in tonight.",
    "Spoke briefly; they have support around them this week.",
]
NOT_REACHED = ["No answer; left a message.", "Texted, no reply yet.", "Voicemail full; will try again."]
REVIEWED = "Reviewed the check-ins since: back on track, nothing to act on."


@dataclass
class _Handling:
    resolve_on: dt.date
    reach_out: bool
    channel: str
    reached: bool


class Office:
    def __init__(self, conn: asyncpg.Connection, graduates: list[Enrolled], today: dt.date, seed: int) -> None:
        self.conn = conn
        self.by_id: dict[UUID, Enrolled] = {g.id: g for g in graduates}
        self.today = today
        self.seed = seed
        self.at = dt.time(10)  # the morning round, in the program's zone
        self._handled: dict[int, _Handling] = {}
        self._touched: set[int] = set()  # fresh alerts of those struggling now, looked at once

    def struggling_since(self, g: Enrolled) -> dt.date | None:
        """For those having a hard time now: since when (their alerts since then stay)."""
        episode = g.spec.episode_days_ago
        if g.spec.pattern == FADING:
            return self.today - dt.timedelta(days=FADING_DAYS)
        if episode is not None and episode < NOW_DAYS:
            return self.today - dt.timedelta(days=episode + 1)
        return None

    def crisis_call(self, g: Enrolled, at: dt.datetime) -> Step:
        async def step() -> None:
            for alert in await self._open_alerts(at):
                if alert["person_id"] == g.id and alert["kind"] == "crisis" and alert["status"] == "open":
                    await alerts_db.acknowledge(self.conn, alert["id"], g.counselor_id, at=at)
                    await alerts_db.log_outreach(
                        self.conn,
                        alert["id"],
                        g.counselor_id,
                        "call",
                        True,
                        "Called at once; talked through the safety plan. Safe tonight, knows to call 988.",
                        at=at + dt.timedelta(minutes=25),
                    )

        return step

    def rounds(self, at: dt.datetime) -> Step:
        async def step() -> None:
            alerts = [
                (a, self.by_id[a["person_id"]]) for a in await self._open_alerts(at) if a["person_id"] in self.by_id
            ]
            # In an order of their own (alerts raised in one statement have ids in no set order).
            alerts.sort(key=lambda item: (item[0]["opened_at"], item[1].spec.alias, item[0]["kind"]))
            for n, (alert, g) in enumerate(alerts):
                when = at + n * 3 * dt.timedelta(minutes=1)
                since = self.struggling_since(g)
                if since is not None and alert["opened_at"].astimezone(zone_of(PROGRAM_ZONE)).date() >= since:
                    await self._first_look(alert, g, when)
                else:
                    await self._work(alert, g, when)

        return step

    async def _open_alerts(self, at: dt.datetime) -> list[asyncpg.Record]:
        rows = await alerts_db.list_alerts(
            self.conn,
            statuses=["open", "acknowledged"],
            min_severity=None,
            counselor_id=None,
            person_ids=None,
            after=None,
            limit=1000,
        )
        return [r for r in rows if r["opened_at"] <= at]

    async def _first_look(self, alert: asyncpg.Record, g: Enrolled, at: dt.datetime) -> None:
        """Someone struggling now: seen, not settled."""
        if alert["id"] in self._touched or alert["kind"] in ("talk_soon", "craving", "low_adherence", "screen"):
            return  # yesterday's news: on today's list
        self._touched.add(alert["id"])
        if alert["kind"] == "crisis":
            return  # the call was made at once
        if alert["status"] == "open":
            await alerts_db.acknowledge(self.conn, alert["id"], g.counselor_id, at=at)
        if alert["kind"] in ("reported_use", "missed_checkins"):
            channel = "call" if alert["kind"] == "reported_use" else "text"
            note = NOT_REACHED[0] if channel == "call" else NOT_REACHED[1]
            await alerts_db.log_outreach(self.conn, alert["id"], g.counselor_id, channel, False, note, at=at)

    async def _work(self, alert: asyncpg.Record, g: Enrolled, at: dt.datetime) -> None:
        """Acknowledge, reach out, resolve a day or few later."""
        handling = self._handled.get(alert["id"])
        step = dt.timedelta(minutes=1)
        if handling is None:
            rng = random.Random(f"{self.seed}:{g.spec.alias}:{alert['kind']}:{alert['opened_at'].isoformat()}")
            days = 1 if alert["kind"] == "crisis" else rng.choice([0, 1, 1, 2, 3])
            handling = _Handling(
                resolve_on=at.date() + dt.timedelta(days=days),
                reach_out=alert["kind"] == "crisis" or rng.random() < 0.85,
                channel=rng.choice(["call", "call", "text", "in_person"]),
                reached=rng.random() < 0.7,
            )
            self._handled[alert["id"]] = handling
            if alert["status"] == "open":
                await alerts_db.acknowledge(self.conn, alert["id"], g.counselor_id, at=at)
            if handling.reach_out and alert["kind"] != "crisis":  # a crisis was called at once
                note = rng.choice(REACHED if handling.reached else NOT_REACHED)
                await alerts_db.log_outreach(
                    self.conn, alert["id"], g.counselor_id, handling.channel, handling.reached, note, at=at + step
                )
        if at.date() < handling.resolve_on:
            return
        if handling.reach_out and not handling.reached:
            await alerts_db.log_outreach(
                self.conn, alert["id"], g.counselor_id, "call", True, REACHED[0], at=at + 2 * step
            )
        note = RESOLVED[alert["kind"]] if handling.reach_out else REVIEWED
        await alerts_db.resolve(self.conn, alert["id"], g.counselor_id, note, at=at + 3 * step)
