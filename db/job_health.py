"""How the background jobs are doing: each run's outcome, and whom a job skipped. Kept in
PostgreSQL so that every worker writes, and every API process reads, one picture."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import NamedTuple
from uuid import UUID

import asyncpg


class Skip(NamedTuple):
    """Someone (a graduate) or something (a group) a job left out, and why."""

    person_id: UUID | None
    group_id: UUID | None
    reason: str


async def record_success(conn: asyncpg.Connection, job: str, started_at: dt.datetime, duration_s: float) -> None:
    await conn.execute(
        """
        insert into job_runs (job, last_started_at, last_success_at, last_duration_ms, runs)
        values ($1, $2::timestamptz, $2::timestamptz + make_interval(secs => $3::float8), ($3::float8 * 1000)::int, 1)
        on conflict (job) do update
            set last_started_at = excluded.last_started_at, last_success_at = excluded.last_success_at,
                last_duration_ms = excluded.last_duration_ms, runs = job_runs.runs + 1
        """,
        job,
        started_at,
        duration_s,
    )


async def record_failure(
    conn: asyncpg.Connection, job: str, started_at: dt.datetime, duration_s: float, error: str
) -> None:
    """`error` is the error's type: its message could hold personal data."""
    await conn.execute(
        """
        insert into job_runs (job, last_started_at, last_failure_at, last_error, last_duration_ms, runs, failures)
        values ($1, $2::timestamptz, $2::timestamptz + make_interval(secs => $3::float8), $4,
                ($3::float8 * 1000)::int, 1, 1)
        on conflict (job) do update
            set last_started_at = excluded.last_started_at, last_failure_at = excluded.last_failure_at,
                last_error = excluded.last_error, last_duration_ms = excluded.last_duration_ms,
                runs = job_runs.runs + 1, failures = job_runs.failures + 1
        """,
        job,
        started_at,
        duration_s,
        error,
    )


async def record_skips(
    conn: asyncpg.Connection, job: str, skips: Sequence[Skip], now: dt.datetime, *, complete: bool
) -> list[Skip]:
    """Record whom this run skipped; returns those not recorded before (the worker logs only
    them: a skip is reported once, not every minute). `complete`: the run looked at everyone,
    so whoever it did not skip is fine again and their record goes. Otherwise (a batch) the
    records stay until `clear_skips` finds them fine."""
    rows = await conn.fetch(
        """
        with skipped as (
            select * from unnest($2::uuid[], $3::uuid[], $4::text[]) as s(person_id, group_id, reason)
        ), cleared as (
            delete from job_skips j
            where $6 and j.job = $1 and not exists (
                select from skipped s where s.person_id is not distinct from j.person_id
                                        and s.group_id is not distinct from j.group_id)
        )
        insert into job_skips (job, person_id, group_id, reason, since)
        select $1, person_id, group_id, reason, $5 from skipped
        on conflict (job, person_id, group_id) do update set reason = excluded.reason
        returning person_id, group_id, reason, (xmax = 0) as new
        """,
        job,
        [s.person_id for s in skips],
        [s.group_id for s in skips],
        [s.reason for s in skips],
        now,
        complete,
    )
    return [Skip(r["person_id"], r["group_id"], r["reason"]) for r in rows if r["new"]]


async def skipped_subjects(conn: asyncpg.Connection, job: str) -> list[asyncpg.Record]:
    """This job's skip records with the subject's zone as it is now: (person_id, group_id, timezone)."""
    return await conn.fetch(
        """
        select j.person_id, j.group_id, coalesce(p.timezone, g.timezone) as timezone
        from job_skips j
        left join people p on p.id = j.person_id
        left join groups g on g.id = j.group_id
        where j.job = $1
        """,
        job,
    )


async def clear_skips(conn: asyncpg.Connection, job: str, fine: Sequence[Skip]) -> None:
    """Forget these skip records of a job: their subjects are fine again."""
    if fine:
        await conn.execute(
            """
            delete from job_skips j
            using unnest($2::uuid[], $3::uuid[]) as f(person_id, group_id)
            where j.job = $1 and f.person_id is not distinct from j.person_id
              and f.group_id is not distinct from j.group_id
            """,
            job,
            [s.person_id for s in fine],
            [s.group_id for s in fine],
        )


async def job_status(conn: asyncpg.Connection) -> tuple[list[asyncpg.Record], list[asyncpg.Record]]:
    """Every job's last outcome, and every skip record with the subject's name (a graduate's
    alias, a group's name)."""
    runs = await conn.fetch("select * from job_runs order by job")
    skips = await conn.fetch(
        """
        select j.job, j.person_id, j.group_id, j.reason, j.since,
               case when j.person_id is not null then 'participant' else 'group' end as kind,
               coalesce(p.name, g.name) as name
        from job_skips j
        left join people p on p.id = j.person_id
        left join groups g on g.id = j.group_id
        order by j.job, j.since, coalesce(j.person_id, j.group_id)
        """
    )
    return runs, skips
