"""The SQL an endpoint runs, captured from one real request, as a pgbench script.

The request goes through the real app (in this process) with a one-connection pool whose
connection logs every statement and its arguments (asyncpg's query logger). Each argument
becomes a pgbench variable when it is the caller's id, session, a fresh client id or time,
or the id a statement returned; otherwise the captured value is written in as a literal.
So pgbench runs the endpoint's statements, in its order, with the same kind of arguments.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import asyncpg
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.settings import Settings
from db.pool import create_pool

# Picks a random signed-in graduate, and a fresh client id and time, for each transaction.
PICK_GRADUATE = (
    "\\set n random(1, {graduates})\n"
    "select person_id as pid, session_id as sid, gen_random_uuid() as cid, now() - interval '1 minute' as ct\n"
    "  from bench_logins where n = :n \\gset\n"
)

# asyncpg's own statements (type introspection, resetting a connection as the pool takes it
# back): not the endpoint's.
# Compared with whitespace collapsed: asyncpg writes some over several lines.
DRIVER_STATEMENTS = (
    "select pg_advisory_unlock_all()",
    "with recursive typeinfo_tree",
    "select current_setting('jit')",
    "select set_config('jit'",
)

Send = Callable[[AsyncTestClient], Awaitable[Any]]


class CountingPool:
    """A pool that counts its checkouts (a request should take one)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.checkouts = 0

    def acquire(self, *args, **kwargs):
        self.checkouts += 1
        return self.pool.acquire(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pool, name)


async def capture(
    settings: Settings, send: Send, checkouts: list[int] | None = None
) -> tuple[list[tuple[str, tuple]], Any]:
    """The statements (text, arguments) that `send`'s requests ran, and what `send` returned;
    `checkouts`, if given, gets the number of pool checkouts they made."""
    logged: list[tuple[str, tuple]] = []
    app = create_app(settings)

    # The test client serves the app on an event loop of its own (a portal thread): the
    # logging pool is made, swapped in, and closed there.
    async def swap_in() -> asyncpg.Pool:
        served = app.state.pool
        logging_pool = await create_pool(settings.database_url, min_size=1, max_size=1, reset_session=False)
        async with logging_pool.acquire() as conn:
            conn.add_query_logger(lambda q: logged.append((q.query, q.args)))
        app.state.pool = CountingPool(logging_pool)
        return served

    async def swap_back(served: asyncpg.Pool) -> None:
        if checkouts is not None:
            checkouts.append(app.state.pool.checkouts)
        await app.state.pool.close()
        app.state.pool = served

    async with AsyncTestClient(app) as client:
        for name in ("httpx", "aftercare"):  # a line per captured request otherwise
            logging.getLogger(name).setLevel(logging.WARNING)
        served = client.blocking_portal.call(swap_in)
        try:
            result = await send(client)
        finally:
            client.blocking_portal.call(swap_back, served)
    return logged, result


def _literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list) and any(isinstance(v, dict) for v in value) or isinstance(value, dict):
        text = json.dumps(value)
    elif isinstance(value, list | tuple):
        text = "{" + ",".join('"' + str(v).replace('"', '\\"') + '"' for v in value) + "}"
    elif isinstance(value, dt.date | dt.time | UUID | str):
        text = value.isoformat() if isinstance(value, dt.date | dt.time) else str(value)
    else:
        raise TypeError(f"no pgbench literal for {type(value).__name__}")
    return "'" + text.replace("'", "''") + "'"


def _colons_kept(literal: re.Match) -> str:
    """pgbench reads `:name` as a variable even inside quotes ('HH24:MI', '17:00'): such a
    literal is split around the colon ('HH24:' || 'MI'), which the planner folds back."""
    return re.sub(r":(?=\w)", ":' || '", literal.group(0))


def pgbench_script(
    statements: list[tuple[str, tuple]],
    variables: dict[Any, str],
    graduates: int,
    gset: dict[str, str] | None = None,
) -> str:
    """A pgbench script running `statements` for a random graduate. `variables` maps captured
    values to pgbench variables (e.g. the caller's id to `pid`); `gset` maps the start of a
    statement to the prefix under which pgbench keeps its result row (`ins_` makes `ins_id`)."""
    lines = [PICK_GRADUATE.format(graduates=graduates)]
    for query, args in statements:
        if " ".join(query.split()).lower().startswith(DRIVER_STATEMENTS):
            continue

        def argument(match: re.Match, args: tuple = args) -> str:
            value = args[int(match.group(1)) - 1]
            name = variables.get(value) if isinstance(value, UUID | str | dt.datetime) else None
            return f":{name}" if name else _literal(value)

        text = re.sub(r"\$(\d+)", argument, " ".join(query.split()))
        text = re.sub(r"'(?:[^']|'')*'", _colons_kept, text)
        keep = next((prefix for start, prefix in (gset or {}).items() if text.lower().startswith(start)), None)
        lines.append(text.rstrip(";") + (f" \\gset {keep}" if keep else ";") + "\n")
    return "".join(lines)


async def login_row(conn: asyncpg.Connection, n: int) -> asyncpg.Record:
    return await conn.fetchrow("select person_id, session_id from bench_logins where n = $1", n)
