"""Checking a typed second factor against what is stored: the one place that decides
whether a code is good, for sign-in, enrolment and turning two-factor off."""

from __future__ import annotations

import logging
import time
from enum import Enum
from uuid import UUID

import asyncpg

from api.mfa import totp
from db import mfa as mfa_db

log = logging.getLogger("aftercare.mfa")


class Verdict(Enum):
    TOTP = "totp"  # the app's code, for a step not used before
    RECOVERY = "recovery"  # a recovery code, now spent
    WRONG = "wrong"
    REPLAYED = "replayed"  # a right code whose step was used already


async def check(
    conn: asyncpg.Connection, server_secret: str, person_id: UUID, typed: str, *, enrolling: bool = False
) -> Verdict:
    """Whether `typed` is a good second factor for the person now, spending it if so (the
    TOTP step, or the recovery code). Inside a transaction: the TOTP row is locked, so two
    uses of one code at once take turns and the second is a replay. `enrolling`: the code
    confirms a secret not yet on, and recovery codes do not count."""
    if totp.looks_like_totp(typed):
        row = await mfa_db.lock_totp(conn, person_id)
        if row is None or (row["confirmed_at"] is None) != enrolling:
            return Verdict.WRONG
        secret = totp.decrypt_secret(server_secret, row["secret_encrypted"], person_id.bytes)
        if secret is None:
            # No personal data: which account shows in the audit row of the failure.
            log.error(
                "a two-factor secret cannot be decrypted: was AFTERCARE_SECRET_KEY changed? "
                "Such accounts sign in with a recovery code, or an admin resets them"
            )
            return Verdict.WRONG
        step = totp.matching_step(secret, typed, time.time())
        if step is None:
            return Verdict.WRONG
        return Verdict.TOTP if await mfa_db.use_step(conn, person_id, step) else Verdict.REPLAYED
    code_hash = totp.recovery_code_hash(typed)
    if enrolling or code_hash is None:
        return Verdict.WRONG
    return Verdict.RECOVERY if await mfa_db.use_recovery_code(conn, person_id, code_hash) else Verdict.WRONG


def wrong_code_detail(verdict: Verdict) -> str:
    if verdict is Verdict.REPLAYED:
        return "That code has been used already: wait for the next one in your authenticator app."
    return (
        "That code is not right. Type the 6-digit code your authenticator app shows now (check the "
        "phone's clock is set automatically), or one of your recovery codes."
    )
