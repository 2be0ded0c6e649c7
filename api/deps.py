"""What route handlers receive by dependency injection."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.security.jwt import JWTAuth

from api.auth.credentials import Hasher
from api.auth.firebase import FirebaseVerifier
from api.settings import Settings
from db.pool import ACQUIRE_TIMEOUT_S


class Runtime:
    """The app's long-lived parts, made once in create_app. (A plain class, not a
    dataclass: Litestar's signature model would otherwise try to validate its fields.)"""

    __slots__ = ("settings", "jwt_auth", "hasher", "firebase")

    def __init__(
        self, settings: Settings, jwt_auth: JWTAuth, hasher: Hasher, firebase: FirebaseVerifier | None = None
    ) -> None:
        self.settings = settings
        self.jwt_auth = jwt_auth
        self.hasher = hasher
        self.firebase = firebase


async def provide_conn(state: State) -> AsyncGenerator[asyncpg.Connection, None]:
    """One pooled connection per request; handlers open transactions where they write."""
    async with state.pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
        yield conn


class Transactions:
    """Pooled connections taken only around a handler's database steps, for handlers that
    do slow work between them (argon2, asking Firebase): with a `Conn`, every request
    waiting for its hash would hold a connection, and a burst of sign-ins would leave none
    for anyone else."""

    __slots__ = ("_pool",)

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn, conn.transaction():
            yield conn


def provide_transactions(state: State) -> Transactions:
    return Transactions(state.pool)


def provide_runtime(state: State) -> Runtime:
    return state.runtime


DEPENDENCIES = {
    "conn": Provide(provide_conn),
    "runtime": Provide(provide_runtime, sync_to_thread=False),
    "transactions": Provide(provide_transactions, sync_to_thread=False),
}

# Explicit markers for handler parameters (Litestar 2.23+ deprecates inferring them).
Conn = NamedDependency[asyncpg.Connection]
RuntimeDep = NamedDependency[Runtime]
TransactionsDep = NamedDependency[Transactions]
