"""Changing one's own password (`POST /v1/me/password`)."""

from __future__ import annotations

from api.audit import audit
from api.auth.passwords import check_strength
from api.auth.schemas import PasswordChange
from api.deps import Runtime, Transactions
from api.discussions import events
from api.problems import problem
from api.security import SignedInRequest
from db import auth as auth_db
from db import people as people_db


async def change_own_password(
    request: SignedInRequest, transactions: Transactions, runtime: Runtime, data: PasswordChange
) -> None:
    """Three steps, so that no connection waits on argon2: read the account, check the
    current password and hash the new one, then store it and end the other sessions.

    A wrong current password is not counted toward the sign-in lock: the caller already holds
    a live session, so the lock (which stops guessing at the door) would only let whoever
    holds a stolen session lock the owner out. It is answered 403 and audited instead."""
    me = request.user
    async with transactions.transaction() as conn:
        holder = await people_db.get_password_holder(conn, me.id)
    if holder is None or holder["password_hash"] is None:
        raise problem(403, "no_password", "This account does not sign in with a password.")
    check_strength(data.new_password, "new_password", email=holder["email"], name=holder["name"])
    async with runtime.hasher.turn() as hashing:
        right = await hashing.verify(holder["password_hash"], data.current_password)
        new_hash = await hashing.hash(data.new_password) if right else None
    async with transactions.transaction() as conn:
        if new_hash is None:
            await audit(conn, request, "account.password_change_refused", None, {"account_id": str(me.id)})
        elif not await people_db.set_password_hash(conn, me.id, new_hash, replacing=holder["password_hash"]):
            # Changed or reset since it was read: the current password checked may be void.
            raise problem(409, "password_changed_meanwhile", "Your password changed meanwhile. Try again.")
        else:
            ended = await auth_db.revoke_sessions(conn, me.id, "password changed", keep=me.session_id)
            await audit(
                conn, request, "account.password_changed", None, {"account_id": str(me.id), "sessions_ended": ended}
            )
    if new_hash is None:
        raise problem(403, "wrong_password", "current_password: that is not your current password.")
    events.access_changed(request.app, me.id)  # the other sessions' live sockets close too
