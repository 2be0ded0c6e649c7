from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from uuid import UUID

import asyncpg
import msgspec

from api.validation import Email, Name, Timezone, check_timezone

AccountRole = Literal["staff", "admin", "facilitator"]


class AccountCreate(msgspec.Struct, forbid_unknown_fields=True):
    """No password: the account's owner chooses it with the set-up code the answer carries."""

    email: Email
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
    mfa_enabled: bool
    """Whether the account signs in with a second factor (an authenticator app)."""


class SetupCode(msgspec.Struct):
    """A one-time code for the account's owner to choose their password at /v1/auth/setup.
    Shown this once: only its hash is stored."""

    account: Account
    setup_code: str
    setup_code_expires_at: dt.datetime


class AuditParticipant(msgspec.Struct):
    id: UUID
    alias: str | None
    """Null once the graduate's account is deleted (the log keeps their id only)."""


class AuditEntry(msgspec.Struct):
    id: int
    at: dt.datetime
    actor_id: UUID
    actor_name: str | None
    """Null once the account is deleted."""
    actor_roles: list[str]
    action: str
    participant_id: UUID | None
    """The one graduate the row is about; null for a row about several (a list read: see
    `participants`) or about none (an action on accounts)."""
    participants: list[AuditParticipant]
    """Every graduate the row is about, with their alias: the one of `participant_id`, or all
    that one read of a list showed (one row for the whole list)."""
    method: str
    path: str
    client_ip: str | None
    details: dict[str, Any]


def to_account(row: asyncpg.Record) -> Account:
    return msgspec.convert(dict(row), Account)


def to_audit_entry(row: asyncpg.Record) -> AuditEntry:
    return msgspec.convert(dict(row), AuditEntry)
