from __future__ import annotations

import datetime as dt
from uuid import UUID

import msgspec

from api.time_bounds import EARLIEST_IN_A_LIFE, check_date
from api.validation import Alias, Patch, Timezone, check_not_future, check_timezone


class Me(msgspec.Struct):
    id: UUID
    roles: list[str]
    alias: str
    timezone: str
    email: str | None
    """Sign-in email for staff and facilitators; contact email for graduates."""
    phone: str | None
    iop_completed_on: dt.date | None
    sobriety_date: dt.date | None
    days_sober: int | None
    """Whole days since the sobriety date, in the person's own time zone."""
    created_at: dt.datetime


class MeUpdate(Patch):
    alias: Alias | msgspec.UnsetType = msgspec.UNSET
    timezone: Timezone | msgspec.UnsetType = msgspec.UNSET
    sobriety_date: dt.date | None | msgspec.UnsetType = msgspec.UNSET

    def __post_init__(self) -> None:
        if self.timezone is not msgspec.UNSET:
            check_timezone(self.timezone)
        if self.sobriety_date not in (msgspec.UNSET, None):
            check_not_future(self.sobriety_date, "sobriety_date")
            check_date(self.sobriety_date, "sobriety_date", earliest=EARLIEST_IN_A_LIFE)


class Deleted(msgspec.Struct):
    deleted: dict[str, int]
    """Rows removed, by table."""
    care_record_kept: bool = False
    """Alerts were still open: the alias, the counselor, the time and those alerts' kinds and
    severities stay (nothing else) until staff acknowledge them, then 30 days more."""


class SignIn(msgspec.Struct):
    """A device where the person is signed in."""

    id: UUID
    method: str
    """How it began: activation, password or firebase."""
    created_at: dt.datetime
    last_used_at: dt.datetime
    current: bool
    """The session this request comes from."""
