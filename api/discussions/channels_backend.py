"""How live events reach every API process: Litestar's channels, over PostgreSQL's
LISTEN/NOTIFY by default (nothing new to run), or Redis pub/sub when REDIS_URL is set.

Litestar's asyncpg backend is used with two changes that a long-running server needs: it
publishes on one kept connection (not a new connection per event), and when its listening
connection drops (a database restart, a failover) it connects again, listens again, and
tells every socket to catch up (`resync`), since events sent meanwhile are gone. A publish
that fails is logged and dropped, never allowed to end the plugin's publishing task (which
would silence every later event without a word)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from litestar.channels import ChannelsBackend, ChannelsPlugin
from litestar.channels.backends.asyncpg import AsyncPgChannelsBackend
from litestar.channels.backends.redis import RedisChannelsPubSubBackend

from api.settings import Settings

log = logging.getLogger("aftercare.live")
RECONNECT_DELAYS_S = (0.1, 0.5, 1, 2, 5)


class PostgresNotifyBackend(AsyncPgChannelsBackend):
    def __init__(self, dsn: str) -> None:
        super().__init__(dsn=dsn)
        self._publisher: asyncpg.Connection | None = None
        self._publish_lock = asyncio.Lock()
        self._reconnecting: asyncio.Task[None] | None = None

    async def on_startup(self) -> None:
        await super().on_startup()
        self._listener_conn.add_termination_listener(self._listener_lost)

    async def on_shutdown(self) -> None:
        if self._reconnecting is not None:
            self._reconnecting.cancel()
        if self._publisher is not None:
            await self._publisher.close()
        await super().on_shutdown()

    async def publish(self, data: bytes, channels: Iterable[str]) -> None:
        payload = data.decode()
        async with self._publish_lock:
            for attempt in range(2):
                try:
                    if self._publisher is None or self._publisher.is_closed():
                        self._publisher = await self._connect()
                    for channel in channels:
                        await self._publisher.execute("select pg_notify($1, $2)", channel, payload)
                    return
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    self._publisher = None
                    if attempt == 1:
                        log.error("live event not published (%s): sockets catch up on reconnect", type(exc).__name__)

    def _listener_lost(self, _conn: asyncpg.Connection[Any] | PoolConnectionProxy[Any]) -> None:
        if self._queue is not None and (self._reconnecting is None or self._reconnecting.done()):
            self._reconnecting = asyncio.get_running_loop().create_task(self._listen_again())

    async def _listen_again(self) -> None:
        attempt = 0
        while self._queue is not None:
            try:
                conn = await self._connect()
                async with self._listener_lock:
                    for channel in self._subscribed_channels:
                        await conn.add_listener(channel, self._listener)  # type: ignore[arg-type]  # stubs: Connection vs proxy
                    self._listener_conn = conn
                conn.add_termination_listener(self._listener_lost)
                log.warning("live events: listening again after the database connection dropped")
                for channel in list(self._subscribed_channels):
                    self._queue.put_nowait((channel, json.dumps({"type": "resync", "channel": channel}).encode()))
                return
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await asyncio.sleep(RECONNECT_DELAYS_S[min(attempt, len(RECONNECT_DELAYS_S) - 1)])
                attempt += 1


def live_channels(settings: Settings) -> ChannelsPlugin:
    backend: ChannelsBackend
    if settings.redis_url:
        from redis.asyncio import Redis

        backend = RedisChannelsPubSubBackend(redis=Redis.from_url(settings.redis_url), key_prefix="aftercare_live")
    else:
        backend = PostgresNotifyBackend(settings.database_url)
    # No backlog limit per socket: an event is never dropped for a slow reader (a socket that
    # stops reading is closed by the server's own ping timeout instead).
    return ChannelsPlugin(backend=backend, arbitrary_channels_allowed=True)
