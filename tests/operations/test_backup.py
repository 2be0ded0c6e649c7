"""`aftercare db backup` and `aftercare db restore`, run as a person would run them (a
subprocess): the demo program and its audit trail backed up, restored into a new database,
found again table by table and served by the API; and what they refuse."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.demo import ADMIN_EMAIL, COUNSELOR_EMAIL, load_demo
from db import migrate
from db.backup import BackupError, Target, embedded_tool_dir, find_tool, mask_url
from tests import helpers
from tests.clock import ONCE
from tests.config import create_database, drop_database, make_settings

# The demo's history is dated back from today (api/demo/).
pytestmark = pytest.mark.clock_instants(*ONCE)

PASSWORD = "s3cret-never-shown"


def aftercare(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if not env.get("DATABASE_URL"):  # the tests' embedded server: its own, newer, pg_dump first
        env["PATH"] = f"{embedded_tool_dir()}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args], capture_output=True, text=True, env=env, timeout=120
    )


def with_password(url: str, password: str) -> str:
    """The URL with a password (the test servers trust local users, so any works): one to hide."""
    parts = urlsplit(url)
    hostinfo = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or 'postgres'}:{password}@{hostinfo}"))


# The rows the brief names, by id, beside every table's count and content.
IDS = {
    "graduates": "select person_id::text from participant_profiles order by 1",
    "checkins": "select id::text from checkins order by 1",
    "alerts": "select id::text from alerts order by 1",
    "groups": "select id::text from groups order by 1",
    "audit_log": "select id::text from audit_log order by 1",
}


async def snapshot(url: str) -> dict[str, object]:
    """Every table in schema public: its row count and a digest of every row; the named rows'
    ids; every sequence's position (so new rows do not collide with restored ones)."""
    conn = await asyncpg.connect(url)
    try:
        tables = [
            r["tablename"] for r in await conn.fetch("select tablename from pg_tables where schemaname = 'public'")
        ]
        found: dict[str, object] = {}
        for table in sorted(tables):
            rows = (
                f"select count(*), md5(coalesce(string_agg(t::text, chr(10) order by t::text), '')) from \"{table}\" t"
            )
            found[f"table {table}"] = tuple(await conn.fetchrow(rows))
        for name, query in IDS.items():
            found[f"ids {name}"] = [r[0] for r in await conn.fetch(query)]
        found["sequences"] = [
            tuple(r) for r in await conn.fetch("select sequencename, last_value from pg_sequences order by 1")
        ]
        return found
    finally:
        await conn.close()


@pytest.fixture
async def empty_db(server_url):
    url = await create_database(server_url)
    yield url
    await drop_database(server_url, url)


async def test_a_backup_restored_into_a_new_database_is_the_same_program(
    client, conn, hasher, database_url, empty_db, tmp_path
):
    logins = await load_demo(conn, hasher, progress=lambda _: None)
    assert logins is not None
    counselor = await client.post("/v1/auth/login", json=helpers.login_body(COUNSELOR_EMAIL, logins.password))
    assert counselor.status_code == 201, counselor.text
    headers = helpers.bearer(counselor.json())
    caseload = (await client.get("/v1/staff/participants", headers=headers)).json()["items"]
    someone = caseload[0]
    read = await client.get(f"/v1/staff/participants/{someone['id']}", headers=headers)  # an audited read
    assert read.status_code == 200, read.text
    audited = await conn.fetchval(
        "select id from audit_log where action = 'participant.read' and participant_id = $1", someone["id"]
    )
    assert audited is not None
    before = await snapshot(database_url)
    assert all(before[f"ids {name}"] for name in IDS), {name: len(before[f"ids {name}"]) for name in IDS}

    file = tmp_path / "aftercare.dump"
    backed_up = aftercare("db", "backup", str(file), "--database-url", with_password(database_url, PASSWORD))
    assert backed_up.returncode == 0, backed_up.stderr
    assert PASSWORD not in backed_up.stdout + backed_up.stderr and "***" in backed_up.stdout
    assert "Dumping to" in backed_up.stdout
    summary = backed_up.stdout.strip().splitlines()[-1]
    assert (
        summary.startswith(f"Backup written: {file}, ")
        and f"{sum(key.startswith('table ') for key in before)} tables" in summary
    )
    assert stat.S_IMODE(file.stat().st_mode) == 0o600  # it holds health data
    assert file.read_bytes().startswith(b"PGDMP")  # pg_dump's custom format

    # Never over an existing backup, unless forced.
    written = file.read_bytes()
    again = aftercare("db", "backup", str(file), "--database-url", database_url)
    assert again.returncode == 2 and "--force" in again.stderr and "Reading" not in again.stdout
    assert file.read_bytes() == written

    restored = aftercare("db", "restore", str(file), "--database-url", with_password(empty_db, PASSWORD))
    assert restored.returncode == 0, restored.stderr
    assert PASSWORD not in restored.stdout + restored.stderr
    latest = migrate.load_migrations()[-1].version
    assert f"Migration version: {latest}" in restored.stdout
    assert restored.stdout.strip().splitlines()[-1].startswith(f"Restored {file} ")
    assert await snapshot(empty_db) == before  # every table, row for row; the named ids; the sequences

    # The API serves the restored database: a token minted before the backup still works (its
    # session came back too), the demo counselor signs in, and the audit row is there.
    async with AsyncTestClient(app=create_app(make_settings(empty_db))) as served:
        same = await served.get(f"/v1/staff/participants/{someone['id']}", headers=headers)
        assert same.status_code == 200, same.text
        assert same.json()["alias"] == someone["alias"]
        admin = await served.post("/v1/auth/login", json=helpers.login_body(ADMIN_EMAIL, logins.password))
        assert admin.status_code == 201, admin.text
        audit = await served.get(
            "/v1/staff/audit",
            params={"action": "participant.read", "participant_id": someone["id"]},
            headers=helpers.bearer(admin.json()),
        )
        assert audit.status_code == 200, audit.text
        assert audited in [entry["id"] for entry in audit.json()["items"]]

    # A database that is not empty is refused, and left as it was.
    now = await snapshot(empty_db)
    refused = aftercare("db", "restore", str(file), "--database-url", empty_db)
    assert refused.returncode == 2, refused.stderr
    assert "not empty" in refused.stderr and "--database-url" in refused.stderr
    assert await snapshot(empty_db) == now

    replaced = aftercare("db", "backup", str(file), "--force", "--database-url", database_url)
    assert replaced.returncode == 0, replaced.stderr
    assert file.read_bytes().startswith(b"PGDMP") and not list(tmp_path.glob(".*partial"))


