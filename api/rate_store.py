"""Where the sign-in rate limiter keeps its counters: in memory for one API process, in
Redis when several share them (REDIS_URL).

Without its counter the limiter cannot tell a person from a password-guessing script, so
when Redis fails, sign-in fails closed: a 503 (api/errors.py) instead of letting guesses
through. It should also fail quickly, because Litestar's rate-limit middleware holds one
lock per process across its Redis round trips: while one request waits on Redis, every
other sign-in waits behind it. Hence short socket timeouts, and after a failure a short
pause in which requests are refused at once rather than queued for the same timeout again.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from types import TracebackType
from typing import TypeVar

from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore
from litestar.stores.redis import RedisStore
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from api.settings import Settings

# After Redis failed, how long requests are refused without asking it. Short, so sign-in
# comes back within about a second of Redis; the first request after it asks Redis again.
PAUSE_AFTER_FAILURE_S = 1.0

T = TypeVar("T")


def rate_limit_store(settings: Settings) -> Store:
    if not settings.redis_url:
        return MemoryStore()
    client = redis_client(settings.redis_url, settings.redis_timeout_ms / 1000)
    return FailFastStore(RedisStore(client, namespace="aftercare", handle_client_shutdown=True))


def redis_client(url: str, timeout_s: float) -> Redis:
    """A client that gives up after `timeout_s` for a connect or a reply. redis-py waits 5 s
    by default, and a Redis that accepts connections but never answers would hold every
    sign-in that long (and, through the limiter's lock, the ones queued behind it)."""
    return Redis.from_url(
        url,
        socket_connect_timeout=timeout_s,
        socket_timeout=timeout_s,
        # One immediate retry when a pooled connection turns out dropped (Redis restarted:
        # a fresh connection will do); none after a timeout, which would only double the wait.
        retry=Retry(NoBackoff(), retries=1, supported_errors=(RedisConnectionError,)),
    )


class RedisPaused(RedisConnectionError):
    """Refused without asking Redis: it failed less than PAUSE_AFTER_FAILURE_S ago."""


class FailFastStore(Store):
    """A store that, once its Redis has failed, raises at once for a short pause instead of
    making each queued request wait out the timeout again."""

    def __init__(self, store: RedisStore, pause_s: float = PAUSE_AFTER_FAILURE_S) -> None:
        self._store = store
        self._pause_s = pause_s
        self._paused_until = 0.0

    async def _call(self, operation: Callable[[], Awaitable[T]]) -> T:
        if time.monotonic() < self._paused_until:
            raise RedisPaused("Redis failed moments ago")
        try:
            return await operation()
        except RedisError:
            self._paused_until = time.monotonic() + self._pause_s
            raise

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        return await self._call(lambda: self._store.get(key, renew_for))

    async def set(self, key: str, value: str | bytes, expires_in: int | timedelta | None = None) -> None:
        await self._call(lambda: self._store.set(key, value, expires_in))

    async def delete(self, key: str) -> None:
        await self._call(lambda: self._store.delete(key))

    async def delete_all(self) -> None:
        await self._call(self._store.delete_all)

    async def exists(self, key: str) -> bool:
        return await self._call(lambda: self._store.exists(key))

    async def expires_in(self, key: str) -> int | None:
        return await self._call(lambda: self._store.expires_in(key))

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc_val: BaseException | None, exc_tb: TracebackType | None
    ) -> None:
        await self._store.__aexit__(exc_type, exc_val, exc_tb)  # closes the client and its connections
