"""`GET /v1/groups/{id}/live`: a WebSocket that tells a group's members what happens in its
discussion as it happens, and `POST /v1/live-tickets` for browsers.

The socket authenticates as the REST API does (`Authorization: Bearer <access token>`), or
with a single-use ticket in `?ticket=` (a browser cannot send a header with the handshake).
It is accepted first and then closed with a reason when it may not stay: 4401 (no valid
session), 4403 (two-factor set-up pending), 4404 (not this group's member, facilitator or
staff). Leaving the group and deactivation close it at once; it checks its session and seat
again every `live_recheck_s` besides.

Events are JSON: `{"type": "post" | "reply" | "unhidden", "post": {...as the list}}`,
`{"type": "hidden" | "deleted", "post_id", "reply_to"}`, `{"type": "reaction", "post_id",
"reply_to", "reactions": {"support": n}}`, `{"type": "help_response", "request_id"}` on every
socket of a graduate someone in their circle is reaching out to (GET /v1/me/help-now says
who), and `{"type": "resync"}` when events may have been
missed (the server's own connection dropped): fetch `GET .../posts?after=<last id>`, as after
any reconnect. The socket sends `{"type": "ready"}` once it is listening."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
import secrets
import time
from collections import Counter, OrderedDict
from typing import Annotated, Any
from uuid import UUID

import asyncpg
import msgspec
from litestar import Controller, WebSocket, post, websocket
from litestar.channels import ChannelsPlugin, Subscriber
from litestar.datastructures import State
from litestar.exceptions import HTTPException, WebSocketDisconnect
from litestar.params import FromPath, QueryParameter

from api.deps import Conn, RuntimeDep, as_connection
from api.discussions import events, service
from api.discussions.schemas import LiveTicket
from api.security import Principal, SignedInRequest, principal_of_session, session_of_token
from db import discussions as posts_db
from db import live_tickets as tickets_db
from db.pool import ACQUIRE_TIMEOUT_S

log = logging.getLogger("aftercare.live")
NOBODY = UUID(int=0)
SHOWN = (events.POST, events.REPLY, events.UNHIDDEN)
CLIENT_WINDOW_S = 60.0
CLIENT_MESSAGES_PER_WINDOW = 120

# The socket authenticates in its handler (it is `public` to the auth middleware).
AnySocket = WebSocket[Any, Any, State]
# What an event shows: (the post as the app shows it, the author of the post it replies to).
Loaded = tuple[dict[str, Any], UUID | None]


class LiveHub:
    """One per process: what an event shows is loaded once, for all this process's sockets."""

    def __init__(self, pool: asyncpg.Pool, keep: int = 4096, sockets_per_person: int = 10) -> None:
        self._pool = pool
        self._keep = keep
        self._loaded: OrderedDict[str, asyncio.Future[Loaded | None]] = OrderedDict()
        # A phone has a socket or two open; dozens from one person are a script, not a person.
        self.sockets_per_person = sockets_per_person
        self.open_sockets: Counter[UUID] = Counter()

    async def post_of(self, event: dict[str, Any]) -> Loaded | None:
        """(the post as the app shows it, the author of the post it replies to), or None if
        it is gone. A load that failed (the database busy) is forgotten, so the next socket
        to ask tries again."""
        key = event["event_id"]
        future = self._loaded.get(key)
        if future is None:
            future = asyncio.get_running_loop().create_task(self._load(int(event["post_id"])))
            self._loaded[key] = future
            while len(self._loaded) > self._keep:
                self._loaded.popitem(last=False)
        try:
            return await asyncio.shield(future)
        except Exception:
            if self._loaded.get(key) is future:
                del self._loaded[key]
            raise

    async def _load(self, post_id: int) -> Loaded | None:
        async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
            row = await posts_db.post_for_live(as_connection(conn), post_id, NOBODY)
        return (msgspec.to_builtins(service.to_post(row)), row["thread_author_id"]) if row is not None else None


class LiveTicketController(Controller):
    path = "/v1/live-tickets"
    tags = ["discussions"]

    @post("/", summary="A ticket to open a live socket from a browser")
    async def issue(self, request: SignedInRequest, conn: Conn, runtime: RuntimeDep) -> LiveTicket:
        """Good once, for `live_ticket_ttl_s` (30 s): open `/v1/groups/{id}/live?ticket=...`
        with it. Apps that can send a header use their access token instead."""
        ticket = secrets.token_urlsafe(32)
        ttl = runtime.settings.live_ticket_ttl_s
        expires_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=ttl)
        await tickets_db.insert_ticket(conn, _hash(ticket), request.user.id, request.user.session_id, expires_at)
        return LiveTicket(ticket=ticket, expires_at=expires_at, expires_in=ttl)


def _hash(ticket: str) -> bytes:
    return hashlib.sha256(ticket.encode()).digest()


async def _principal(socket: AnySocket, ticket: str | None) -> Principal | None:
    runtime = socket.app.state.runtime
    header = socket.headers.get("authorization", "")
    async with socket.app.state.pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
        if header.lower().startswith("bearer "):
            session = session_of_token(runtime.jwt_auth, header[7:].strip())
        elif ticket:
            row = await tickets_db.redeem_ticket(conn, _hash(ticket))
            session = (row["person_id"], row["session_id"]) if row else None
        else:
            session = None
        if session is None:
            return None
        return await principal_of_session(conn, runtime.settings, *session)


