"""The second step of a password sign-in, for accounts with two-factor sign-in on.

A right password earns a challenge (256 random bits, only its hash stored, good for a few
minutes and a few wrong codes); the challenge and a right code earn the session. The
password's try stays counted toward the sign-in lock until the code is right too, and every
wrong code is counted as a wrong password is, from the address that gave the password: a
guesser who holds the password gets no more tries at the code than at the password.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

import asyncpg
from litestar.plugins.problem_details import ProblemDetailsException

from api.audit import audit
from api.auth import tokens
from api.auth.schemas import SecondFactorRequest, TokenPair
from api.deps import AnyRequest, Runtime, Transactions
from api.mfa.codes import Verdict, check, wrong_code_detail
from api.problems import problem
from db import mfa as mfa_db
from db import people as people_db

# Wrong codes one challenge allows before the password must be given again.
CHALLENGE_MAX_FAILURES = 5


def _hash(challenge: str) -> bytes:
    return hashlib.sha256(challenge.encode()).digest()


async def challenge(
    transactions: Transactions, runtime: Runtime, account: dict[str, Any], address: str, rehash: str | None
) -> ProblemDetailsException:
    """The answer to a right password of an account with two-factor on: 401 `mfa_required`
    carrying a new challenge (or 403 for a deactivated account). For the caller to raise."""
    if not account["is_active"]:
        return problem(403, "account_deactivated", "This account is no longer active.")
    ttl = runtime.settings.mfa_challenge_ttl_s
    token = secrets.token_urlsafe(32)
    async with transactions.transaction() as conn:
        await mfa_db.forget_old_challenges(conn)  # a statement of its own, as its docstring says
    async with transactions.transaction() as conn:
        await mfa_db.create_challenge(
            conn,
            person_id=account["id"],
            token_hash=_hash(token),
            client_address=address,
            password_hash=account["password_hash"],
            new_password_hash=rehash,
            expires_at=tokens.now() + dt.timedelta(seconds=ttl),
        )
    return problem(
        401,
        "mfa_required",
        "Now the code from your authenticator app: send it with this challenge to /v1/auth/mfa.",
        challenge=token,
        challenge_expires_in=ttl,
    )


def _expired(why: str = "This sign-in step has ended") -> ProblemDetailsException:
    return problem(401, "challenge_expired", f"{why}: sign in again with your password.")


def locked(runtime: Runtime) -> ProblemDetailsException:
    """423 while wrong passwords or codes lock the account for this address."""
    return problem(
        423,
        "account_locked",
        f"Too many wrong codes: this account is locked here for {runtime.settings.login_lock_minutes} minutes.",
    )


async def _refuse(
    conn: asyncpg.Connection,
    runtime: Runtime,
    request: AnyRequest,
    ch: asyncpg.Record,
    verdict: Verdict,
    now: dt.datetime,
) -> ProblemDetailsException:
    """A wrong (or replayed) code: counted toward the sign-in lock and against the
    challenge, and audited. The answer says whether that locked the account here."""
    settings, person = runtime.settings, ch["person_id"]
    await people_db.record_login_failure(
        conn,
        person,
        ch["client_address"],
        max_failures=settings.login_max_failures,
        account_max_failures=settings.login_account_max_failures,
        lock_for=dt.timedelta(minutes=settings.login_lock_minutes),
    )
    spent = await mfa_db.count_challenge_failure(conn, ch["id"], CHALLENGE_MAX_FAILURES)
    details = {"account_id": str(person), "why": verdict.value}
    await audit(conn, request, "account.mfa_failed", None, details, actor=(person, list(ch["roles"])))
    account = await people_db.lock_account(conn, person, ch["client_address"])
    # The challenge is locked in this transaction, and deleting the person deletes it.
    assert account is not None
    now_locked = account["locked_until"]
    if now_locked is not None and now_locked > now:
        return locked(runtime)
    if spent:
        return _expired("Too many wrong codes for this sign-in")
    return problem(401, "invalid_mfa_code", wrong_code_detail(verdict))


async def complete(
    transactions: Transactions, runtime: Runtime, request: AnyRequest, data: SecondFactorRequest
) -> TokenPair:
    """The challenge and a right code: a session, as a password alone gives without two-factor."""
    settings = runtime.settings
    outcome: TokenPair | ProblemDetailsException
    async with transactions.transaction() as conn:
        found = await mfa_db.find_challenge(conn, _hash(data.challenge))
        if found is None:
            raise _expired()
        # The person first, then the challenge: the order every account change locks them in.
        account = await people_db.lock_account(conn, found["person_id"], found["client_address"])
        ch = await mfa_db.lock_challenge(conn, found["id"])
        now = tokens.now()
        if account is None or ch is None or ch["used_at"] is not None or ch["expires_at"] <= now:
            outcome = _expired()
        elif ch["current_password_hash"] != ch["password_hash"]:
            outcome = _expired("The password changed meanwhile")
        elif not ch["is_active"]:
            outcome = problem(403, "account_deactivated", "This account is no longer active.")
        elif account["locked_until"] is not None and account["locked_until"] > now:
            outcome = locked(runtime)
        else:
            person = ch["person_id"]
            verdict = await check(conn, settings.secret_key, person, data.code)
            if verdict in (Verdict.WRONG, Verdict.REPLAYED):
                outcome = await _refuse(conn, runtime, request, ch, verdict, now)
            else:
                await mfa_db.use_challenge(conn, ch["id"])
                signed_in = await people_db.record_login_success(
                    conn,
                    person,
                    ch["client_address"],
                    ch["password_hash"],
                    ch["new_password_hash"],
                    account_max_failures=settings.login_account_max_failures,
                )
                if verdict is Verdict.RECOVERY:
                    left = (await mfa_db.status(conn, person))["recovery_codes_left"]
                    await audit(
                        conn,
                        request,
                        "account.mfa_recovery_code_used",
                        None,
                        {"account_id": str(person), "recovery_codes_left": left},
                        actor=(person, list(ch["roles"])),
                    )
                if signed_in is None:
                    outcome = _expired("The password changed meanwhile")
                else:
                    outcome = await tokens.start_session(conn, runtime, person, signed_in["roles"], "password")
    # Raised once the transaction is over: the counted failure and the audit row stay.
    if isinstance(outcome, ProblemDetailsException):
        raise outcome
    return outcome
