"""Secrets: making them, and storing only their hashes.

- Passwords and activation-code verifiers are typed by people, so they are hashed with
  argon2 (slow on purpose: a stolen table does not give them up).
- Refresh tokens are 256 random bits, so a plain SHA-256 is enough and lets us look them up.
  A session's first one is drawn at random; each next one is derived from the one it replaces
  (`successor_refresh_token`), so that a refresh repeated within the grace can be answered
  with the same successor without the server ever storing it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar, TypeVarTuple

import anyio
import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.profiles import CHEAPEST, RFC_9106_LOW_MEMORY

from api.problems import problem

T = TypeVar("T")
Args = TypeVarTuple("Args")

# Crockford's base32: no I, L, O or U, so a code read aloud or copied by hand survives.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CROCKFORD_READS = str.maketrans({"O": "0", "I": "1", "L": "1"})
SELECTOR_LENGTH = 4
VERIFIER_LENGTH = 6
CODE_LENGTH = SELECTOR_LENGTH + VERIFIER_LENGTH


# How long a client turned away from a full hashing queue should wait: about the time the
# queue takes to drain at the default profile's cost.
BUSY_RETRY_AFTER_S = 2


class Hasher:
    """argon2 hashing, off the event loop: one hash takes tens of milliseconds of CPU and
    64 MiB, so running it inline would stall every other request. At most `parallel` run at
    once (about one per core) and at most `queue` more wait their turn: a burst of sign-ins
    beyond that is turned away at once (503 with Retry-After) rather than piling up, so the
    queue's length bounds how late any answer comes."""

    def __init__(self, profile: str = "default", parallel: int = 2, queue: int = 16) -> None:
        params = CHEAPEST if profile == "cheapest" else RFC_9106_LOW_MEMORY
        self._hasher = argon2.PasswordHasher.from_parameters(params)
        self._parallel = parallel
        self._places = parallel + queue
        self._taken = 0  # requests holding a turn: hashing or waiting to (one event loop)
        self._limiter: anyio.CapacityLimiter | None = None  # made on first use, in its loop
        self._dummy_hash: str | None = None  # made on first use, with this profile's cost

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[HashingTurn]:
        """A place in the hashing queue, held across a request's steps (read, hash, record)
        so that a request turned away has done nothing yet. Full: a 503 problem, at once."""
        if self._taken >= self._places:
            raise problem(
                503,
                "busy",
                "Too many passwords and codes are being checked right now. Try again in a few seconds.",
                headers={"Retry-After": str(BUSY_RETRY_AFTER_S)},
            )
        self._taken += 1
        try:
            yield HashingTurn(self)
        finally:
            self._taken -= 1

    async def _run(self, fn: Callable[[*Args], T], *args: *Args) -> T:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self._parallel)
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)

    def hash_sync(self, secret: str) -> str:
        return self._hasher.hash(secret)

    async def hash(self, secret: str) -> str:
        async with self.turn() as turn:
            return await turn.hash(secret)

    def _verify(self, stored_hash: str | None, secret: str) -> bool:
        if stored_hash is None:
            # Nothing to compare with (an unknown email or code): the same work as a real
            # check, against a hash of this profile, so the answer's timing gives nothing away.
            if self._dummy_hash is None:
                self._dummy_hash = self._hasher.hash("nothing to compare with")
            self._matches(self._dummy_hash, secret)
            return False
        return self._matches(stored_hash, secret)

    def _matches(self, stored_hash: str, secret: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, secret)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def verify(self, stored_hash: str | None, secret: str) -> bool:
        async with self.turn() as turn:
            return await turn.verify(stored_hash, secret)

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._hasher.check_needs_rehash(stored_hash)


class HashingTurn:
    """Hashing within a place already taken in the queue (Hasher.turn)."""

    __slots__ = ("_hasher",)

    def __init__(self, hasher: Hasher) -> None:
        self._hasher = hasher

    async def hash(self, secret: str) -> str:
        return await self._hasher._run(self._hasher.hash_sync, secret)

    async def verify(self, stored_hash: str | None, secret: str) -> bool:
        """Whether `secret` matches; None (nothing stored) costs the same and is never a match."""
        return await self._hasher._run(self._hasher._verify, stored_hash, secret)


def _draw(length: int) -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def new_selector() -> str:
    return _draw(SELECTOR_LENGTH)


def new_verifier() -> str:
    return _draw(VERIFIER_LENGTH)


def shown_code(selector: str, verifier: str) -> str:
    """The code as shown to the graduate, e.g. `K7QM-3XHP-W9`."""
    raw = selector + verifier
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def normalise_code(typed: str) -> str:
    """A typed code in its canonical letters: upper case, no spaces or dashes, O/I/L read
    as 0/1/1."""
    return "".join(ch for ch in typed.upper() if ch not in " -").translate(_CROCKFORD_READS)


def split_activation_code(typed: str) -> tuple[str, str] | None:
    """(selector, verifier) from what a person typed, forgiving case, spaces, dashes and the
    look-alikes O/I/L; None when it cannot be a code."""
    cleaned = normalise_code(typed)
    if len(cleaned) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in cleaned):
        return None
    return cleaned[:SELECTOR_LENGTH], cleaned[SELECTOR_LENGTH:]


def new_refresh_token() -> tuple[str, bytes]:
    """Return (token for the client, hash to store)."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def successor_refresh_token(secret_key: str, token: str) -> tuple[str, bytes]:
    """The refresh token that replaces `token`, and its hash: HMAC(server secret, token).

    Why derived, not drawn: two refreshes of one token at once (a phone that retries, two
    parts of an app) must both get the same successor, and the loser arrives after the
    winner's transaction has committed. Storing the successor in a form we could give back
    would break "secrets are stored hashed"; deriving it lets the server compute it again
    from what the repeating client presents, while the table still holds only SHA-256.
    It stays unguessable: it needs the old token (256 random bits at the session's start,
    only its hash stored) and the server secret (whose holder could mint access tokens
    anyway). A changed secret only turns a repeat within the grace into a reuse."""
    digest = hmac.new(secret_key.encode(), b"aftercare refresh successor\x00" + token.encode(), hashlib.sha256)
    successor = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
    return successor, hash_refresh_token(successor)
