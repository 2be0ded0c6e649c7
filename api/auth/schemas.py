from __future__ import annotations

from typing import Annotated
from uuid import UUID

import msgspec

Email = Annotated[str, msgspec.Meta(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]


class ActivateRequest(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=32, description="e.g. K7QM-3XHP-W9")]
    firebase_id_token: Annotated[str, msgspec.Meta(max_length=8192)] | None = None
    """Links this Firebase user to the graduate, for later sign-in with /v1/auth/firebase."""


NewPassword = Annotated[
    str, msgspec.Meta(min_length=1, max_length=1024, description="At least 12 characters, hard to guess.")
]


class SetupRequest(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=32, description="e.g. K7QM-3XHP-W9")]
    password: NewPassword
    """The password the account's owner chooses (the rules of api/auth/passwords.py)."""


class PasswordChange(msgspec.Struct, forbid_unknown_fields=True):
    current_password: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
    new_password: NewPassword


class LoginRequest(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


class RefreshRequest(msgspec.Struct, forbid_unknown_fields=True):
    refresh_token: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class FirebaseRequest(msgspec.Struct, forbid_unknown_fields=True):
    id_token: Annotated[str, msgspec.Meta(min_length=1, max_length=8192)]


class SecondFactorRequest(msgspec.Struct, forbid_unknown_fields=True):
    challenge: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    """From the 401 `mfa_required` answer of /v1/auth/login."""
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=64, description="123456, or a recovery code")]


class TokenPair(msgspec.Struct):
    access_token: str
    refresh_token: str
    expires_in: int
    """Seconds until the access token expires; refresh before then."""
    person_id: UUID
    roles: list[str]
    mfa_enrolment_required: bool = False
    """True when this account's role must use two-factor sign-in and it has not set it up:
    until it does (/v1/me/mfa/totp), the session reaches only the enrolment routes and
    /v1/me/password; every other route answers 403 `mfa_enrolment_required`."""
    token_type: str = "Bearer"
