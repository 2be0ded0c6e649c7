"""The `aftercare` command, run as a person would run it (a subprocess)."""

import os
import re
import subprocess
import sys

import asyncpg
import pytest

from tests.clock import ONCE
from tests.config import create_database, drop_database


def aftercare(*args, env=None, input=None):
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args], capture_output=True, text=True, env=env, input=input, timeout=120
    )


@pytest.fixture
async def fresh_db(server_url):
    url = await create_database(server_url)
    yield url
    await drop_database(server_url, url)


def test_help_explains_every_command():
    result = aftercare("--help")
    assert result.returncode == 0
    for command in ("up", "serve", "db", "create-admin"):
        assert command in result.stdout
    assert "upgrade" in aftercare("db", "--help").stdout
    assert aftercare("--version").stdout.strip().endswith("0.1.0")
    assert aftercare("serve", "--workers", "0").returncode == 2  # click's usage error


def test_upgrade_status_and_create_admin(fresh_db):
    env = os.environ | {"DATABASE_URL": fresh_db}
    status = aftercare("db", "status", env=env)
    assert status.returncode == 1 and "pending" in status.stdout

    upgraded = aftercare("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    from db.migrate import load_migrations

    assert f"applied {len(load_migrations())}" in upgraded.stdout
    assert "up to date" in aftercare("db", "upgrade", env=env).stdout
    assert aftercare("db", "status", env=env).returncode == 0

    created = aftercare("create-admin", "--email", "boss@example.org", "--password", "a very long password", env=env)
    assert created.returncode == 0, created.stderr
    assert "Created admin boss@example.org" in created.stdout
    assert "set up two-factor sign-in" in created.stdout  # AFTERCARE_REQUIRE_MFA's default
    again = aftercare("create-admin", "--email", "BOSS@example.org", "--password", "a very long password", env=env)
    assert again.returncode == 1 and "already exists" in again.stderr
    short = aftercare("create-admin", "--email", "x@example.org", "--password", "short", env=env)
    assert short.returncode == 2 and short.stderr.startswith("error: password:")
    blank = aftercare(
        "create-admin", "--email", "y@example.org", "--password", "a very long password", "--name", " ", env=env
    )
    assert blank.returncode == 2 and "name: must not be blank" in blank.stderr and "Traceback" not in blank.stderr


def test_create_admin_before_upgrade_says_what_to_do(fresh_db):
    env = os.environ | {"DATABASE_URL": fresh_db}
    result = aftercare("create-admin", "--email", "a@example.org", "--password", "a very long password", env=env)
    assert result.returncode == 1 and "aftercare db upgrade" in result.stderr


def test_serve_refuses_to_start_without_a_secret(fresh_db):
    env = {k: v for k, v in os.environ.items() if k != "AFTERCARE_SECRET_KEY"} | {"DATABASE_URL": fresh_db}
    result = aftercare("serve", env=env)
    assert result.returncode == 1 and "AFTERCARE_SECRET_KEY" in result.stderr


def test_unreachable_database_is_a_clear_error():
    env = os.environ | {"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none"}
    result = aftercare("db", "upgrade", env=env)
    assert result.returncode == 1 and "cannot reach the database" in result.stderr


@pytest.mark.parametrize(
    "url, says",
    [
        ("postgresql://u:secret@host:notaport/db", "port that is not a number"),
        ("localhost:5432/aftercare", "must start with postgresql://"),
        ("mysql://u@host/db", "must start with postgresql://"),
    ],
)
@pytest.mark.parametrize("command", [["db", "upgrade"], ["worker", "--once"], ["serve"]])
def test_a_malformed_database_url_is_a_clear_error(url, says, command):
    env = os.environ | {"DATABASE_URL": url, "AFTERCARE_SECRET_KEY": "k" * 40}
    result = aftercare(*command, env=env)
    assert result.returncode == 1, result.stderr
    assert says in result.stderr and "Traceback" not in result.stderr and "secret" not in result.stderr


@pytest.mark.skipif(
    not os.path.exists("/proc/self/mem"), reason="needs Linux's /proc/self/mem: a file no read succeeds on"
)
def test_an_unreadable_credentials_file_is_not_called_a_database_error():
    env = os.environ | {"AFTERCARE_FCM_CREDENTIALS": "/proc/self/mem"}
    result = aftercare("worker", "--once", env=env)
    assert result.returncode == 1, result.stderr
    assert "AFTERCARE_FCM_CREDENTIALS: cannot read /proc/self/mem" in result.stderr
    assert "database" not in result.stderr


def test_listing_plan_check_runs(server_url):
    env = os.environ | {"DATABASE_URL": server_url}
    result = subprocess.run(
        [sys.executable, "-m", "bench.explain_listing", "--groups", "500"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode in (0, 1), result.stderr  # 1: a plan read the whole (small) table
    assert "seeded 500 groups" in result.stdout and "6 listing queries explained" in result.stdout


def test_sweep_job_from_the_command_line(fresh_db):
    env = os.environ | {"DATABASE_URL": fresh_db}
    assert aftercare("db", "upgrade", env=env).returncode == 0
    first = aftercare("jobs", "sweep-missed", env=env)
    assert first.returncode == 0, first.stderr
    assert "0 missed check-ins recorded" in first.stdout and first.stdout.startswith("Sweep done in")
    assert aftercare("jobs", "sweep-missed", "--lookback-days", "0", env=env).returncode == 2
    assert aftercare("jobs", "sweep-missed", "--lookback-days", "32", env=env).returncode == 2  # 31 days kept


async def test_rebuild_engagement_from_the_command_line(fresh_db):
    env = os.environ | {"DATABASE_URL": fresh_db}
    assert aftercare("db", "upgrade", env=env).returncode == 0
    conn = await asyncpg.connect(fresh_db)
    try:
        person = await conn.fetchval(
            "insert into people (roles, name, timezone) values (array['participant'], 'G', 'America/Chicago')"
            " returning id"
        )
        await conn.execute(
            "insert into participant_profiles (person_id, iop_completed_on, activated_at)"
            " values ($1, current_date - 40, now() - interval '20 days')",
            person,
        )
        # The state as a bad hand (or a restored backup) left it: rebuilt from history.
        await conn.execute("update engagement set consecutive_misses = 99, overdue = true, fresh_until = 'infinity'")
        result = aftercare("jobs", "rebuild-engagement", "--batch", "100", env=env)
        assert result.returncode == 0, result.stderr
        assert "1/1 graduates" in result.stderr and result.stdout.startswith("Engagement rebuilt in")
        assert "1 active graduates" in result.stdout
        row = await conn.fetchrow(
            "select consecutive_misses, fresh_until < 'infinity' as holds_for_a_while from engagement"
            " where person_id = $1",
            person,
        )
        assert row["consecutive_misses"] < 99 and row["holds_for_a_while"]
    finally:
        await conn.close()
    help_text = aftercare("jobs", "rebuild-engagement", "--help").stdout
    assert "from their history" in help_text and "--batch" in help_text


def test_up_refuses_one_port_for_two_servers():
    result = aftercare("up", "--port", "8123", "--dashboard-port", "8123")
    assert result.returncode == 2 and "choose another" in result.stderr


@pytest.mark.clock_instants(*ONCE)  # the demo's history is dated back from today
def test_up_loads_the_demo_once_and_prints_its_sign_ins(fresh_db, tmp_path, monkeypatch, capsys):
    from api import cli

    env = os.environ | {"DATABASE_URL": fresh_db}
    assert aftercare("db", "upgrade", env=env).returncode == 0
    monkeypatch.setenv("AFTERCARE_DATA_DIR", str(tmp_path))
    cli._load_demo(fresh_db)
    first = capsys.readouterr().out
    password = (tmp_path / "demo-password.txt").read_text().strip()
    assert "loaded in" in first and "check-ins" in first and password in first
    for email in ("admin@aftercare.example", "counselor@aftercare.example", "facilitator@aftercare.example"):
        assert email in first
    codes = re.findall(r"^  (\w+) +(\w{4}-\w{4}-\w{2})$", first, re.M)
    assert [alias for alias, _ in codes] == ["Pebble", "Quartz", "Thistle", "Yarrow"]

    cli._load_demo(fresh_db)  # the next start: nothing loaded again, fresh codes
    again = capsys.readouterr().out
    assert "already loaded" in again and "loaded in" not in again and password in again
    fresh = re.findall(r"^  (\w+) +(\w{4}-\w{4}-\w{2})$", again, re.M)
    assert [alias for alias, _ in fresh] == [alias for alias, _ in codes]
    assert not {code for _, code in fresh} & {code for _, code in codes}
