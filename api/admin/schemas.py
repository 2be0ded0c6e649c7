from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

from api.validation import Email, Name, Timezone, check_timezone

AccountRole = Literal["staff", "admin", "facilitator"]
Password = Annotated[str, msgspec.Meta(min_length=12, max_length=1024, description="At least 12 characters.")]


class AccountCreate(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    password: Password
    name: Name
    roles: Annotated[list[AccountRole], msgspec.Meta(min_length=1, max_length=3)]
    timezone: Timezone = "UTC"

    def __post_init__(self) -> None:
        check_timezone(self.timezone)


class Account(msgspec.Struct):
    id: UUID
    email: str
    name: str
    roles: list[str]
    timezone: str
    is_active: bool
    locked_until: dt.datetime | None
    """Set while the account is locked after too many wrong passwords."""
    created_at: dt.datetime
    deactivated_at: dt.datetime | None


class AuditEntry(msgspec.Struct):
    id: int
    at: dt.datetime
    actor_id: UUID
    actor_roles: list[str]
    action: str
    participant_id: UUID | None
    method: str
    path: str
    client_ip: str | None
    details: dict[str, Any]


def to_account(row) -> Account:
    return msgspec.convert(dict(row), Account)


def to_audit_entry(row) -> AuditEntry:
    return msgspec.convert(dict(row), AuditEntry)
