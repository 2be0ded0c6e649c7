"""`/v1/groups`: the listing, a group, membership and the waitlist, its sessions, and what
facilitators do for their own groups (members, announcements)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, cast
from uuid import UUID

from litestar import Controller, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from api.audit import audit
from api.deps import Conn
from api.discussions import events
from api.groups import notices
from api.groups import schedule as rules
from api.groups.schemas import (
    Announcement,
    AnnouncementCreate,
    Format,
    Group,
    Member,
    Membership,
    MyStatus,
    Session,
    Topic,
    Weekday,
)
from api.groups.service import WEEKDAY_NUMBER, managed_group, sessions_between, to_group, visible_group
from api.pagination import Cursor, FromTime, Limit, Page, ToTime, decode_cursor, encode_cursor, moment
from api.problems import invalid, problem
from api.security import ADMIN, STAFF, SignedInRequest, participants_only
from db import groups as groups_db
from db import sessions as sessions_db
from db.zones import python_zone

MAX_RANGE = dt.timedelta(days=366)
# `near` always comes with a radius, so the search stays on the location index.
DEFAULT_RADIUS_KM = 100.0


def parse_point(near: str) -> tuple[float, float]:
    try:
        lat, lon = (float(part) for part in near.split(","))
    except ValueError:
        raise invalid("near", "give it as latitude,longitude, e.g. 41.88,-87.63", "query") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):  # also refuses nan
        raise invalid("near", "latitude must be within -90..90 and longitude within -180..180", "query")
    return lat, lon


def session_range(from_: str | None, to: str | None, zone: dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
    """The asked-for window (default: the next four weeks), at most a year long; a date
    bound is the start of that day in `zone`."""
    start, end = moment(from_, "from", zone), moment(to, "to", zone)
    now = dt.datetime.now(dt.UTC)
    for name, value in (("from", start), ("to", end)):
        if value is not None and value.tzinfo is None:
            raise invalid(name, "times need an offset, like 2026-12-01T00:00:00Z", "query")
        if value is not None and abs(value - now) > rules.SESSION_HORIZON:
            raise invalid(name, "must be within two years of today", "query")
    start = start or now
    end = end or start + dt.timedelta(days=28)
    if not dt.timedelta(0) < end - start <= MAX_RANGE:
        raise invalid("to", "must be after `from`, and at most a year later", "query")
    return start, end


class GroupController(Controller):
    path = "/v1/groups"
    tags = ["groups"]

    @get("/", summary="Find peer support groups")
    async def list_groups(
        self,
        request: SignedInRequest,
        conn: Conn,
        weekday: FromQuery[list[Weekday] | None] = None,
        time_of_day: FromQuery[Literal["morning", "afternoon", "evening"] | None] = None,
        formats: Annotated[list[Format] | None, QueryParameter(name="format")] = None,
        topic: FromQuery[list[Topic] | None] = None,
        near: Annotated[str | None, QueryParameter(max_length=64, description="latitude,longitude")] = None,
        radius_km: Annotated[float | None, QueryParameter(gt=0, le=500, description="With `near`; default 100")] = None,
        open_seats: FromQuery[bool] = False,
        q: Annotated[str | None, QueryParameter(max_length=200, description="Words in the name or description")] = None,
        archived: Annotated[bool, QueryParameter(description="Staff: archived groups instead of active ones")] = False,
        cursor: Cursor = None,
        limit: Limit = 20,
    ) -> Page[Group]:
        """Active groups. Several `weekday`, `format` or `topic` values match any of them.
        With `near`, groups within `radius_km` (default 100) are sorted by distance; else all
        are sorted by name. Online groups have no place, so `near` leaves them out."""
        if archived and not request.user.has_any(STAFF, ADMIN):
            raise problem(403, "forbidden", "Only staff list archived groups.")
        point = parse_point(near) if near else None
        if radius_km is not None and point is None:
            raise invalid("radius_km", "needs `near`", "query")
        after = None
        if cursor:
            after = decode_cursor(cursor, float if point else str, UUID)
        rows = await groups_db.list_groups(
            conn,
            viewer_id=request.user.id,
            weekdays=[WEEKDAY_NUMBER[d] for d in weekday] if weekday else None,
            start_between=rules.TIMES_OF_DAY[time_of_day] if time_of_day else None,
            formats=formats,
            topics=topic,
            near=point,
            radius_km=(radius_km or DEFAULT_RADIUS_KM) if point else None,
            open_seats=open_seats,
            text=q.strip() or None if q else None,
            after=after,
            limit=limit + 1,
            archived=archived,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = None
        if more:
            last = rows[-1]
            next_cursor = encode_cursor(last["distance_km"] if point else last["name"], last["id"])
        return Page(items=[to_group(row, request.user) for row in rows], next_cursor=next_cursor)

    @get("/{group_id:uuid}", summary="One group")
    async def read(self, group_id: FromPath[UUID], request: SignedInRequest, conn: Conn) -> Group:
        return to_group(await visible_group(conn, group_id, request.user), request.user, detail=True)

    @post("/{group_id:uuid}/membership", guards=[participants_only], summary="Join a group (or its waitlist)")
    async def join(self, group_id: FromPath[UUID], request: SignedInRequest, conn: Conn) -> Membership:
        """A seat if one is free, else a place on the waitlist. Joining again changes nothing."""
        me = request.user.id
        async with conn.transaction():
            group = await groups_db.lock_group(conn, group_id)
            if group is None or group["archived_at"] is not None:
                raise problem(404, "not_found", "No such group.")
            status = await groups_db.membership(conn, group_id, me)
            if status is None:
                full = group["capacity"] is not None and group["member_count"] >= group["capacity"]
                status = "waitlisted" if full else "member"
                await groups_db.add_member(conn, group_id, me, status)
            position = await groups_db.waitlist_position(conn, group_id, me) if status == "waitlisted" else None
        # group_members.status is 'member' or 'waitlisted' (its check constraint, migration 0002).
        return Membership(status=cast(MyStatus, status), waitlist_position=position)

    @delete("/{group_id:uuid}/membership", status_code=200, guards=[participants_only], summary="Leave a group")
    async def leave(self, group_id: FromPath[UUID], request: SignedInRequest, conn: Conn) -> Membership:
        """Leaves the group or its waitlist. A freed seat goes at once to the first person
        waiting (exactly one, however many leave at the same moment)."""
        async with conn.transaction():
            group = await groups_db.lock_group(conn, group_id)
            if group is None:
                raise problem(404, "not_found", "No such group.")
            if await groups_db.remove_member(conn, group_id, request.user.id) == "member":
                await notices.seat_waitlist(conn, group_id)
            await sessions_db.drop_future_rsvps(conn, group_id, request.user.id, dt.datetime.now(dt.UTC))
        events.access_changed(request.app, request.user.id)
        return Membership(status="none")

    @get("/{group_id:uuid}/sessions", summary="A group's sessions")
    async def sessions(
        self,
        group_id: FromPath[UUID],
        request: SignedInRequest,
        conn: Conn,
        start: FromTime = None,
        end: ToTime = None,
    ) -> Page[Session]:
        """Dated sessions between `from` and `to` (default: the next four weeks; at most a
        year), with your RSVP. Cancelled ones are listed with their status. A date
        (2026-03-01) is the start of that day where the group meets."""
        group = await visible_group(conn, group_id, request.user)
        first, last = session_range(start, end, python_zone(group["timezone"]) or dt.UTC)
        return Page(items=await sessions_between(conn, [group_id], first, last, request.user.id), next_cursor=None)

    @get("/{group_id:uuid}/members", summary="Members and waitlist (facilitators, staff)")
    async def members(self, group_id: FromPath[UUID], request: SignedInRequest, conn: Conn) -> Page[Member]:
        await managed_group(conn, group_id, request.user)
        async with conn.transaction():
            rows = await groups_db.members(conn, group_id)
            await audit(
                conn, request, "group.members.read", [r["participant_id"] for r in rows], {"group_id": str(group_id)}
            )
        return Page(items=[Member(**dict(r)) for r in rows], next_cursor=None)

    @post("/{group_id:uuid}/announcements", summary="Announce something to the group")
    async def announce(
        self, group_id: FromPath[UUID], data: JSONBody[AnnouncementCreate], request: SignedInRequest, conn: Conn
    ) -> Announcement:
        """Each member gets it in their inbox, and a push that says only "New message from
        your group"."""
        await managed_group(conn, group_id, request.user)
        async with conn.transaction():
            row = await sessions_db.add_announcement(conn, group_id, request.user.id, data.title, data.body)
            await notices.announced(
                conn,
                group_id=group_id,
                announcement_id=row["id"],
                title=data.title,
                body=data.body,
                author_id=request.user.id,
            )
        return Announcement(**dict(row))

    @get("/{group_id:uuid}/announcements", summary="The group's announcements")
    async def announcements(
        self, group_id: FromPath[UUID], request: SignedInRequest, conn: Conn, cursor: Cursor = None, limit: Limit = 20
    ) -> Page[Announcement]:
        """For members, facilitators and staff; newest first."""
        group = await visible_group(conn, group_id, request.user)
        if not (group["my_status"] == "member" or group["i_facilitate"] or request.user.has_any(STAFF, ADMIN)):
            raise problem(403, "not_a_member", "Join the group to read its announcements.")
        (before,) = decode_cursor(cursor, int) if cursor else (None,)
        rows = await sessions_db.announcements(conn, group_id, before, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(
            items=[Announcement(**dict(r)) for r in rows], next_cursor=encode_cursor(rows[-1]["id"]) if more else None
        )
