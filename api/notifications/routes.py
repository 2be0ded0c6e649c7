"""The caller's devices, notification preferences and inbox; staff messages."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, cast

import asyncpg
import msgspec
from litestar import Controller, Response, delete, get, post, put
from litestar.params import JSONBody, QueryParameter

from api.audit import audit
from api.deps import Conn
from api.notifications.schemas import (
    Device,
    DeviceRegistration,
    Inbox,
    InboxItem,
    Kind,
    MessageDraft,
    MessagePreview,
    MessageSent,
    Preferences,
    PreferencesUpdate,
    QuietHours,
    ReadAll,
    Shown,
    StaffMessage,
)
from api.openapi import may_answer, repeat_answers
from api.pagination import Cursor, Limit, Page, RowId, decode_cursor, encode_cursor
from api.problems import found, invalid, problem
from api.security import SignedInRequest, staff_only
from db import devices as devices_db
from db import groups as groups_db
from db import notifications as notifications_db
from db import people as people_db
from notifications import kinds, templates
from notifications.outbox import notify, notify_group
from notifications.quiet import DEFAULT_QUIET

URGENT_KINDS = [kinds.CRISIS_SUPPORT, kinds.SESSION_CHANGED, kinds.STAFF_MESSAGE, kinds.HELP_NOW]


def _clock(value: dt.time) -> str:
    return value.strftime("%H:%M")


class DeviceController(Controller):
    path = "/v1/me/devices"
    tags = ["notifications"]

    @post("/", responses=repeat_answers(Device), summary="Register this device for push (or refresh its token)")
    async def register(
        self, data: JSONBody[DeviceRegistration], request: SignedInRequest, conn: Conn
    ) -> Response[Device]:
        """201 for a new token, 200 for one already registered (refreshed). A token registered
        by someone else before moves to you. Signing out of this session removes it."""
        row, created = await devices_db.register(
            conn, request.user.id, request.user.session_id, data.token, data.platform, data.app_version
        )
        device = Device(**{k: row[k] for k in Device.__struct_fields__})
        return Response(device, status_code=201 if created else 200)

    @get("/", summary="My registered devices")
    async def list(self, request: SignedInRequest, conn: Conn) -> Page[Device]:
        rows = await devices_db.list_devices(conn, request.user.id)
        return Page(items=[Device(**dict(r)) for r in rows], next_cursor=None)

    @delete("/{device_id:int}", summary="Stop pushing to a device")
    async def remove(self, device_id: RowId, request: SignedInRequest, conn: Conn) -> None:
        found(await devices_db.delete_device(conn, request.user.id, device_id) or None, "device")


class PreferencesController(Controller):
    path = "/v1/me/notification-preferences"
    tags = ["notifications"]

    @get("/", summary="What may be pushed to me, and when")
    async def read(self, request: SignedInRequest, conn: Conn) -> Preferences:
        return await self._preferences(conn, request)

    @put("/", summary="Change what may be pushed to me, and when")
    async def update(self, data: JSONBody[PreferencesUpdate], request: SignedInRequest, conn: Conn) -> Preferences:
        """An opted-out kind still reaches your inbox. Quiet hours (default 22:00-08:00, your
        time zone) hold back everything that is not urgent until they end."""
        if data.kinds is not msgspec.UNSET:
            for kind in kinds.ALWAYS_ON:
                # ALWAYS_ON names kinds of KINDS, the same set as Kind (asserted in schemas).
                if data.kinds.get(cast(Kind, kind)) is False:
                    raise invalid(f"kinds.{kind}", "cannot be switched off: help in a crisis always comes through")
        async with conn.transaction():
            current = await self._preferences(conn, request)
            enabled = current.kinds | ({} if data.kinds is msgspec.UNSET else data.kinds)
            quiet = current.quiet_hours if data.quiet_hours is msgspec.UNSET else data.quiet_hours
            await devices_db.put_preferences(
                conn,
                request.user.id,
                [k for k in kinds.KINDS if not enabled[k] and k not in kinds.DEFAULT_OFF],
                _time(quiet.start) if quiet else None,
                _time(quiet.end) if quiet else None,
                [k for k in kinds.DEFAULT_OFF if enabled[k]],
            )
            return await self._preferences(conn, request)

    async def _preferences(self, conn: asyncpg.Connection, request: SignedInRequest) -> Preferences:
        row = await devices_db.get_preferences(conn, request.user.id)
        disabled = set(row["disabled_kinds"]) if row else set()
        switched_on = set(row["enabled_kinds"]) if row else set()
        start, end = (row["quiet_start"], row["quiet_end"]) if row else DEFAULT_QUIET
        return Preferences(
            kinds={k: kinds.wanted(k, disabled, switched_on) for k in kinds.KINDS},
            quiet_hours=QuietHours(start=_clock(start), end=_clock(end)) if start else None,
            timezone=request.user.timezone,
            urgent_kinds=URGENT_KINDS,
            always_on=list(kinds.ALWAYS_ON),
        )


def _time(value: str) -> dt.time:
    return dt.time.fromisoformat(value)


UnreadOnly = Annotated[bool, QueryParameter(description="Only unread ones.")]


class InboxController(Controller):
    path = "/v1/me/notifications"
    tags = ["notifications"]

    @get("/", summary="My inbox, newest first")
    async def list(
        self, request: SignedInRequest, conn: Conn, cursor: Cursor = None, limit: Limit = 20, unread: UnreadOnly = False
    ) -> Inbox:
        """Everything ever sent to you, pushed or not (the inbox is the record)."""
        (before,) = decode_cursor(cursor, int) if cursor else (None,)
        rows = await notifications_db.inbox(
            conn, request.user.id, before_id=before, unread_only=unread, limit=limit + 1
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return Inbox(
            items=[InboxItem(**dict(r)) for r in rows],
            next_cursor=encode_cursor(rows[-1]["id"]) if more else None,
            unread_count=await notifications_db.unread_count(conn, request.user.id),
        )

    @post("/{notification_id:int}/read", status_code=200, summary="Mark one as read")
    async def read(self, notification_id: RowId, request: SignedInRequest, conn: Conn) -> InboxItem:
        row = found(await notifications_db.mark_read(conn, request.user.id, notification_id), "notification")
        return InboxItem(**dict(row))

    @post("/read-all", status_code=200, summary="Mark all as read")
    async def read_all(self, request: SignedInRequest, conn: Conn) -> ReadAll:
        marked = await notifications_db.mark_all_read(conn, request.user.id)
        return ReadAll(marked=marked, unread_count=0)


class StaffNotificationController(Controller):
    path = "/v1/staff/notifications"
    tags = ["notifications"]
    guards = [staff_only]

    @post("/preview", status_code=200, summary="Preview a message as its recipients will see it")
    async def preview(self, data: JSONBody[MessageDraft]) -> MessagePreview:
        """What the lock screen and the inbox will show for this title and body, from the
        same template `POST /v1/staff/notifications` sends with. Sends nothing and reads
        nobody's data: the dashboard calls it as a message is typed."""
        content = templates.staff_message(title=data.title.strip(), body=data.body.strip())
        return MessagePreview(
            lock_screen=Shown(title=content.push_title, body=content.push_body),
            inbox=Shown(title=content.title, body=content.body),
        )

    @post("/", responses=may_answer(404, 409), summary="Message a graduate or a group")
    async def send(self, data: JSONBody[StaffMessage], request: SignedInRequest, conn: Conn) -> MessageSent:
        """The text goes to the inbox; the push says only "New message". `urgent` comes
        through the recipients' quiet hours: keep it for outreach that cannot wait."""
        content = templates.staff_message(title=data.title, body=data.body)
        async with conn.transaction():
            if data.participant_id is not None:
                person = found(await people_db.get_participant(conn, data.participant_id), "participant")
                if not person["is_active"]:
                    raise problem(409, "participant_inactive", "This graduate is deactivated: reactivate them first.")
                written = await notify(conn, [person["id"]], content, urgent=data.urgent)
            else:
                assert data.group_id is not None  # StaffMessage holds exactly one of the two ids
                group = found(await groups_db.get_group(conn, data.group_id, request.user.id), "group")
                if group["archived_at"] is not None:
                    raise problem(409, "group_archived", "This group is archived.")
                written = await notify_group(conn, group["id"], content, urgent=data.urgent)
            # The trail names who was sent something (a deactivated member gets nothing).
            await audit(
                conn,
                request,
                "notification.send",
                [r["person_id"] for r in written] or None,
                {"group_id": str(data.group_id) if data.group_id else None, "urgent": data.urgent},
            )
        return MessageSent(recipients=len(written), notification_ids=[r["id"] for r in written])
