"""Versioned plain-SQL migrations, applied in order, in one transaction, under a lock.

Files in `db/migrations/` are named `NNNN_description.sql` and are never edited once applied:
each applied file's checksum is recorded, and a changed file is refused.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any fixed 64-bit number, shared by every process that migrates this database.
MIGRATION_LOCK_KEY = 7_261_706_163_617_265  # "aftercare" in spirit
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class MigrationError(Exception):
    """The migrations on disk and in the database disagree; the message says what to do."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        if not _NAME.match(path.name):
            raise MigrationError(f"{path.name}: migration files are named NNNN_description.sql")
        migrations.append(Migration(version=path.stem, sql=path.read_text(encoding="utf-8")))
    return migrations


_CREATE_LEDGER = """
create table if not exists schema_migrations (
    version     text primary key,
    checksum    text not null,
    applied_at  timestamptz not null default now()
)"""


async def _applied(conn: asyncpg.Connection) -> dict[str, str]:
    exists = await conn.fetchval("select to_regclass('schema_migrations') is not null")
    if not exists:
        return {}
    rows = await conn.fetch("select version, checksum from schema_migrations order by version")
    return {row["version"]: row["checksum"] for row in rows}


def _check_history(applied: dict[str, str], migrations: list[Migration], *, ahead_ok: bool = False) -> list[Migration]:
    """Return the pending migrations, or raise if the applied history was tampered with.
    `ahead_ok`: a database a newer release migrated further (every migration this code has,
    as this code has it, and newer ones after them) is no fault."""
    on_disk = {m.version: m for m in migrations}
    newer = [version for version in applied if version not in on_disk]
    if newer and ahead_ok and min(newer) > max(on_disk, default=""):
        if lacking := [m.version for m in migrations if m.version not in applied]:
            raise MigrationError(
                f"the database has newer migrations ({', '.join(newer)}) but not this code's "
                f"{', '.join(lacking)}: their histories differ; restore a backup or run the release that made them"
            )
        applied = {v: c for v, c in applied.items() if v in on_disk}
    for version, checksum in applied.items():
        migration = on_disk.get(version)
        if migration is None:
            raise MigrationError(
                f"the database has migration {version}, which this code does not have: "
                "run a version of Aftercare that includes it"
            )
        if migration.checksum != checksum:
            raise MigrationError(
                f"migration {version} was edited after it was applied "
                f"(recorded checksum {checksum[:12]}, file now {migration.checksum[:12]}); "
                "restore the file and put the change in a new migration"
            )
    return [m for m in migrations if m.version not in applied]


async def pending(conn: asyncpg.Connection, migrations: list[Migration] | None = None) -> list[str]:
    """Versions not yet applied (raises MigrationError on a tampered history)."""
    migrations = load_migrations() if migrations is None else migrations
    return [m.version for m in _check_history(await _applied(conn), migrations)]


class MigrationBusy(Exception):
    """A table stayed too busy to change: nothing was applied; run the upgrade again later."""


# A migration's wait for a table's lock, per try. While it waits, every request that touches
# the table queues behind it: this must stay well under the API's statement timeout (5 s), or
# those requests fail. A try that cannot get its lock in time rolls back and is made again.
LOCK_TIMEOUT_MS = 1000
LOCK_TRIES = 10
LOCK_PAUSE_S = 2.0


async def missing(conn: asyncpg.Connection, migrations: list[Migration] | None = None) -> list[str]:
    """This code's migrations the database lacks. Unlike `pending`, a database that is ahead
    (a newer release's migrations applied, mid-upgrade) is no fault here: migrations keep the
    release before them working (README, "Restarts and upgrades")."""
    migrations = load_migrations() if migrations is None else migrations
    return [m.version for m in _check_history(await _applied(conn), migrations, ahead_ok=True)]


async def upgrade(
    conn: asyncpg.Connection,
    migrations: list[Migration] | None = None,
    *,
    lock_timeout_ms: int = LOCK_TIMEOUT_MS,
    tries: int = LOCK_TRIES,
    pause_s: float = LOCK_PAUSE_S,
) -> list[str]:
    """Apply every pending migration; return the versions applied.

    All of it runs in one transaction holding an advisory lock, so two upgrades started at
    once take turns: the second finds nothing left to do. A statement that waits longer than
    `lock_timeout_ms` for a table (a long transaction is using it) undoes the try, which is
    made again after `pause_s`, up to `tries` times; then MigrationBusy, with nothing applied.
    """
    migrations = load_migrations() if migrations is None else migrations
    for attempt in range(1, tries + 1):
        try:
            return await _upgrade_once(conn, migrations, lock_timeout_ms)
        except asyncpg.LockNotAvailableError:
            if attempt == tries:
                raise MigrationBusy(
                    f"a table stayed busy (no lock within {lock_timeout_ms} ms, {tries} tries): nothing was "
                    "applied. Look for long transactions (pg_stat_activity) and run `aftercare db upgrade` again"
                ) from None
            await asyncio.sleep(pause_s)
    raise AssertionError("unreachable")


async def _upgrade_once(conn: asyncpg.Connection, migrations: list[Migration], lock_timeout_ms: int) -> list[str]:
    async with conn.transaction():
        # Waiting here for another upgrade holds up no request: the lock timeout starts after.
        await conn.execute("select pg_advisory_xact_lock($1)", MIGRATION_LOCK_KEY)
        await conn.execute(f"set local lock_timeout = {int(lock_timeout_ms)}")
        await conn.execute(_CREATE_LEDGER)
        # A database a newer release migrated is left as it is (rolling back the code).
        todo = _check_history(await _applied(conn), migrations, ahead_ok=True)
        for migration in todo:
            await conn.execute(migration.sql)
            await conn.execute(
                "insert into schema_migrations (version, checksum) values ($1, $2)",
                migration.version,
                migration.checksum,
            )
    return [m.version for m in todo]
