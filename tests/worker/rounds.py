"""A round of the worker's jobs in which the sweep fails: shared by the job health tests
(tests/worker/test_job_health.py) and the worker's metrics (tests/worker/test_worker_metrics.py)."""

from __future__ import annotations

import asyncpg

from api.worker import Worker
from db.pool import create_pool
from notifications.sender import LogSender
from tests.config import make_settings


async def run_once_with_the_sweep_blocked(database_url: str) -> None:
    """One round of every job while another transaction holds the sweep's table: the sweep
    fails (its statement times out after 300 ms), the other jobs run."""
    holder = await asyncpg.connect(database_url)
    pool = await create_pool(database_url, max_size=2, statement_timeout_ms=300)
    try:
        async with holder.transaction():
            await holder.execute("lock table missed_checkins in access exclusive mode")
            await Worker(make_settings(database_url), pool, LogSender()).run_once()
    finally:
        await pool.close()
        await holder.close()
