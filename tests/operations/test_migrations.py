"""Migrations: applied once, in order, under a lock; an edited applied file is refused."""

import asyncio
import shutil
import uuid

import asyncpg
import httpx
import pytest
from litestar.testing import AsyncTestClient

from api.app import create_app
from db import migrate
from tests import helpers
from tests.config import create_database, drop_database, make_settings
from tests.live_server import LiveServer


@pytest.fixture
async def empty_db(server_url):
    url = await create_database(server_url)
    yield url
    await drop_database(server_url, url)


async def test_upgrade_applies_everything_then_nothing(empty_db):
    conn = await asyncpg.connect(empty_db)
    try:
        assert await migrate.pending(conn) == [m.version for m in migrate.load_migrations()]
        applied = await migrate.upgrade(conn)
        assert applied == [m.version for m in migrate.load_migrations()]
        assert await migrate.upgrade(conn) == []
        assert await migrate.pending(conn) == []
        rows = await conn.fetch("select version, checksum from schema_migrations")
        assert {r["version"]: r["checksum"] for r in rows} == {m.version: m.checksum for m in migrate.load_migrations()}
    finally:
        await conn.close()


async def test_two_upgrades_at_once_take_turns(empty_db):
    first, second = await asyncpg.connect(empty_db), await asyncpg.connect(empty_db)
    try:
        results = await asyncio.gather(migrate.upgrade(first), migrate.upgrade(second))
        everything = [m.version for m in migrate.load_migrations()]
        assert sorted(results, key=len) == [[], everything]
        assert await first.fetchval("select count(*) from schema_migrations") == len(everything)
    finally:
        await first.close()
        await second.close()


async def test_an_edited_applied_migration_is_refused(empty_db, tmp_path):
    for path in migrate.MIGRATIONS_DIR.glob("*.sql"):
        shutil.copy(path, tmp_path / path.name)
    conn = await asyncpg.connect(empty_db)
    try:
        await migrate.upgrade(conn, migrate.load_migrations(tmp_path))
        first = sorted(tmp_path.glob("*.sql"))[0]
        first.write_text(first.read_text() + "\n-- a quiet edit\n")
        with pytest.raises(migrate.MigrationError, match=f"{first.stem} was edited after it was applied"):
            await migrate.upgrade(conn, migrate.load_migrations(tmp_path))
        with pytest.raises(migrate.MigrationError):
            await migrate.pending(conn, migrate.load_migrations(tmp_path))
    finally:
        await conn.close()


async def test_a_failing_migration_leaves_nothing_behind(empty_db, tmp_path):
    (tmp_path / "0001_ok.sql").write_text("create table first_table (id int);")
    (tmp_path / "0002_broken.sql").write_text("create table second_table (id int); select 1/0;")
    conn = await asyncpg.connect(empty_db)
    try:
        with pytest.raises(asyncpg.DivisionByZeroError):
            await migrate.upgrade(conn, migrate.load_migrations(tmp_path))
        assert await conn.fetchval("select to_regclass('first_table')") is None
        assert await conn.fetchval("select to_regclass('schema_migrations')") is None
    finally:
        await conn.close()


async def test_database_ahead_of_the_code(empty_db, tmp_path):
    (tmp_path / "0001_a.sql").write_text("select 1;")
    (tmp_path / "0002_b.sql").write_text("select 2;")
    conn = await asyncpg.connect(empty_db)
    try:
        await migrate.upgrade(conn, migrate.load_migrations(tmp_path))
        (tmp_path / "0002_b.sql").unlink()
        # Code rolled back behind its database: its upgrade leaves it be; `db status` says so.
        assert await migrate.upgrade(conn, migrate.load_migrations(tmp_path)) == []
        with pytest.raises(migrate.MigrationError, match="0002_b"):
            await migrate.pending(conn, migrate.load_migrations(tmp_path))
        # A history that differs (this code has 0001_b, never applied; 0002_b is unknown) is refused.
        (tmp_path / "0001_b.sql").write_text("select 3;")
        with pytest.raises(migrate.MigrationError, match="histories differ"):
            await migrate.upgrade(conn, migrate.load_migrations(tmp_path))
    finally:
        await conn.close()


def test_badly_named_files_are_refused(tmp_path):
    (tmp_path / "add_table.sql").write_text("select 1;")
    with pytest.raises(migrate.MigrationError, match="NNNN_description.sql"):
        migrate.load_migrations(tmp_path)


async def test_ready_reports_pending_migrations(empty_db, conn):
    from litestar.testing import AsyncTestClient

    from api.app import create_app
    from tests.config import make_settings
    from tests.helpers import assert_problem

    async with AsyncTestClient(app=create_app(make_settings(empty_db))) as client:
        assert (await client.get("/health/live")).status_code == 200
        assert_problem(await client.get("/health/ready"), 503, "migrations_pending")


# --- migrating a busy database -----------------------------------------------------------------

