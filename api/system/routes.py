"""`GET /v1/staff/system-status`: whether the watch is keeping up. Each background job's last
success and failure, whether it is late, and whom it is skipping (their data cannot be
worked out): what the dashboard's red banner says in plain words."""

from __future__ import annotations

import datetime as dt

from litestar import Controller, get

from api.audit import audit
from api.deps import Conn, RuntimeDep
from api.security import ADMIN, SignedInRequest, staff_only
from api.system.schemas import JobStatus, Skipped, SystemStatus
from db import job_health

LATE_AFTER_INTERVALS = 3


def is_late(last_success_at: dt.datetime | None, interval_s: int, now: dt.datetime) -> bool:
    """Not succeeded within three of its intervals, or never."""
    return last_success_at is None or now - last_success_at > dt.timedelta(seconds=LATE_AFTER_INTERVALS * interval_s)


class SystemStatusController(Controller):
    path = "/v1/staff/system-status"
    guards = [staff_only]
    tags = ["staff: operations"]

    @get("/", summary="Is the watch keeping up?")
    async def status(self, request: SignedInRequest, conn: Conn, runtime: RuntimeDep) -> SystemStatus:
        """Every background job: its last success and failure (the error's type), how long its
        last run took, whether it is late, and whom it skips (a graduate or a group whose time
        zone cannot be worked with; fix it and the next run takes them in again). Graduates
        are named (by alias) to admins only, and that read is audited."""
        now = dt.datetime.now(dt.UTC)
        expected = runtime.settings.worker_expected
        # Admins fix what the jobs skip: they read whom by alias (audited); staff see how many.
        admin = request.user.has_any(ADMIN)
        async with conn.transaction():
            runs, skips = await job_health.job_status(conn)
            people = sorted({s["person_id"] for s in skips if s["person_id"] is not None}, key=str)
            if people and admin:
                await audit(conn, request, "system_status.read", people)
        by_job = {r["job"]: r for r in runs}
        jobs = []
        for name, interval in runtime.settings.job_intervals().items():
            run = by_job.get(name)
            last_success = run["last_success_at"] if run else None
            jobs.append(
                JobStatus(
                    name=name,  # type: ignore[arg-type]  # job_intervals() keys: the Literal's values
                    interval_s=interval,
                    last_success_at=last_success,
                    last_failure_at=run["last_failure_at"] if run else None,
                    last_error=run["last_error"] if run else None,
                    last_duration_s=run["last_duration_ms"] / 1000
                    if run and run["last_duration_ms"] is not None
                    else None,
                    late=expected and is_late(last_success, interval, now),
                    skipped=[
                        Skipped(
                            kind=s["kind"],
                            id=s["person_id"] or s["group_id"],
                            name=s["name"] if admin or s["kind"] == "group" else None,
                            reason=s["reason"],
                            since=s["since"],
                        )
                        for s in skips
                        if s["job"] == name
                    ],
                )
            )
        return SystemStatus(jobs=jobs, worker_expected=expected, checked_at=now)
