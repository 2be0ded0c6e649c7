"""What route handlers receive by dependency injection."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, cast

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.enums import ScopeType
from litestar.security.jwt import JWTAuth, Token
from litestar.types import ASGIApp, Receive, Scope, Send

from api.auth.credentials import Hasher
from api.auth.firebase import FirebaseVerifier
from api.settings import Settings
from db.pool import ACQUIRE_TIMEOUT_S

if TYPE_CHECKING:
    # Only for annotations: api.security imports this module.
    from api.security import Principal

# A request where nobody need be signed in (sign-in itself, health, the error handlers).
AnyRequest = Request[Any, Any, State]


class Runtime:
    """The app's long-lived parts, made once in create_app. (A plain class, not a
    dataclass: Litestar's signature model would otherwise try to validate its fields.)"""

    __slots__ = ("settings", "jwt_auth", "hasher", "firebase")

    def __init__(
        self,
        settings: Settings,
        jwt_auth: JWTAuth[Principal, Token],
        hasher: Hasher,
        firebase: FirebaseVerifier | None = None,
    ) -> None:
        self.settings = settings
        self.jwt_auth = jwt_auth
        self.hasher = hasher
        self.firebase = firebase


# Where a request keeps its pooled connection, in the ASGI scope.
_HELD = "aftercare.connection"


def as_connection(proxy: PoolConnectionProxy[asyncpg.Record]) -> asyncpg.Connection:
    """A pooled connection as the `asyncpg.Connection` our queries take. asyncpg hands out
    a proxy that forwards every call, and counts it as a Connection itself
    (`isinstance(proxy, asyncpg.Connection)` is true); asyncpg-stubs does not model that."""
    return cast(asyncpg.Connection, proxy)


class RequestConnection:
    """A request's one pooled connection: taken by whoever needs it first (the sign-in
    check, then the handler, on the same connection), given back when the handler's
    dependencies are cleaned up (`provide_conn`, before the answer is sent: held while
    sending, it stalled other requests for seconds under load), or by
    `give_back_request_connection` when the request ended before the handler ran. One
    checkout instead of two saves the pool a hand-over per request."""

    __slots__ = ("_pool", "_conn")

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._conn: PoolConnectionProxy[asyncpg.Record] | None = None

    async def get(self) -> asyncpg.Connection:
        if self._conn is not None and not _attached(self._conn):
            self._conn = None  # lost since the sign-in check: the pool took it back as it closed
        if self._conn is None:
            self._conn = await self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S)
        return as_connection(self._conn)

    async def release(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await self._pool.release(conn)


def _attached(conn: PoolConnectionProxy[asyncpg.Record]) -> bool:
    """Whether a pooled connection is still ours: when the server closes one, asyncpg puts it
    back in the pool at once, and every later call on it fails as if we had released it."""
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:
        return False


def request_connection(scope: Scope, pool: asyncpg.Pool) -> RequestConnection:
    # Scope is a TypedDict without our key: reading it gives an `object`; we alone write it.
    held = cast("RequestConnection | None", scope.get(_HELD))
    if held is None:
        held = scope[_HELD] = RequestConnection(pool)  # type: ignore[literal-required]  # our key
    return held


def takes_conn(scope: Scope) -> bool:
    """Whether this request's handler works on a `Conn` (so the sign-in check may take the
    connection it will use). Handlers that do slow work between steps take theirs only
    around each step (`Transactions`), and a socket would hold one for its whole life."""
    handler = scope.get("route_handler")
    return scope["type"] == ScopeType.HTTP and handler is not None and "conn" in handler.parsed_fn_signature.parameters


def give_back_request_connection(app: ASGIApp) -> ASGIApp:
    """Middleware: a connection the sign-in check took goes back to the pool when the
    request ends without reaching its handler (a guard's 403, a bad body)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await app(scope, receive, send)
        finally:
            if (held := cast("RequestConnection | None", scope.get(_HELD))) is not None:
                await held.release()

    return middleware


async def provide_conn(scope: Scope, state: State) -> AsyncGenerator[asyncpg.Connection, None]:
    """The request's pooled connection (the one its sign-in check used, if any); handlers
    open transactions where they write."""
    if scope["type"] == ScopeType.HTTP:
        held = request_connection(scope, state.pool)
        try:
            yield await held.get()
        finally:
            await held.release()
        return
    async with state.pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
        yield as_connection(conn)


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
            yield as_connection(conn)


def provide_transactions(state: State) -> Transactions:
    return Transactions(state.pool)


def provide_runtime(state: State) -> Runtime:
    runtime: Runtime = state.runtime  # set in create_app
    return runtime


DEPENDENCIES = {
    "conn": Provide(provide_conn),
    "runtime": Provide(provide_runtime, sync_to_thread=False),
    "transactions": Provide(provide_transactions, sync_to_thread=False),
}

# Explicit markers for handler parameters (Litestar 2.23+ deprecates inferring them).
Conn = NamedDependency[asyncpg.Connection]
RuntimeDep = NamedDependency[Runtime]
TransactionsDep = NamedDependency[Transactions]