NEW_COLUMN = "alter table checkins add column upgrade_test_note text;\n"


def _with_new_migration(tmp_path):
    for path in migrate.MIGRATIONS_DIR.glob("*.sql"):
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "9999_upgrade_test.sql").write_text(NEW_COLUMN)
    return migrate.load_migrations(tmp_path)


@pytest.fixture
async def migrated_db(empty_db):
    """A database of its own: these tests apply a migration the others must not see."""
    conn = await asyncpg.connect(empty_db)
    try:
        await migrate.upgrade(conn)
    finally:
        await conn.close()
    return empty_db


async def test_a_migration_gives_way_to_a_long_transaction_and_fails_no_request(migrated_db, tmp_path):
    """Check-ins arrive from 8 clients at once while a long transaction uses the check-ins'
    table and an upgrade must alter it. The upgrade waits for its lock only briefly, steps
    back and tries again, so requests never queue behind it for longer than the API's
    statement timeout: every check-in is stored, then the migration is applied."""
    settings = make_settings(migrated_db, statement_timeout_ms=2000)
    conn = await asyncpg.connect(migrated_db)
    try:
        async with AsyncTestClient(app=create_app(settings)) as client:
            staff = await helpers.account(client, conn, helpers.Hasher("cheapest"), ["staff"])
            graduate = await helpers.graduate(client, staff)
        statuses: list[object] = []
        done = asyncio.Event()
        with LiveServer(settings) as server:

            async def check_ins() -> None:
                async with httpx.AsyncClient(base_url=server.url, headers=graduate.headers, timeout=10) as http:
                    while not done.is_set():
                        body = helpers.checkin_body() | {"client_id": str(uuid.uuid4())}
                        try:
                            statuses.append((await http.post("/v1/checkins", json=body)).status_code)
                        except httpx.TransportError as exc:
                            statuses.append(repr(exc))

            async def long_transaction() -> None:
                holder = await asyncpg.connect(migrated_db)
                try:
                    async with holder.transaction():
                        await holder.execute("lock table checkins in row exclusive mode")  # as a long write would
                        await asyncio.sleep(3)
                finally:
                    await holder.close()

            load = [asyncio.create_task(check_ins()) for _ in range(8)]
            await asyncio.sleep(0.3)
            holding = asyncio.create_task(long_transaction())
            await asyncio.sleep(0.2)
            migrator = await asyncpg.connect(migrated_db)
            try:
                applied = await migrate.upgrade(
                    migrator, _with_new_migration(tmp_path), lock_timeout_ms=300, pause_s=0.5, tries=20
                )
            finally:
                await migrator.close()
            await holding
            await asyncio.sleep(0.3)
            done.set()
            await asyncio.gather(*load)
        assert applied == ["9999_upgrade_test"]
        added = "select count(*) from information_schema.columns where column_name = 'upgrade_test_note'"
        assert await conn.fetchval(added) == 1
        assert len(statuses) > 20 and set(statuses) == {201}, [s for s in statuses if s != 201][:5]
    finally:
        await conn.close()


async def test_a_table_busy_for_too_long_applies_nothing(migrated_db, tmp_path):
    holder = await asyncpg.connect(migrated_db)
    migrator = await asyncpg.connect(migrated_db)
    try:
        async with holder.transaction():
            await holder.execute("lock table checkins in row exclusive mode")
            with pytest.raises(migrate.MigrationBusy, match="nothing was applied"):
                await migrate.upgrade(
                    migrator, _with_new_migration(tmp_path), lock_timeout_ms=50, pause_s=0.05, tries=3
                )
        assert await migrator.fetchval("select count(*) from schema_migrations where version like '9999%'") == 0
    finally:
        await holder.close()
        await migrator.close()


async def test_the_release_before_stays_ready_once_a_newer_one_has_migrated(migrated_db, tmp_path):
    """Mid-upgrade, the new release's migration is applied while the old processes still
    serve: they stay ready (their code has no 9999, the database does)."""
    migrator = await asyncpg.connect(migrated_db)
    try:
        assert await migrate.upgrade(migrator, _with_new_migration(tmp_path)) == ["9999_upgrade_test"]
        assert await migrate.missing(migrator) == []
        with pytest.raises(migrate.MigrationError, match="9999_upgrade_test"):
            await migrate.pending(migrator)  # `db status` says so
        assert await migrate.upgrade(migrator) == []  # rolling the code back: the old upgrade leaves it be
        # An edited migration the old code knows is still refused, ahead or not.
        edited = [migrate.Migration(m.version, m.sql + "\n-- edited") for m in migrate.load_migrations()]
        with pytest.raises(migrate.MigrationError, match="was edited"):
            await migrate.missing(migrator, edited)
    finally:
        await migrator.close()
    async with AsyncTestClient(app=create_app(make_settings(migrated_db))) as client:
        assert (await client.get("/health/ready")).status_code == 200
