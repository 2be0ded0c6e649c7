from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

TypedCode = Annotated[str, msgspec.Meta(min_length=1, max_length=64, description="123456, or a recovery code")]


class TwoFactorStatus(msgspec.Struct):
    enabled: bool
    """Whether sign-in asks for a code from the authenticator app."""
    required: bool
    """Whether your role must use it (then nothing but enrolment works until it is on)."""
    enabled_at: dt.datetime | None
    recovery_codes_left: int


class TotpEnrolment(msgspec.Struct):
    """Shown once, to put into an authenticator app: scan `otpauth_uri` as a QR code, or type
    `secret`. Then confirm with the first code the app shows."""

    secret: str
    otpauth_uri: str


class TotpConfirm(msgspec.Struct, forbid_unknown_fields=True):
    code: TypedCode


class RecoveryCodes(msgspec.Struct):
    """Ten single-use codes for when the phone is lost. Shown this once: only hashes are kept."""

    recovery_codes: list[str]


class TwoFactorRemoval(msgspec.Struct, forbid_unknown_fields=True):
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
    code: TypedCode