async def test_the_migrations_table_alone_makes_a_database_not_empty(empty_db, tmp_path):
    conn = await asyncpg.connect(empty_db)
    try:
        await conn.execute("create schema bookkeeping; create table bookkeeping.schema_migrations (version text)")
    finally:
        await conn.close()
    file = tmp_path / "any.dump"
    file.write_bytes(b"PGDMP")
    refused = aftercare("db", "restore", str(file), "--database-url", empty_db)
    assert refused.returncode == 2 and "schema_migrations" in refused.stderr


def fake_tool(folder: Path, name: str, version: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"#!/bin/sh\necho '{name} (PostgreSQL) {version}'\n")
    path.chmod(0o755)
    return path


def test_the_first_tool_at_least_as_new_as_the_server_is_used(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    fake_tool(old, "pg_dump", "13.4")
    fake_tool(new, "pg_dump", "16.1 (Debian 16.1-1)")
    search = os.pathsep.join([str(old), str(new)])
    assert find_tool("pg_dump", 13, embedded=False, search_path=search, extra_dirs=[]).path == old / "pg_dump"
    chosen = find_tool("pg_dump", 15, embedded=False, search_path=search, extra_dirs=[])
    assert (chosen.path, chosen.major, chosen.version) == (new / "pg_dump", 16, "16.1")
    with pytest.raises(BackupError) as too_old:
        find_tool("pg_dump", 17, embedded=False, search_path=search, extra_dirs=[])
    assert "16.1" in str(too_old.value) and "postgresql-client-17" in str(too_old.value)
    with pytest.raises(BackupError) as missing:
        find_tool("pg_restore", 15, embedded=False, search_path=search, extra_dirs=[])
    assert "not found" in str(missing.value) and "postgresql-client-15" in str(missing.value)
    embedded = find_tool("pg_restore", 99, embedded=True)  # the embedded server's own, whatever PATH holds
    assert embedded.path == embedded_tool_dir() / "pg_restore"


def test_passwords_stay_out_of_urls_shown_and_command_lines():
    url = "postgresql://app:p%40ss@db.internal:5432/aftercare?sslmode=require"
    assert mask_url(url) == "postgresql://app:***@db.internal:5432/aftercare?sslmode=require"
    target = Target.parse(url)
    assert target.url == "postgresql://app@db.internal:5432/aftercare?sslmode=require"
    assert target.password == "p@ss" and target.env()["PGPASSWORD"] == "p@ss"
    in_query = Target.parse("postgresql://app@h/db?password=pw&sslmode=disable")
    assert (in_query.url, in_query.password) == ("postgresql://app@h/db?sslmode=disable", "pw")
    assert "pw" not in mask_url("postgresql://app@h/db?password=pw")
    embedded = "postgresql://postgres:@/postgres?host=/tmp/pg"
    assert mask_url(embedded) == embedded and Target.parse(embedded).password is None
