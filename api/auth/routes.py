"""`/v1/auth/...`: turn a credential into a device session (access + refresh token)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from uuid import UUID

import asyncpg
from litestar import Controller, Router, post
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.params import JSONBody
from litestar.plugins.problem_details import ProblemDetailsException

from api.audit import audit
from api.auth import credentials, tokens
from api.auth.firebase import FirebaseTokenError, FirebaseUnavailable
from api.auth.passwords import check_strength
from api.auth.schemas import (
    ActivateRequest,
    FirebaseRequest,
    LoginRequest,
    RefreshRequest,
    SecondFactorRequest,
    SetupRequest,
    TokenPair,
)
from api.client_address import client_address, rate_limit_key
from api.deps import AnyRequest, Conn, Runtime, RuntimeDep, Transactions, TransactionsDep
from api.discussions import events
from api.mfa import second_factor
from api.openapi import may_answer, sign_in_refused
from api.problems import invalid, problem
from api.settings import Settings
from db import auth as auth_db
from db import people as people_db

_now = tokens.now


FIREBASE_OFF = "Firebase sign-in is off on this server"


async def _firebase_uid(runtime: Runtime, id_token: str, off: ProblemDetailsException) -> str:
    """The Firebase user of `id_token`; `off` is raised where Firebase sign-in is off (a
    feature left off is the client's wrong turn, not a server error)."""
    if runtime.firebase is None:
        raise off
    try:
        return await runtime.firebase.uid_of(id_token)
    except FirebaseTokenError:
        raise problem(401, "invalid_id_token", "The Firebase ID token is not valid or has expired.") from None
    except FirebaseUnavailable:
        raise problem(
            503, "firebase_unavailable", "Firebase sign-in cannot be checked right now. Try again shortly."
        ) from None


def _live(code: asyncpg.Record) -> bool:
    return code["used_at"] is None and code["revoked_at"] is None


@dataclass(frozen=True)
class _CodeKind:
    """What differs between a graduate's activation code and a staff account's set-up code."""

    purpose: str
    ask: str  # who gives a new one
    method: str  # the session's sign-in method


ACTIVATION = _CodeKind("activation", "your counselor", "activation")
SETUP = _CodeKind("setup", "an admin", "password")


def _code_locked(kind: _CodeKind, now: bool = False) -> ProblemDetailsException:
    return problem(
        423,
        "code_locked",
        f"This code is {'now ' if now else ''}locked after too many wrong tries. Ask {kind.ask} for a new one.",
    )


def _invalid_code(kind: _CodeKind) -> ProblemDetailsException:
    return problem(401, "invalid_code", f"That code is not right. Check it, or ask {kind.ask} for a new one.")


async def _redeem(
    transactions: Transactions,
    runtime: Runtime,
    typed_code: str,
    kind: _CodeKind,
    firebase_uid: str | None = None,
    password: str | None = None,
    request: AnyRequest | None = None,
) -> TokenPair:
    """Three steps, so that no connection waits on argon2: read the code (counting the try),
    check the verifier (and hash the chosen `password` of a set-up code), then redeem the
    code if it is still redeemable; a set-up code's use is audited (`request`)."""
    parts = credentials.split_activation_code(typed_code)
    if parts is None:
        raise problem(
            400,
            "validation_failed",
            "code: a code has 10 letters and digits, like K7QM-3XHP-W9.",
            errors=[{"field": "code", "source": "body", "message": "not a code"}],
        )
    selector, verifier = parts
    max_attempts = runtime.settings.activation_max_attempts
    async with runtime.hasher.turn() as hashing:
        async with transactions.transaction() as conn:
            code = await auth_db.lock_code_by_selector(conn, selector, kind.purpose)
            # A try is counted before its check, so that tries sent at once cannot all be
            # checked before the count reaches the lock; a right one gets it back.
            counted = None
            if code is not None and _live(code) and code["failed_attempts"] < max_attempts:
                counted = await auth_db.count_failed_code_attempt(conn, code["id"])
        # Unknown, used, replaced and locked codes cost one check too: timing tells nothing.
        right = await hashing.verify(code["verifier_hash"] if code is not None else None, verifier)
        password_hash = await hashing.hash(password) if right and password is not None else None
    if not right:
        if code is not None and _live(code) and (counted is None or counted >= max_attempts):
            raise _code_locked(kind, now=counted is not None)
        raise _invalid_code(kind)
    # A right code was checked against a stored hash: there was a code.
    assert code is not None
    async with transactions.transaction() as conn:
        code = await auth_db.lock_code(conn, code["id"])
        if code is None:  # the person was deleted meanwhile
            raise _invalid_code(kind)
        attempts = (
            await auth_db.uncount_code_attempt(conn, code["id"]) if counted is not None else code["failed_attempts"]
        )
        now = _now()
        outcome: TokenPair | ProblemDetailsException
        if _live(code) and attempts >= max_attempts:
            outcome = _code_locked(kind)
        elif not code["is_active"]:
            outcome = problem(403, "account_deactivated", "This account is no longer active. Contact your program.")
        elif code["used_at"] is not None:
            outcome = problem(
                401,
                "code_used",
                f"This code has already been used. Ask {kind.ask} for a new one if you need it again.",
            )
        elif code["revoked_at"] is not None:
            outcome = problem(
                401, "code_replaced", f"This code is no longer valid: use the newest code {kind.ask} gave you."
            )
        elif code["expires_at"] <= now:
            outcome = problem(401, "code_expired", f"This code has expired. Ask {kind.ask} for a new one.")
        elif (weak := await _weak_password(conn, code["person_id"], password)) is not None:
            outcome = weak  # the code stays redeemable, and the try uncounted
        else:
            await auth_db.redeem_code(conn, code["id"], code["person_id"], now)
            if firebase_uid is not None:
                await people_db.set_firebase_uid(conn, code["person_id"], firebase_uid)
            roles = ["participant"]
            if password_hash is not None:  # a set-up code: the route passes its request
                assert request is not None
                await people_db.set_password_hash(conn, code["person_id"], password_hash)
                who = (code["person_id"], list(code["roles"]))
                await audit(conn, request, "account.setup_code_used", None, {"account_id": str(who[0])}, actor=who)
                roles = code["roles"]
            outcome = await tokens.start_session(conn, runtime, code["person_id"], roles, kind.method)
    # Raised once the transaction is over: the uncounted try stays uncounted.
    if isinstance(outcome, ProblemDetailsException):
        raise outcome
    return outcome


async def _weak_password(
    conn: asyncpg.Connection, person_id: UUID, password: str | None
) -> ProblemDetailsException | None:
    """Why a password chosen with a set-up code is refused (it must not contain the account's
    own email or name, known only once the code is), or None."""
    if password is None:
        return None
    holder = await people_db.get_password_holder(conn, person_id)
    # A set-up code's account has an email, and the code locked in this transaction keeps
    # the account from being deleted (deleting it deletes the code).
    assert holder is not None
    try:
        check_strength(password, "password", email=holder["email"], name=holder["name"])
    except ProblemDetailsException as exc:
        return exc
    return None


async def _sign_in(transactions: Transactions, runtime: Runtime, email: str, password: str, address: str) -> TokenPair:
    """Three steps, so that no connection waits on argon2: read the account (counting the
    try), check the password, then record the sign-in. Wrong passwords are counted per
    account and client `address`, so that an attacker who knows someone's email locks the
    account only for the attacker's own address; a much higher count per account, from
    every address, stops guessing spread over many addresses (db/people.py)."""
    settings: Settings = runtime.settings
    denied = problem(
        401,
        "invalid_credentials",
        f"Email or password is not right. After {settings.login_max_failures} wrong tries from one "
        f"place an account is locked there for {settings.login_lock_minutes} minutes.",
    )
    async with runtime.hasher.turn() as hashing:
        async with transactions.transaction() as conn:
            await people_db.forget_old_sign_in_failures(conn)  # on every path: timing tells nothing
        async with transactions.transaction() as conn:
            account = await people_db.lock_account_by_email(conn, email, address)
            locked = account is not None and account["locked_until"] is not None and account["locked_until"] > _now()
            checked = account is not None and account["password_hash"] is not None and not locked
            if checked:
                assert account is not None  # `checked` says so
                # Counted as wrong before the check, so that guesses sent at once cannot all
                # be checked before the lock; a right password clears the count.
                await people_db.record_login_failure(
                    conn,
                    account["id"],
                    address,
                    max_failures=settings.login_max_failures,
                    account_max_failures=settings.login_account_max_failures,
                    lock_for=dt.timedelta(minutes=settings.login_lock_minutes),
                )
        # Unknown email, no password and locked account cost one check too: timing tells nothing.
        # What a password is checked against (`checked`: an account with one, not locked).
        stored_hash: str | None = account["password_hash"] if checked and account is not None else None
        right = await hashing.verify(stored_hash, password)
        stale = right and stored_hash is not None and runtime.hasher.needs_rehash(stored_hash)
        rehash = await hashing.hash(password) if stale else None
    if not right:
        raise denied
    assert account is not None  # the password was right for its stored hash
    if account["mfa_on"]:
        # Nothing is cleared yet: this try stays counted until the second factor is right,
        # so that a guesser who holds the password cannot earn new tries by giving it again.
        raise await second_factor.challenge(transactions, runtime, account, address, rehash)
    async with transactions.transaction() as conn:
        now_account = await people_db.record_login_success(
            conn,
            account["id"],
            address,
            account["password_hash"],
            rehash,
            account_max_failures=settings.login_account_max_failures,
        )
        if now_account is None:
            outcome: TokenPair | ProblemDetailsException = denied
        elif not now_account["is_active"]:
            outcome = problem(403, "account_deactivated", "This account is no longer active.")
        else:
            outcome = await tokens.start_session(conn, runtime, account["id"], now_account["roles"], "password")
    if isinstance(outcome, ProblemDetailsException):
        raise outcome
    return outcome


class SignInController(Controller):
    """The three ways in. Rate-limited per client address (see auth_router)."""

    path = "/"
    tags = ["auth"]
    opt = {"public": True}
    security = [{}]  # no sign-in needed (OpenAPI: an empty requirement)

    @post(
        "/activate",
        responses=may_answer(401, 403, 423, 429),
        summary="Redeem an activation code for a device session",
    )
    async def activate(
        self, data: JSONBody[ActivateRequest], transactions: TransactionsDep, runtime: RuntimeDep
    ) -> TokenPair:
        """A graduate's first sign-in, with the one-time code from their counselor. Codes are
        single use and expire after 7 days; too many wrong tries lock the code."""
        uid = None
        if data.firebase_id_token:  # asked of Google before a connection is taken
            off = invalid("firebase_id_token", f"{FIREBASE_OFF}: leave it out")
            uid = await _firebase_uid(runtime, data.firebase_id_token, off)
        return await _redeem(transactions, runtime, data.code, ACTIVATION, firebase_uid=uid)

    @post(
        "/setup",
        responses=may_answer(401, 403, 423, 429),
        summary="Choose my password with a set-up code (staff, admins, facilitators)",
    )
    async def setup(
        self, data: JSONBody[SetupRequest], request: AnyRequest, transactions: TransactionsDep, runtime: RuntimeDep
    ) -> TokenPair:
        """The one-time code an admin handed over when creating the account or resetting its
        password: sets the password the person chooses (at least 12 characters, hard to
        guess, not containing their email or name) and signs them in, like /v1/auth/login.
        Codes are single use and expire after 72 hours; too many wrong tries lock the code."""
        # The strength check needs the account's email and name, known only once the code
        # is: a first cheap check on length, the full one once the code is found.
        check_strength(data.password, "password", email=None, name=None)
        return await _redeem(transactions, runtime, data.code, SETUP, password=data.password, request=request)

    @post(
        "/login",
        responses=may_answer(403, 429) | sign_in_refused(),
        summary="Sign in with email and password (staff, facilitators)",
    )
    async def login(
        self, data: JSONBody[LoginRequest], request: AnyRequest, transactions: TransactionsDep, runtime: RuntimeDep
    ) -> TokenPair:
        """Wrong passwords are counted per account and client address: after 10 within 15
        minutes from one address the account is locked for 15 minutes from that address; after
        100 within 15 minutes from all addresses together, from everywhere (an admin can unlock
        it sooner). Unknown email, wrong password and locked account all get the same answer,
        so nobody learns which accounts exist.

        With two-factor sign-in on, a right password answers 401 `mfa_required` with a
        `challenge` (good for `challenge_expires_in` seconds): send it with a code from the
        authenticator app to /v1/auth/mfa."""
        address = client_address(request) or "unknown"
        return await _sign_in(transactions, runtime, data.email, data.password, address)

    @post(
        "/mfa",
        responses=may_answer(401, 403, 423, 429),
        summary="Complete a sign-in with a code from the authenticator app, or a recovery code",
    )
    async def mfa(
        self,
        data: JSONBody[SecondFactorRequest],
        request: AnyRequest,
        transactions: TransactionsDep,
        runtime: RuntimeDep,
    ) -> TokenPair:
        """The second step of /v1/auth/login for accounts with two-factor sign-in. `code` is
        the 6-digit code the app shows now (one 30-second step early or late is fine), or one
        of the recovery codes (each works once). A code works once: the same code again
        answers 401 `invalid_mfa_code`. Wrong codes count toward the account's sign-in lock
        from the address that gave the password (423 `account_locked` once it is reached),
        and after 5 the challenge ends: 401 `challenge_expired`, as when it runs out."""
        return await second_factor.complete(transactions, runtime, request, data)

    @post(
        "/firebase",
        responses=may_answer(401, 403, 404, 429),
        summary="Exchange a Firebase ID token for a device session",
    )
    async def firebase(
        self, data: JSONBody[FirebaseRequest], transactions: TransactionsDep, runtime: RuntimeDep
    ) -> TokenPair:
        """For apps that use Firebase Auth: the Firebase user must have been linked to the
        graduate at activation (`firebase_id_token` on /v1/auth/activate). Where this server
        has Firebase sign-in off: 404, code `firebase_sign_in_off`."""
        off = problem(404, "firebase_sign_in_off", f"{FIREBASE_OFF}: sign in with an activation code or a password.")
        uid = await _firebase_uid(runtime, data.id_token, off)  # no connection held while Google answers
        async with transactions.transaction() as conn:
            person = await people_db.find_by_firebase_uid(conn, uid)
            if person is None:
                raise problem(
                    401,
                    "firebase_not_linked",
                    "This Firebase account is not linked to anyone yet. Activate with your code first.",
                )
            if not person["is_active"]:
                raise problem(403, "account_deactivated", "This account is no longer active.")
            return await tokens.start_session(conn, runtime, person["id"], person["roles"], "firebase")


class SessionController(Controller):
    path = "/"
    tags = ["auth"]
    opt = {"public": True}
    security = [{}]  # no sign-in needed (OpenAPI: an empty requirement)

    @post("/refresh", responses=may_answer(401, 403), summary="Rotate a refresh token")
    async def refresh(
        self, data: JSONBody[RefreshRequest], request: AnyRequest, conn: Conn, runtime: RuntimeDep
    ) -> TokenPair:
        """Each refresh token works once and is replaced by a new one. Presenting the replaced
        one again within `refresh_reuse_grace_s` (30 s; a retry, or two parts of an app
        refreshing at once) returns the same new refresh token and a fresh access token.
        Later, or once the new token has been used, it means it was copied: the whole session
        is revoked. A password sign-in's session (staff, admins, facilitators) ends when its
        refresh token comes more than `staff_refresh_idle_hours` (12) after the sign-in or the
        refresh that issued it: 401, code `session_idle`."""
        settings: Settings = runtime.settings
        now = _now()
        successor, successor_hash = credentials.successor_refresh_token(settings.secret_key, data.refresh_token)
        async with conn.transaction():
            # Locked: a second refresh of the same token waits here until the first commits,
            # then sees it used and its successor stored.
            row = await auth_db.lock_refresh_token(conn, credentials.hash_refresh_token(data.refresh_token))
            outcome: TokenPair | ProblemDetailsException
            ended_here = False
            if row is None:
                outcome = problem(401, "invalid_refresh_token", "Sign in again.")
            elif row["used_at"] is not None and not await _repeat_within_grace(conn, settings, row, successor_hash):
                await auth_db.revoke_session(conn, row["session_id"], "refresh token reused")
                ended_here = True
                outcome = problem(
                    401,
                    "refresh_token_reused",
                    "This sign-in was used twice, so it was ended for safety. Sign in again.",
                )
            elif row["revoked_at"] is not None or row["expires_at"] <= now:
                outcome = problem(401, "session_ended", "This session has ended. Sign in again.")
            elif _idle_too_long(settings, row, now):
                await auth_db.revoke_session(conn, row["session_id"], "idle")
                ended_here = True
                outcome = problem(
                    401,
                    "session_idle",
                    f"This sign-in was not used for {settings.staff_refresh_idle_hours} hours, so it was ended. "
                    "Sign in again.",
                )
            elif not row["is_active"]:
                outcome = problem(403, "account_deactivated", "This account is no longer active.")
            else:
                if row["used_at"] is None:
                    await auth_db.rotate_refresh_token(
                        conn,
                        token_id=row["id"],
                        session_id=row["session_id"],
                        new_hash=successor_hash,
                        expires_at=now + dt.timedelta(days=settings.refresh_token_ttl_days),
                        now=now,
                    )
                # A repeat within the grace gets the successor the first refresh stored.
                outcome = await tokens.token_pair(
                    conn, runtime, row["person_id"], row["session_id"], successor, row["roles"]
                )
        if isinstance(outcome, ProblemDetailsException):
            if ended_here:
                assert row is not None  # only a refresh token's row ends its session
                events.access_changed(request.app, row["person_id"])  # its live sockets close too
            raise outcome
        return outcome

    @post("/logout", status_code=204, summary="End this device session")
    async def logout(self, data: JSONBody[RefreshRequest], request: AnyRequest, conn: Conn) -> None:
        """Revokes the session the refresh token belongs to; its access tokens stop working
        at once, and its live sockets close. Answers 204 whether or not the token was known."""
        ended = await auth_db.revoke_session_of_token(
            conn, credentials.hash_refresh_token(data.refresh_token), "logout"
        )
        if ended is not None:
            events.access_changed(request.app, ended)


def _idle_too_long(settings: Settings, row: asyncpg.Record, now: dt.datetime) -> bool:
    """Whether a password session (the dashboard's kind: staff, admins, and facilitators on
    the app) has gone unused too long to go on: its refresh token was issued, or last used (a
    repeat within the grace), more than `staff_refresh_idle_hours` ago. A browser left signed
    in, or a copied token, stops working overnight. Graduates' phones keep their sessions for
    as long as the refresh token lasts: signing in again costs them a new code from staff."""
    if row["method"] != "password":
        return False
    last_used: dt.datetime = row["used_at"] or row["created_at"]
    return now - last_used > dt.timedelta(hours=settings.staff_refresh_idle_hours)


async def _repeat_within_grace(
    conn: asyncpg.Connection, settings: Settings, row: asyncpg.Record, successor_hash: bytes
) -> bool:
    """Whether presenting this used refresh token again is a repeat of its own refresh (a
    retry, a race) rather than a copy: it was replaced moments ago, and its successor, the
    session's newest token, has not been used since. Once the successor has been used, the
    one who holds it has moved on, and the old token can only come from a copy."""
    if _now() - row["used_at"] > dt.timedelta(seconds=settings.refresh_reuse_grace_s):
        return False
    return await auth_db.successor_is_unused(conn, row["session_id"], successor_hash)


def auth_router(settings: Settings) -> Router:
    sign_in_limit = RateLimitConfig(
        rate_limit=("minute", settings.auth_rate_limit_per_minute), identifier_for_request=rate_limit_key
    )
    return Router(
        path="/v1/auth",
        route_handlers=[
            Router(path="/", route_handlers=[SignInController], middleware=[sign_in_limit.middleware]),
            SessionController,
        ],
    )
