"""Words no refused request may use: a library's phrasing, its type names, a regex. Held to
by the error-wording tests (tests/attack/test_error_wording.py) and by every 400 the fuzz
suite provokes (tests/attack/test_fuzz.py)."""

from __future__ import annotations

import re

# What no message may say: msgspec's phrasing, its type names, a regex.
LIBRARY_WORDS = re.compile(r"Expected `|`int`|`str`|msgspec|\^.*\$|\\S|\[\\")


def library_words(problem: dict) -> list[str]:
    """The messages of a validation problem that speak like a library, not a person (the
    fuzz suite holds every 400 it provokes to this too). A field name the client made up is
    echoed in the detail ("x: is not a field of this request") and may be anything, a regex
    included: it is the client's own text, not our wording, so it is left out of the check."""
    errors = problem.get("errors") or []
    detail = str(problem.get("detail") or "")
    for error in errors:
        detail = detail.replace(f"{error.get('field', '')}: ", ": ")
    words = [detail] + [e.get("message", "") for e in errors]
    return [w for w in words if LIBRARY_WORDS.search(str(w))]
