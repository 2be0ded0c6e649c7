"""The pure parts of two-factor sign-in: secrets, codes and their checks. No I/O here.

- A TOTP code is good in its own 30-second step and one step either side (a phone's clock
  a little off, a code typed as it turned over), never two steps away.
- The secret must be readable to check a code, so it is kept encrypted (AES-GCM) under a
  key derived from the server's secret key for this purpose alone: a copy of the database
  does not give it up. Changing AFTERCARE_SECRET_KEY makes stored secrets unreadable: those
  people sign in with a recovery code, or an admin resets them.
- Recovery codes carry 80 random bits: a SHA-256 is enough to keep them, as for refresh
  tokens, and lets a typed one be looked up.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import pyotp
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from api.auth.credentials import CODE_ALPHABET, normalise_code

ISSUER = "Aftercare"
STEP_S = 30
DIGITS = 6
# Steps either side of now whose code is accepted (RFC 6238 section 6 allows for drift).
SKEW_STEPS = 1
RECOVERY_CODES = 10
RECOVERY_CODE_LENGTH = 16  # 16 of 32 symbols: 80 bits
_NONCE_BYTES = 12


def new_secret() -> str:
    """160 random bits in base32, as authenticator apps expect (RFC 4226's recommended size)."""
    return pyotp.random_base32(32)


def otpauth_uri(secret: str, account_name: str) -> str:
    """What the QR code carries: `otpauth://totp/Aftercare:<email>?secret=...&issuer=Aftercare`."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_S).provisioning_uri(name=account_name, issuer_name=ISSUER)


def looks_like_totp(typed: str) -> bool:
    code = _digits(typed)
    # ASCII digits only: str.isdigit() takes "１２３４５６" and the like too.
    return len(code) == DIGITS and code.isascii() and code.isdigit()


def _digits(typed: str) -> str:
    return "".join(ch for ch in typed if ch not in " -")


def matching_step(secret: str, typed: str, at: float) -> int | None:
    """The step (`at` // 30, give or take SKEW_STEPS) whose code `typed` is, or None. Every
    candidate is compared in constant time, so timing does not tell which step matched."""
    code = _digits(typed)
    if not looks_like_totp(code):
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_S)
    now_step = int(at) // STEP_S
    found = None
    for step in range(now_step - SKEW_STEPS, now_step + SKEW_STEPS + 1):
        if hmac.compare_digest(totp.at(step * STEP_S), code):
            found = step
    return found


def _key(server_secret: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"aftercare totp secret v1").derive(
        server_secret.encode()
    )


def encrypt_secret(server_secret: str, secret: str, person: bytes) -> bytes:
    """nonce + AES-GCM(secret), bound to its person (`person`, the id's bytes): a row's
    secret copied onto another person's row does not decrypt there."""
    nonce = secrets.token_bytes(_NONCE_BYTES)
    return nonce + AESGCM(_key(server_secret)).encrypt(nonce, secret.encode(), person)


def decrypt_secret(server_secret: str, stored: bytes, person: bytes) -> str | None:
    """The secret; None when it cannot be read (the server's secret key changed)."""
    try:
        return AESGCM(_key(server_secret)).decrypt(stored[:_NONCE_BYTES], stored[_NONCE_BYTES:], person).decode()
    except (InvalidTag, ValueError):
        return None


def new_recovery_codes() -> list[str]:
    """Ten codes like `7K2M-QX4P-H9RT-3WVB`, for when the phone is lost."""
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
        codes.append("-".join(raw[i : i + 4] for i in range(0, RECOVERY_CODE_LENGTH, 4)))
    return codes


def recovery_code_hash(typed: str) -> bytes | None:
    """What is stored for a recovery code, from what a person typed (forgiving case, spaces,
    dashes and the look-alikes O/I/L); None when it cannot be one."""
    cleaned = normalise_code(typed)
    if len(cleaned) != RECOVERY_CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in cleaned):
        return None
    return hashlib.sha256(b"aftercare recovery code\x00" + cleaned.encode()).digest()
