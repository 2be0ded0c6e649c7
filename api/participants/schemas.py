from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal
from uuid import UUID

import asyncpg
import msgspec

from api.checkins.schemas import KeptAlert
from api.time_bounds import EARLIEST_IN_A_LIFE, check_date
from api.validation import (
    Alias,
    Email,
    Patch,
    Phone,
    Timezone,
    check_not_future,
    check_timezone,
)

ParticipantStatus = Literal["pending", "active", "deactivated"]


class EnrollRequest(msgspec.Struct, forbid_unknown_fields=True):
    alias: Alias
    timezone: Timezone
    iop_completed_on: dt.date
    email: Email | None = None
    phone: Phone | None = None
    counselor_id: UUID | None = None
    sobriety_date: dt.date | None = None

    def __post_init__(self) -> None:
        check_timezone(self.timezone)
        check_not_future(self.iop_completed_on, "iop_completed_on", slack_days=31)
        check_not_future(self.sobriety_date, "sobriety_date")
        check_date(self.iop_completed_on, "iop_completed_on")
        check_date(self.sobriety_date, "sobriety_date", earliest=EARLIEST_IN_A_LIFE)


class ParticipantUpdate(Patch):
    """Only the fields sent change; `null` clears an optional one."""

    alias: Alias | msgspec.UnsetType = msgspec.UNSET
    timezone: Timezone | msgspec.UnsetType = msgspec.UNSET
    iop_completed_on: dt.date | msgspec.UnsetType = msgspec.UNSET
    email: Email | None | msgspec.UnsetType = msgspec.UNSET
    phone: Phone | None | msgspec.UnsetType = msgspec.UNSET
    counselor_id: UUID | None | msgspec.UnsetType = msgspec.UNSET
    sobriety_date: dt.date | None | msgspec.UnsetType = msgspec.UNSET

    def __post_init__(self) -> None:
        if self.timezone is not msgspec.UNSET:
            check_timezone(self.timezone)
        if self.iop_completed_on is not msgspec.UNSET:
            check_not_future(self.iop_completed_on, "iop_completed_on", slack_days=31)
            check_date(self.iop_completed_on, "iop_completed_on")
        if self.sobriety_date not in (msgspec.UNSET, None):
            check_not_future(self.sobriety_date, "sobriety_date")
            check_date(self.sobriety_date, "sobriety_date", earliest=EARLIEST_IN_A_LIFE)


class Participant(msgspec.Struct):
    id: UUID
    alias: str
    timezone: str
    iop_completed_on: dt.date
    status: ParticipantStatus
    email: str | None
    phone: str | None
    counselor_id: UUID | None
    sobriety_date: dt.date | None
    activated_at: dt.datetime | None
    created_at: dt.datetime
    deactivated_at: dt.datetime | None


class EnrolledParticipant(Participant, kw_only=True):
    activation_code: str
    """Shown once: give it to the graduate. Only its hash is stored."""
    activation_expires_at: dt.datetime


class ActivationCode(msgspec.Struct):
    activation_code: str
    activation_expires_at: dt.datetime


def to_participant(row: asyncpg.Record) -> Participant:
    return msgspec.convert(dict(row), Participant)


class DeletionRequest(msgspec.Struct, forbid_unknown_fields=True):
    confirm_alias: Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
    """The graduate's alias, repeated: a check that this is the person meant."""


class DeletedParticipant(msgspec.Struct):
    """What is kept of a graduate who deleted their account while alerts were open."""

    person_id: UUID
    alias: str
    counselor_id: UUID | None
    deleted_at: dt.datetime
    alerts: list[KeptAlert]
    acknowledged_at: dt.datetime | None
    acknowledged_by: UUID | None
