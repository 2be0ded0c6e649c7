"""Migrations: applied once, in order, under a lock; an edited applied file is refused."""

import asyncio
import shutil

import asyncpg
import pytest

from db import migrate
from tests.conftest import create_database, drop_database


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
        with pytest.raises(migrate.MigrationError, match="0002_b"):
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
    from tests.conftest import make_settings
    from tests.helpers import assert_problem

    async with AsyncTestClient(app=create_app(make_settings(empty_db))) as client:
        assert (await client.get("/health/live")).status_code == 200
        assert_problem(await client.get("/health/ready"), 503, "migrations_pending")
