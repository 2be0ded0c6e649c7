"""The rules a password a person chooses must meet: the same for setting one up with a
set-up code and for changing one's own (one function, so they cannot drift apart)."""

from __future__ import annotations

import re

import zxcvbn

from api.problems import invalid

MIN_LENGTH = 12
MAX_LENGTH = 1024
# zxcvbn's 0-4 scale: 3 is "safely unguessable: moderate protection from an offline attack"
# (about 10^8 guesses or more), which is what a stolen table of argon2 hashes meets.
MIN_SCORE = 3
SCORED_LENGTH = 72


def _personal_words(email: str | None, name: str | None) -> list[str]:
    """The account's email, its local part and the parts of its name: what an attacker who
    knows whose account it is tries first."""
    words: list[str] = []
    if email:
        words += [email.lower(), email.split("@", 1)[0].lower()]
    if name:
        words += [part for part in re.split(r"\W+", name.lower()) if len(part) >= 3]
    return [w for w in words if w]


def check_strength(password: str, field: str, *, email: str | None, name: str | None) -> None:
    """Raise a 400 problem naming `field` with the reason when `password` is too weak."""
    if len(password) < MIN_LENGTH:
        raise invalid(field, f"use at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise invalid(field, f"use at most {MAX_LENGTH} characters")
    lowered = password.lower()
    personal = _personal_words(email, name)
    if email and email.split("@", 1)[0].lower() in lowered:
        raise invalid(field, "must not contain your email address")
    if name and any(part in lowered for part in _personal_words(None, name)):
        raise invalid(field, "must not contain your name")
    # Only the first 72 characters are scored (zxcvbn's own limit: its matching grows fast
    # with length, and so would the time a long password costs us); a password that long
    # is guessed by its start anyway.
    result = zxcvbn.zxcvbn(password[:SCORED_LENGTH], user_inputs=personal, max_length=SCORED_LENGTH)
    if result["score"] < MIN_SCORE:
        feedback = result["feedback"]
        why = feedback.get("warning") or "it is too easy to guess"
        hint = " ".join(feedback.get("suggestions") or ["Add more words that are not common together."])
        raise invalid(field, f"too easy to guess: {why.rstrip('.')}. {hint}")
