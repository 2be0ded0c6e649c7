"""Feeds other programs read: the public Meeting Guide JSON, a public group's iCalendar, and
each graduate's secret iCalendar of the sessions they RSVP'd."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any
from uuid import UUID

import asyncpg
from icalendar import Calendar, Event, vText
from litestar import Controller, Response, delete, get, post
from litestar.datastructures import CacheControlHeader
from litestar.params import FromPath

from api.deps import Conn, RuntimeDep
from api.groups.meeting_guide import FeedGroup, export_feed
from api.groups.schedule import personal_feed_uid
from api.groups.schemas import CalendarFeed
from api.groups.service import sessions_between
from api.problems import found
from api.security import SignedInRequest
from db import groups as groups_db
from db import sessions as sessions_db
from db.zones import zone_of

NOBODY = UUID(int=0)
# Litestar adds "; charset=utf-8" to text/* types itself.
ICS = "text/calendar"
# The public feeds hold no participant data and are polled by Meeting Guide apps and
# calendar clients: caches may keep them a few minutes (everything else is no-store).
PUBLIC_FEED_CACHE = CacheControlHeader(public=True, max_age=300)


def feed_group(row: asyncpg.Record) -> FeedGroup:
    return FeedGroup(
        slug=row["slug"],
        name=row["name"],
        description=row["description"],
        topics=list(row["topics"]),
        format=row["format"],
        timezone=row["timezone"],
        slots=[
            (s["weekday"], dt.time.fromisoformat(s["start"]), dt.time.fromisoformat(s["end"])) for s in row["schedule"]
        ],
        address=row["address"],
        latitude=row["latitude"],
        longitude=row["longitude"],
        conference_url=row["conference_url"],
        conference_phone=row["conference_phone"],
        updated=row["updated_at"],
    )


def _calendar(name: str) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", "-//Aftercare//Group sessions//EN")
    calendar.add("version", "2.0")
    # vText escapes ; , \ and line breaks: icalendar leaves an unknown X- property raw, and a
    # group name with a line break would otherwise write lines of its own into the feed.
    calendar.add("x-wr-calname", vText(name))
    return calendar


def _event(uid: str, starts: dt.datetime, ends: dt.datetime, timezone: str, summary: str, cancelled: bool) -> Event:
    zone = zone_of(timezone)
    event = Event()
    event.add("uid", f"{uid}@aftercare")
    event.add("dtstamp", dt.datetime.now(dt.UTC))
    event.add("dtstart", starts.astimezone(zone))
    event.add("dtend", ends.astimezone(zone))
    event.add("summary", summary)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    return event


def _ics(calendar: Calendar) -> Response[bytes]:
    calendar.add_missing_timezones()
    return Response(calendar.to_ical(), media_type=ICS)


class PublicFeedController(Controller):
    path = "/v1/public"
    tags = ["public feeds"]
    opt = {"public": True}
    security = [{}]

    @get("/meeting-guide.json", cache_control=PUBLIC_FEED_CACHE, summary="Public groups as a Meeting Guide feed")
    async def meeting_guide(self, conn: Conn) -> list[dict[str, Any]]:
        """Active groups marked public, in the code4recovery Meeting Guide format. No member
        data; online groups carry their conference link (publishing a group makes it
        joinable by anyone)."""
        return export_feed([feed_group(row) for row in await groups_db.public_groups(conn)])

    @get(
        "/groups/{group_id:uuid}/calendar.ics",
        media_type=ICS,
        cache_control=PUBLIC_FEED_CACHE,
        summary="A public group's sessions (iCalendar)",
    )
    async def group_calendar(self, group_id: FromPath[UUID], conn: Conn) -> Response[bytes]:
        """Subscribe in a phone's calendar: the coming six months, cancellations included."""
        row = await groups_db.get_group(conn, group_id, NOBODY)
        if row is None or row["archived_at"] is not None or not row["is_public"]:
            found(None, "group")
        now = dt.datetime.now(dt.UTC)
        sessions = await sessions_between(
            conn, [group_id], now - dt.timedelta(days=7), now + dt.timedelta(days=183), NOBODY
        )
        calendar = _calendar(row["name"])
        for s in sessions:
            event = _event(s.id, s.starts_at, s.ends_at, row["timezone"], row["name"], s.status == "cancelled")
            if row["address"]:
                event.add("location", row["address"])
            calendar.add_component(event)
        return _ics(calendar)


class CalendarFeedController(Controller):
    path = "/v1"
    tags = ["calendar"]

    @post("/me/calendar-feed", summary="Make (or replace) my secret calendar URL")
    async def create(self, request: SignedInRequest, conn: Conn) -> CalendarFeed:
        """Any earlier URL stops working. The URL is shown once; only its hash is kept."""
        token = secrets.token_urlsafe(32)
        await sessions_db.set_calendar_feed(conn, request.user.id, hashlib.sha256(token.encode()).digest())
        return CalendarFeed(url=f"{str(request.base_url).rstrip('/')}/v1/calendar/{token}.ics")

    @delete("/me/calendar-feed", summary="Turn my calendar URL off")
    async def revoke(self, request: SignedInRequest, conn: Conn) -> None:
        await sessions_db.delete_calendar_feed(conn, request.user.id)

    @get(
        "/calendar/{feed:str}",
        media_type=ICS,
        opt={"public": True},
        security=[{}],
        summary="My RSVP'd sessions (iCalendar)",
    )
    async def feed(self, feed: FromPath[str], conn: Conn, runtime: RuntimeDep) -> Response[bytes]:
        """The secret URL itself is the key, so a phone can subscribe without signing in.
        Entries are discreet ("Group session", a UID that names no group); details stay in
        the app."""
        token = feed.removesuffix(".ics")
        owner = found(await sessions_db.calendar_feed_owner(conn, hashlib.sha256(token.encode()).digest()), "calendar")
        now = dt.datetime.now(dt.UTC)
        calendar = _calendar("Aftercare")
        for row in await sessions_db.rsvped_sessions(
            conn, owner, now - dt.timedelta(days=30), now + dt.timedelta(days=366)
        ):
            event = _event(
                personal_feed_uid(runtime.settings.secret_key, row["id"]),
                row["starts_at"],
                row["ends_at"],
                row["timezone"],
                "Group session",
                row["status"] == "cancelled",
            )
            event.add("location", row["address"] if row["format"] != "online" and row["address"] else "Online")
            event.add("description", "Details in the Aftercare app.")
            calendar.add_component(event)
        return _ics(calendar)
