"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

from litestar import get
from litestar.datastructures import State

from api.problems import problem
from api.shutdown import draining
from db import migrate


@get("/health/live", tags=["operations"], opt={"public": True}, security=[{}], summary="The process is up")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@get("/health/ready", tags=["operations"], opt={"public": True}, security=[{}], summary="Ready to serve")
async def ready(state: State) -> dict[str, str]:
    """503 while the database is unreachable or lacks a migration this code needs, and from
    the moment the process is told to stop (SIGTERM), while it drains. A database a newer
    release has migrated further is fine: mid-upgrade, the old processes keep serving."""
    if draining(state):
        raise problem(503, "shutting_down", "This process is stopping: send new requests elsewhere.")
    try:
        async with state.pool.acquire(timeout=2) as conn:
            todo = await migrate.missing(conn)
    except Exception as exc:  # a readiness probe answers "no" to any failure  # noqa: BLE001
        raise problem(503, "not_ready", f"Database not ready: {type(exc).__name__}.") from None
    if todo:
        raise problem(503, "migrations_pending", f"Run `aftercare db upgrade`: {len(todo)} migration(s) pending.")
    return {"status": "ok"}
