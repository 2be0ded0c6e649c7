from __future__ import annotations

import datetime as dt
from typing import Literal
from uuid import UUID

import msgspec


class Skipped(msgspec.Struct):
    """Someone or something a job leaves out, and why."""

    kind: Literal["participant", "group"]
    id: UUID
    name: str | None
    """A group's name; a graduate's alias for admins (null for other staff)."""
    reason: str
    since: dt.datetime


class JobStatus(msgspec.Struct):
    name: Literal["reminders", "sweep", "help_now", "dispatch", "purge"]
    interval_s: int
    """How often the worker runs it."""
    last_success_at: dt.datetime | None
    last_failure_at: dt.datetime | None
    last_error: str | None
    """The last failure's error type (never its message)."""
    last_duration_s: float | None
    late: bool
    """No success within three of its intervals (or none at all), while a worker is expected."""
    skipped: list[Skipped]


class SystemStatus(msgspec.Struct):
    jobs: list[JobStatus]
    worker_expected: bool
    checked_at: dt.datetime
