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


# Shorter parts of an email or name ("al@...", "Jo") are in too many good passwords to refuse.
PERSONAL_MIN = 3


def _parts(email: str | None, name: str | None) -> tuple[list[str], list[str]]:
    """(email words, name words): what an attacker who knows whose account it is tries first."""
    local = [email.split("@", 1)[0].lower()] if email else []
    names = re.split(r"\W+", name.lower()) if name else []
    return [w for w in local if len(w) >= PERSONAL_MIN], [w for w in names if len(w) >= PERSONAL_MIN]


def check_strength(password: str, field: str, *, email: str | None, name: str | None) -> None:
    """Raise a 400 problem naming `field` with the reason when `password` is too weak."""
    if len(password) < MIN_LENGTH:
        raise invalid(field, f"use at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise invalid(field, f"use at most {MAX_LENGTH} characters")
    lowered = password.lower()
    email_words, name_words = _parts(email, name)
    if any(word in lowered for word in email_words):
        raise invalid(field, "must not contain your email address")
    if any(word in lowered for word in name_words):
        raise invalid(field, "must not contain your name")
    personal = ([email.lower()] if email else []) + email_words + name_words
    # Only the first 72 characters are scored (zxcvbn's own limit: its matching grows fast
    # with length, and so would the time a long password costs us); a password that long
    # is guessed by its start anyway.
    result = zxcvbn.zxcvbn(password[:SCORED_LENGTH], user_inputs=personal, max_length=SCORED_LENGTH)
    if result["score"] < MIN_SCORE:
        feedback = result["feedback"]
        why = feedback.get("warning") or "it is too easy to guess"
        hint = " ".join(feedback.get("suggestions") or ["Add more words that are not common together."])
        raise invalid(field, f"too easy to guess: {why.rstrip('.')}. {hint}")
