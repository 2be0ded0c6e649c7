"""`/v1/staff/groups`: staff create, edit and archive groups."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any
from uuid import UUID

import asyncpg
from litestar import Controller, patch, post
from litestar.params import FromPath, JSONBody

from api.deps import Conn
from api.discussions import events
from api.groups import notices
from api.groups.schemas import Group, GroupCreate, GroupUpdate
from api.groups.service import apply_schedule_edit, set_schedule, slot_tuples, to_group, visible_group
from api.problems import found, invalid
from api.security import SignedInRequest, staff_only
from db import groups as groups_db


def make_slug(name: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "group"
    return f"{base}-{secrets.token_hex(3)}"


def check_group(merged: dict[str, Any]) -> None:
    """Rules across fields, checked on the group as it will be after the change."""
    if (merged.get("latitude") is None) != (merged.get("longitude") is None):
        raise invalid("latitude", "give latitude and longitude together, or neither")
    if merged["format"] in ("in_person", "hybrid") and not merged.get("address"):
        raise invalid("address", f"a {merged['format'].replace('_', ' ')} group needs an address")
    if merged["format"] in ("online", "hybrid") and not (
        merged.get("conference_url") or merged.get("conference_phone")
    ):
        raise invalid("conference_url", f"an {merged['format']} group needs a conference link or phone number")


async def _check_facilitators(conn: asyncpg.Connection, ids: list[UUID]) -> None:
    if unknown := await groups_db.unknown_facilitators(conn, ids):
        raise invalid("facilitator_ids", f"not active facilitators or staff: {', '.join(map(str, unknown))}")


_COLUMNS = {  # API field -> column
    "name": "name",
    "description": "description",
    "topics": "topics",
    "format": "format",
    "timezone": "timezone",
    "address": "address",
    "latitude": "latitude",
    "longitude": "longitude",
    "conference_url": "conference_url",
    "conference_phone": "conference_phone",
    "capacity": "capacity",
    "public": "is_public",
    "slug": "slug",
}


class StaffGroupController(Controller):
    path = "/v1/staff/groups"
    guards = [staff_only]
    tags = ["staff: groups"]

    @post("/", summary="Create a group")
    async def create(self, data: JSONBody[GroupCreate], request: SignedInRequest, conn: Conn) -> Group:
        """A weekly schedule in the group's own time zone; an address for in-person and
        hybrid groups, a conference link or phone for online and hybrid ones."""
        fields = {f: getattr(data, f) for f in _COLUMNS if f != "slug"}
        check_group(fields)
        async with conn.transaction():
            await _check_facilitators(conn, data.facilitator_ids)
            columns = {_COLUMNS[f]: v for f, v in fields.items()}
            columns["slug"] = data.slug or make_slug(data.name)
            group_id = await groups_db.insert_group(conn, columns)
            await set_schedule(conn, group_id, slot_tuples(data.schedule))
            await groups_db.replace_facilitators(conn, group_id, data.facilitator_ids)
        return to_group(await visible_group(conn, group_id, request.user), request.user, detail=True)

    @patch("/{group_id:uuid}", summary="Edit a group")
    async def update(
        self, group_id: FromPath[UUID], data: JSONBody[GroupUpdate], request: SignedInRequest, conn: Conn
    ) -> Group:
        """A schedule change moves future sessions to the new times, keeping their RSVPs where
        the date still has a session; sessions on dates it drops are cancelled. A larger
        capacity seats people from the waitlist at once."""
        changes = data.changes()
        no_longer_facilitating: list[UUID] = []
        async with conn.transaction():
            current = found(await groups_db.lock_group(conn, group_id), "group")
            row = await visible_group(conn, group_id, request.user)
            merged = {f: row[c] for f, c in _COLUMNS.items()} | changes
            check_group(merged)
            if "facilitator_ids" in changes:
                await _check_facilitators(conn, changes["facilitator_ids"])  # type: ignore[arg-type]  # GroupUpdate's type
                no_longer_facilitating = await groups_db.replace_facilitators(
                    conn,
                    group_id,
                    changes["facilitator_ids"],  # type: ignore[arg-type]  # GroupUpdate's type
                )
            await groups_db.update_group(conn, group_id, {_COLUMNS[f]: v for f, v in changes.items() if f in _COLUMNS})
            if "schedule" in changes:
                await set_schedule(conn, group_id, slot_tuples(changes["schedule"]))  # type: ignore[arg-type]  # GroupUpdate's type
            elif "timezone" in changes:
                await apply_schedule_edit(conn, group_id, dt.datetime.now(dt.UTC))
            if "capacity" in changes and current["archived_at"] is None:
                await notices.seat_waitlist(conn, group_id)
        for person_id in no_longer_facilitating:
            # Their live sockets on the group's discussion close now, not at the next check.
            events.access_changed(request.app, person_id)
        return to_group(await visible_group(conn, group_id, request.user), request.user, detail=True)

    @post("/{group_id:uuid}/unarchive", status_code=200, summary="Bring an archived group back")
    async def unarchive(self, group_id: FromPath[UUID], request: SignedInRequest, conn: Conn) -> Group:
        """Back in the listing (and, if public, the feeds), with its members as they were."""
        async with conn.transaction():
            found(await groups_db.lock_group(conn, group_id), "group")
            await groups_db.unarchive_group(conn, group_id)
            await notices.seat_waitlist(conn, group_id)  # seats freed while it was archived
        return to_group(await visible_group(conn, group_id, request.user), request.user, detail=True)

    @post("/{group_id:uuid}/archive", status_code=200, summary="Archive a group")
    async def archive(self, group_id: FromPath[UUID], request: SignedInRequest, conn: Conn) -> Group:
        """It leaves the listing and the public feeds; its history stays."""
        async with conn.transaction():
            found(await groups_db.lock_group(conn, group_id), "group")
            await groups_db.archive_group(conn, group_id)
        # Its members can no longer read it: their live sockets close now.
        events.group_access_changed(request.app, group_id)
        return to_group(await visible_group(conn, group_id, request.user), request.user, detail=True)