async def _still_allowed(socket: AnySocket, who: Principal, group_id: UUID) -> tuple[int, str] | None:
    """Why the socket must close now, as (code, reason); None while it may stay."""
    async with socket.app.state.pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
        now = await principal_of_session(conn, socket.app.state.runtime.settings, who.id, who.session_id)
        if now is None:
            return 4401, "This session has ended. Sign in again."
        if now.must_enrol_mfa:
            return 4403, "Set up two-factor sign-in first."
        try:
            await service.group_access(conn, group_id, now)
        except HTTPException:
            return 4404, "No such group, or you are not in it."
    return None


class _Socket:
    """One connected person: what they blocked, and how each event reaches them."""

    def __init__(self, socket: AnySocket, who: Principal, group_id: UUID, hub: LiveHub) -> None:
        self.socket, self.who, self.group_id, self.hub = socket, who, group_id, hub
        self.blocked: set[UUID] = set()

    async def load_blocks(self) -> None:
        async with self.socket.app.state.pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
            self.blocked = await posts_db.blocked_ids(conn, self.who.id)

    async def deliver(self, raw: bytes) -> tuple[int, str] | None:
        event = json.loads(raw)
        kind = event.get("type")
        if kind == events.ACCESS:
            return await _still_allowed(self.socket, self.who, self.group_id)
        if kind == events.BLOCKS:
            await self.load_blocks()
            return None
        if kind == events.HELP_RESPONSE:
            # Ids only: the app reads who is coming from GET /v1/me/help-now.
            await self.socket.send_json({"type": kind, "request_id": event["request_id"]})
            return None
        if kind in SHOWN:
            try:
                loaded = await self.hub.post_of(event)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
                # Not loaded now: the client catches up with ?after= rather than miss it.
                log.warning("could not load post %s; sending resync", event.get("post_id"))
                await self.socket.send_json({"type": "resync"})
                return None
            if loaded is None:
                return None
            shown, thread_author = loaded
            # As the lists do: nothing by someone I blocked, nor any reply under their post.
            if (shown["author"] and UUID(shown["author"]["id"]) in self.blocked) or thread_author in self.blocked:
                return None
            await self.socket.send_json({"type": kind, "post": shown})
        elif kind == events.REACTION:
            await self.socket.send_json(
                {
                    "type": kind,
                    "post_id": event["post_id"],
                    "reply_to": event["reply_to"],
                    "reactions": {"support": event["support"]},
                }
            )
        elif kind in (events.HIDDEN, events.DELETED):
            await self.socket.send_json({"type": kind, "post_id": event["post_id"], "reply_to": event["reply_to"]})
        elif kind == "resync" and event.get("channel") == events.group_channel(self.group_id):
            await self.socket.send_json({"type": "resync"})
        return None


@websocket("/v1/groups/{group_id:uuid}/live", opt={"public": True})
async def group_live(
    socket: AnySocket,
    group_id: FromPath[UUID],
    ticket: Annotated[str | None, QueryParameter(max_length=100)] = None,
) -> None:
    await socket.accept()
    who = await _principal(socket, ticket)
    closing = (
        (4401, "Sign in first: send `Authorization: Bearer <token>`, or ?ticket=.")
        if who is None
        else await _still_allowed(socket, who, group_id)
    )
    if closing:
        await socket.close(code=closing[0], reason=closing[1])
        return
    assert who is not None  # closed above (4401) otherwise
    hub: LiveHub = socket.app.state.live_hub
    if hub.open_sockets[who.id] >= hub.sockets_per_person:
        await socket.close(code=4429, reason="Too many live connections: close some first.")
        return
    hub.open_sockets[who.id] += 1
    try:
        connected = _Socket(socket, who, group_id, hub)
        await connected.load_blocks()
        channels = socket.app.plugins.get(ChannelsPlugin)
        recheck_every = socket.app.state.runtime.settings.live_recheck_s
        async with channels.start_subscription(
            [events.group_channel(group_id), events.person_channel(who.id)]
        ) as subscriber:
            await socket.send_json({"type": "ready"})
            closing = await _serve(socket, connected, subscriber, who, group_id, recheck_every)
    finally:
        hub.open_sockets[who.id] -= 1
        if hub.open_sockets[who.id] <= 0:
            del hub.open_sockets[who.id]
    if closing:
        await socket.close(code=closing[0], reason=closing[1])


async def _serve(
    socket: AnySocket,
    connected: _Socket,
    subscriber: Subscriber,
    who: Principal,
    group_id: UUID,
    recheck_every: float,
) -> tuple[int, str] | None:
    """Until the client leaves (None) or the socket must close (code, reason)."""

    async def from_channels() -> tuple[int, str] | None:
        async for raw in subscriber.iter_events():
            if closing := await connected.deliver(raw):
                return closing
        return None

    async def from_client() -> tuple[int, str] | None:
        # The app says nothing that matters; reading is how a disconnect is noticed. A client
        # that talks a lot (a keep-alive a second is plenty) is closed, not read forever.
        window, heard = time.monotonic(), 0
        try:
            while True:
                await socket.receive_data(mode="text")
                heard += 1
                if time.monotonic() - window > CLIENT_WINDOW_S:
                    window, heard = time.monotonic(), 1
                if heard > CLIENT_MESSAGES_PER_WINDOW:
                    return 4429, "Too many messages: this socket only listens."
        except WebSocketDisconnect:
            return None

    async def rechecks() -> tuple[int, str] | None:
        while True:
            await asyncio.sleep(recheck_every)
            if closing := await _still_allowed(socket, who, group_id):
                return closing

    tasks = [asyncio.create_task(c) for c in (from_channels(), from_client(), rechecks())]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finished = done.pop()
    if (error := finished.exception()) is not None:
        if isinstance(error, WebSocketDisconnect):
            return None
        raise error
    return finished.result()
