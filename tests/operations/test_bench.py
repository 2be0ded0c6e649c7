"""The benchmark's own parts: that what it measures is what it says (timings live in bench/,
never here)."""

from __future__ import annotations

import datetime as dt
import shutil
from uuid import UUID, uuid4

import asyncpg
import pytest

from bench import live, load, statements
from bench.http import CHECKIN, STAFF, Bench, checkin_script, counselor_second_factor, parser
from bench.scratch import scratch_database
from bench.seed import seed_program
from db import migrate
from tests.config import make_settings

PERSON, SESSION = uuid4(), uuid4()


def test_script_uses_variables_for_the_callers_values_and_literals_for_the_rest():
    client_time = dt.datetime(2026, 11, 27, 19, 5, tzinfo=dt.UTC)
    logged = [
        ("select pg_advisory_unlock_all(); CLOSE ALL;", ()),  # the driver's, left out
        # asyncpg's own, written over several lines: also left out
        ("\n    SELECT\n        current_setting('jit') AS cur,\n        set_config('jit', 'off', false) AS new\n", ()),
        ("\n    SELECT\n        set_config('jit', $1, false)\n", ("on",)),
        ("select 1 from people where id = $1 and since > $2", (PERSON, client_time)),
        (
            "insert into t (a, b, c, d, e) values ($1, $2, $3, $4, $5) returning id",
            (None, True, 4, dt.date(2026, 11, 27), ["x", "y"]),
        ),
        ("update t set reasons = $2 where id = $1", (SESSION, [{"code": "it's"}])),
        ("select to_char(starts, 'HH24:MI') from s where starts >= $1", (dt.time(17, 0),)),
    ]
    script = statements.pgbench_script(
        logged, {PERSON: "pid", client_time: "ct", SESSION: "ins_id"}, 500, {"insert into t": "ins_"}
    )
    lines = script.splitlines()
    assert lines[0] == "\\set n random(1, 500)"
    assert "pg_advisory_unlock_all" not in script and "jit" not in script
    assert "select 1 from people where id = :pid and since > :ct;" in lines
    assert (
        "insert into t (a, b, c, d, e) values (null, true, 4, '2026-11-27', '{\"x\",\"y\"}') returning id \\gset ins_"
        in lines
    )
    assert "update t set reasons = '[{\"code\": \"it''s\"}]' where id = :ins_id;" in lines
    # pgbench would read ':MI' and ':00' as variables, even inside quotes.
    assert "select to_char(starts, 'HH24:' || 'MI') from s where starts >= '17:' || '00:' || '00';" in lines


async def test_the_checkin_statements_run_under_pgbench(server_url):
    """Seed a small program, capture what POST /v1/checkins runs, and run it in pgbench:
    every transaction succeeds and each stores a check-in."""
    pgbench = shutil.which("pgbench")
    if pgbench is None:
        pytest.skip("pgbench is not installed")
    async with scratch_database(server_url) as url:
        conn = await asyncpg.connect(url)
        try:
            await migrate.upgrade(conn)
            program = await seed_program(conn, 30, 20, lambda _: None)
            assert await conn.fetchval("select count(*) from bench_logins") == 30
            assert await conn.fetchval("select count(*) from group_members") > 0
            script = await checkin_script(conn, make_settings(url), program.graduates)
            assert ":pid" in script and ":cid" in script and "checkin_submit(" in script
            before = await conn.fetchval("select count(*) from checkins")
            result = load.pgbench(pgbench, url, [script], connections=2, seconds=1, threads=1)
            assert result.errors == 0 and result.requests > 0
            # Each transaction stored one check-in (plus the one captured from the API).
            assert await conn.fetchval("select count(*) from checkins") == before + result.requests
        finally:
            await conn.close()


async def test_wrk_sends_fresh_checkins_the_api_accepts(api_url, graduate, conn):
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (apt-get install wrk)")
    token = graduate.headers["Authorization"].removeprefix("Bearer ")
    result = load.wrk(api_url, [CHECKIN], [token], connections=2, seconds=1, threads=1)
    assert result.requests > 0 and result.errors == 0, result.detail
    stored = await conn.fetchval("select count(*) from checkins where person_id = $1", UUID(graduate.id))
    # A new client id every time: none is a repeat. (wrk leaves out what was in flight at the end.)
    assert result.requests <= stored <= result.requests + 2


async def test_the_counselor_is_let_into_the_staff_scenarios(server_url):
    """Scenarios d and f sign in as the seeded counselor with the deployment's settings (staff
    must use two-factor sign-in): every staff path answers 200, not a 403 counted as errors."""
    async with scratch_database(server_url) as url:
        conn = await asyncpg.connect(url)
        try:
            await migrate.upgrade(conn)
            program = await seed_program(conn, 30, 20, lambda _: None)
            await counselor_second_factor(conn, program)
            bench = Bench(parser().parse_args([]), url, program)
            headers = {"Authorization": f"Bearer {bench.token(program.counselor_id, program.counselor_session_id)}"}

            async def send(client):
                return {path: (await client.get(path, headers=headers)).status_code for _, path in STAFF}

            _, statuses = await statements.capture(bench.settings, send)
            assert [letter for letter, _ in STAFF] == ["d", "f"]
            assert statuses == {"/v1/staff/watchlist": 200, "/v1/staff/metrics": 200}
        finally:
            await conn.close()


async def test_every_post_reaches_every_members_live_socket_on_both_processes(server_url):
    """The live benchmark at its smallest: two groups of six, each split across two API
    processes, 20 posts a second for 2 s. Each post is stored (201) and reaches each of its
    group's sockets exactly once, checked by id; none reaches another group's."""
    result = await live.run(server_url, True, groups=2, per_group=6, rate=20, seconds=2)
    assert result["not_201"] == {} and result["posts"] == 40
    assert result["lost"] == 0 and result["duplicates"] == 0 and result["closed_early"] == 0
    assert result["deliveries"] == result["expected"] == 40 * 6
    assert result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]


@pytest.mark.parametrize("transport", ["aiohttp", "firebase-admin"])
async def test_the_dispatch_bench_delivers_its_backlog_once_and_counts_it(server_url, transport):
    """`python -m bench.dispatch` end to end, small: worker process, its two lanes, the fake in
    a process of its own over TLS, and the exactly-once bookkeeping its exit code rests on."""
    from bench import dispatch

    result = await dispatch.run(server_url, 300, 50, 0, transport=transport)
    assert (result["messages"], result["sent"], result["delivered"], result["recorded"]) == (300, 300, 300, 300)
    assert (result["doubled"], result["not_200"], result["token_requests"]) == (0, 0, 1)
    assert result["protocol"] == ("h2+tls" if transport == "firebase-admin" else "http/1.1+tls")
