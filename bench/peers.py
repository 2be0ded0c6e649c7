"""Peers: scenario a's yardsticks (`python -m bench.http`, whenever a runs).

A number like "the API stores 700 check-ins a second" says little alone: is that the framework,
the driver, the database, or the API's own work (sign-in check, validation, risk flags, the
idempotent upsert)? So the same machine serves the same kind of request through two small apps
that do nothing but store it, loaded by wrk exactly like scenario a:

  bare  Litestar + msgspec + an asyncpg pool: one `insert ... returning id`. About the most
        this stack can do; what a reaches of it is the cost of the API's own work.
  orm   FastAPI + pydantic + SQLAlchemy 2's async ORM (asyncpg underneath): a mapped class,
        `session.add`, `await session.commit()`. How such an API is commonly written.

Both answer `POST /checkins` ({client_id, mood, craving, used, note}) with 201 {"id": ...}, into
`peer_checkins` in the scratch database (`create_table`), and are served as the API is: uvicorn,
the same number of workers, uvloop + httptools, an access line a request, and as many database
connections a worker as the API's pool. They need no sign-in: that is part of what a pays for.
The ORM peer needs the bench extra (`pip install -e '.[bench]'`); `missing` says when it is absent.
"""

# No `from __future__ import annotations`: FastAPI and SQLAlchemy read the annotations of the
# classes and handler defined inside `orm()`, and could not resolve names local to it from strings.

import importlib.util
import os
import sys
from contextlib import asynccontextmanager
from uuid import UUID

import asyncpg
import msgspec
from litestar import Litestar, get, post
from litestar.datastructures import State

from bench.server import Server, free_port

PEERS = {
    "bare": "peer bare: Litestar + msgspec + asyncpg, POST /checkins",
    "orm": "peer orm: FastAPI + pydantic + SQLAlchemy ORM, POST /checkins",
}
# The same kind of row as the API's check-ins: a generated uuid id and a unique client id (the
# API's idempotency key), so that both write one row and maintain two unique indexes.
TABLE = """
create table if not exists peer_checkins (
    id          uuid primary key default gen_random_uuid(),
    client_id   uuid not null unique,
    received_at timestamptz not null default now(),
    mood        smallint not null,
    craving     smallint not null,
    used        boolean not null,
    note        text
)
"""
INSERT = "insert into peer_checkins (client_id, mood, craving, used, note) values ($1, $2, $3, $4, $5) returning id"


async def create_table(conn: asyncpg.Connection) -> None:
    await conn.execute(TABLE)


def missing(name: str) -> str | None:
    """Why the peer `name` cannot run here, or None."""
    if name == "orm" and not all(importlib.util.find_spec(m) for m in ("fastapi", "sqlalchemy", "greenlet")):
        return "not installed: pip install -e '.[bench]'"
    return None


def _settings() -> tuple[str, int]:
    return os.environ["PEER_DATABASE_URL"], int(os.environ["PEER_POOL_MAX"])


class CheckinIn(msgspec.Struct):
    client_id: UUID
    mood: int
    craving: int
    used: bool
    note: str | None = None


@post("/checkins", status_code=201)
async def add_checkin(data: CheckinIn, state: State) -> dict[str, UUID]:
    checkin_id = await state.pool.fetchval(INSERT, data.client_id, data.mood, data.craving, data.used, data.note)
    return {"id": checkin_id}


@get("/health")
async def health() -> str:
    return "ok"


async def _no_reset(conn: asyncpg.Connection) -> None:
    """The handler keeps no session state. As in the API's pool (db/pool.py), this skips the
    statement asyncpg runs on each connection handed back: a round trip not the framework's."""


def bare() -> Litestar:
    """The bare peer's app (a uvicorn factory)."""
    database_url, pool_max = _settings()

    @asynccontextmanager
    async def pool(app: Litestar):
        # min_size as the API's pool: connections are opened as the load needs them.
        app.state.pool = await asyncpg.create_pool(database_url, min_size=1, max_size=pool_max, reset=_no_reset)
        try:
            yield
        finally:
            await app.state.pool.close()

    return Litestar([add_checkin, health], lifespan=[pool])


def orm():
    """The ORM peer's app (a uvicorn factory): FastAPI and SQLAlchemy are imported only here,
    so the rest of the benchmark runs without the bench extra."""
    from typing import Annotated

    from fastapi import Depends, FastAPI
    from pydantic import BaseModel
    from sqlalchemy import make_url, text
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
    from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

    class Base(DeclarativeBase):
        pass

    class PeerCheckin(Base):
        __tablename__ = "peer_checkins"
        id: Mapped[UUID] = mapped_column(primary_key=True, server_default=text("gen_random_uuid()"))
        client_id: Mapped[UUID] = mapped_column(unique=True)
        mood: Mapped[int]
        craving: Mapped[int]
        used: Mapped[bool]
        note: Mapped[str | None]

    class CheckinBody(BaseModel):
        client_id: UUID
        mood: int
        craving: int
        used: bool
        note: str | None = None

    database_url, pool_max = _settings()
    # As many connections as the API's pool at most (no overflow beyond it).
    engine = create_async_engine(
        make_url(database_url).set(drivername="postgresql+asyncpg"), pool_size=pool_max, max_overflow=0
    )
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def session():
        async with sessions() as s:
            yield s

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)

    @app.post("/checkins", status_code=201)
    async def add_checkin(body: CheckinBody, db: Annotated[AsyncSession, Depends(session)]) -> dict[str, UUID]:
        checkin = PeerCheckin(**body.model_dump())
        db.add(checkin)
        await db.commit()
        return {"id": checkin.id}

    @app.get("/health")
    async def health() -> str:
        return "ok"

    return app


class PeerServer(Server):
    """The peer `name` ("bare" or "orm") under uvicorn, as the API is served."""

    def __init__(self, name: str, database_url: str, workers: int, pool_max: int) -> None:
        port = free_port()
        argv = [sys.executable, "-m", "uvicorn", f"bench.peers:{name}", "--factory", "--host", "127.0.0.1"]
        argv += ["--port", str(port), "--workers", str(workers), "--loop", "uvloop", "--http", "httptools"]
        env = {"PEER_DATABASE_URL": database_url, "PEER_POOL_MAX": str(pool_max)}
        super().__init__(f"the {name} peer", argv, port, workers, env, "/health")
