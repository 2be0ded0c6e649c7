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

import anyio
import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.profiles import CHEAPEST, RFC_9106_LOW_MEMORY

# Crockford's base32: no I, L, O or U, so a code read aloud or copied by hand survives.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CROCKFORD_READS = str.maketrans({"O": "0", "I": "1", "L": "1"})
SELECTOR_LENGTH = 4
VERIFIER_LENGTH = 6
CODE_LENGTH = SELECTOR_LENGTH + VERIFIER_LENGTH


class Hasher:
    """argon2 hashing, off the event loop: one hash takes tens of milliseconds of CPU and
    64 MiB, so running it inline would stall every other request. At most `parallel` run at
    once (about one per core)."""

    def __init__(self, profile: str = "default", parallel: int = 2) -> None:
        params = CHEAPEST if profile == "cheapest" else RFC_9106_LOW_MEMORY
        self._hasher = argon2.PasswordHasher.from_parameters(params)
        self._parallel = parallel
        self._limiter: anyio.CapacityLimiter | None = None  # made on first use, in its loop

    async def _run(self, fn, *args):
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self._parallel)
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)

    def hash_sync(self, secret: str) -> str:
        return self._hasher.hash(secret)

    async def hash(self, secret: str) -> str:
        return await self._run(self._hasher.hash, secret)

    def _verify(self, stored_hash: str, secret: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, secret)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def verify(self, stored_hash: str, secret: str) -> bool:
        return await self._run(self._verify, stored_hash, secret)

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._hasher.check_needs_rehash(stored_hash)


def new_activation_code() -> tuple[str, str, str]:
    """Return (code as shown to the graduate, selector, verifier), e.g. `K7QM-3XHP-W9`."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    shown = f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"
    return shown, raw[:SELECTOR_LENGTH], raw[SELECTOR_LENGTH:]


def split_activation_code(typed: str) -> tuple[str, str] | None:
    """(selector, verifier) from what a person typed, forgiving case, spaces, dashes and the
    look-alikes O/I/L; None when it cannot be a code."""
    cleaned = "".join(ch for ch in typed.upper() if ch not in " -").translate(_CROCKFORD_READS)
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
