"""Turning two-factor sign-in on and off for one's own account (`/v1/me/mfa`)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

import asyncpg

from api.audit import audit
from api.auth import tokens
from api.client_address import client_address
from api.deps import Runtime, Transactions
from api.discussions import events
from api.mfa import totp
from api.mfa.codes import Verdict, check, wrong_code_detail
from api.mfa.schemas import RecoveryCodes, TotpEnrolment, TwoFactorRemoval, TwoFactorStatus
from api.mfa.second_factor import locked
from api.problems import problem
from api.security import SignedInRequest, must_enrol_mfa
from db import auth as auth_db
from db import mfa as mfa_db
from db import people as people_db

_ALREADY_ON = "Two-factor sign-in is already on. To set it up on a new phone, turn it off first."


async def _password_holder(conn: asyncpg.Connection, person_id: UUID) -> asyncpg.Record:
    """The caller's account with its password hash; graduates (no password) get a 403."""
    holder = await people_db.get_password_holder(conn, person_id)
    if holder is None or holder["password_hash"] is None:
        raise problem(403, "no_password", "Two-factor sign-in is for accounts that sign in with a password.")
    return holder


async def status(request: SignedInRequest, transactions: Transactions, runtime: Runtime) -> TwoFactorStatus:
    me = request.user
    async with transactions.transaction() as conn:
        row = await mfa_db.status(conn, me.id)
    on = row["enabled_at"] is not None
    return TwoFactorStatus(
        enabled=on,
        required=not runtime.settings.require_mfa.isdisjoint(me.roles),
        enabled_at=row["enabled_at"],
        recovery_codes_left=row["recovery_codes_left"],
    )


async def start(request: SignedInRequest, transactions: Transactions, runtime: Runtime) -> TotpEnrolment:
    """A new secret, awaiting its first code; a secret started before and never confirmed
    is replaced (a QR code scanned into a phone since lost, say)."""
    me, secret = request.user, totp.new_secret()
    async with transactions.transaction() as conn:
        holder = await _password_holder(conn, me.id)
        stored = totp.encrypt_secret(runtime.settings.secret_key, secret, me.id.bytes)
        if not await mfa_db.start_totp(conn, me.id, stored):
            raise problem(409, "mfa_already_on", _ALREADY_ON)
        await audit(conn, request, "account.mfa_enrolment_started", None, {"account_id": str(me.id)})
    return TotpEnrolment(secret=secret, otpauth_uri=totp.otpauth_uri(secret, holder["email"]))


async def confirm(request: SignedInRequest, transactions: Transactions, runtime: Runtime, code: str) -> RecoveryCodes:
    """The first code from the app proves it holds the secret: two-factor is on, every other
    session ends (one begun with a stolen password must not outlast the new lock), and the
    recovery codes are shown this once."""
    me, recovery_codes = request.user, totp.new_recovery_codes()
    async with transactions.transaction() as conn:
        await _password_holder(conn, me.id)
        await mfa_db.lock_person(conn, me.id)
        row = await mfa_db.lock_totp(conn, me.id)
        if row is None:
            raise problem(409, "no_enrolment_started", "Start setting up first: POST /v1/me/mfa/totp.")
        if row["confirmed_at"] is not None:
            raise problem(409, "mfa_already_on", _ALREADY_ON)
        verdict = await check(conn, runtime.settings.secret_key, me.id, code, enrolling=True)
        if verdict is not Verdict.TOTP:
            raise problem(400, "wrong_code", f"code: {wrong_code_detail(verdict)}")
        hashes = [totp.recovery_code_hash(c) for c in recovery_codes]
        await mfa_db.confirm_totp(conn, me.id, hashes)  # type: ignore[arg-type]  # all well-formed
        ended = await auth_db.revoke_sessions(conn, me.id, "two-factor turned on", keep=me.session_id)
        await audit(conn, request, "account.mfa_enrolled", None, {"account_id": str(me.id), "sessions_ended": ended})
    events.access_changed(request.app, me.id)  # the other sessions' live sockets close too
    return RecoveryCodes(recovery_codes=recovery_codes)


async def remove(
    request: SignedInRequest, transactions: Transactions, runtime: Runtime, data: TwoFactorRemoval
) -> None:
    """Both factors are asked for: a session left open on a shared computer is not enough
    to take the second factor off. A refusal is audited and counted toward the sign-in lock
    as a wrong password at sign-in is (from this address), and a locked account is refused
    before anything is checked: whoever holds a session and the password gets no more
    guesses at the code here than at sign-in. A right one ends nothing else."""
    me, settings = request.user, runtime.settings
    address = client_address(request) or "unknown"
    async with transactions.transaction() as conn:
        holder = await _password_holder(conn, me.id)
    right_password = await runtime.hasher.verify(holder["password_hash"], data.password)  # no connection held
    refusal = None
    async with transactions.transaction() as conn:
        # The person first, as a sign-in's second step locks it.
        account = await people_db.lock_account(conn, me.id, address)
        if account is not None and _locked_now(account):
            raise locked(runtime)
        if not await mfa_db.is_on(conn, me.id):
            raise problem(409, "mfa_off", "Two-factor sign-in is not on.")
        # The code is checked (and spent) only with the right password: a wrong password
        # does not get to learn whether a code was right.
        verdict = await check(conn, settings.secret_key, me.id, data.code) if right_password else None
        if verdict is None:
            refusal = problem(403, "wrong_password", "password: that is not your password.")
        elif verdict in (Verdict.WRONG, Verdict.REPLAYED):
            refusal = problem(403, "wrong_code", f"code: {wrong_code_detail(verdict)}")
        if refusal is not None:
            why = "wrong_password" if verdict is None else verdict.value
            await audit(conn, request, "account.mfa_removal_refused", None, {"account_id": str(me.id), "why": why})
            await people_db.record_login_failure(
                conn,
                me.id,
                address,
                max_failures=settings.login_max_failures,
                account_max_failures=settings.login_account_max_failures,
                lock_for=dt.timedelta(minutes=settings.login_lock_minutes),
            )
            if _locked_now(await people_db.lock_account(conn, me.id, address) or {}):
                refusal = locked(runtime)
        else:
            await mfa_db.remove(conn, me.id)
            required = must_enrol_mfa(settings.require_mfa, me.roles, mfa_on=False)
            details = {"account_id": str(me.id), "now_required": required}
            await audit(conn, request, "account.mfa_removed", None, details)
    # Raised once the transaction is over: the counted failure and the audit row stay.
    if refusal is not None:
        raise refusal


def _locked_now(account: dict[str, Any]) -> bool:
    until = account.get("locked_until")
    return until is not None and until > tokens.now()
