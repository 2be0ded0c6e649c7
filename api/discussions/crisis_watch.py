"""The crisis watch for peer posts: does a post's text look like crisis or use right now? A pure rule, no I/O.

It only flags, never blocks and never replies. A flagged post is still posted, its author is shown crisis
resources at once, and the group's facilitators and the author's counselor get a moderation item. Blocking
would teach people to hide the very words we most need to hear, and an automated reply would answer a person
in pain with a machine; the people who know them answer. A false alarm costs staff one dismiss, a missed plain
statement may cost far more, so the rule leans towards flagging: it understands only plain negation ("I don't
want to die") and quoting (someone else's words), nothing cleverer.

The phrases are data (crisis_phrases.json, English and Spanish) so clinical staff can review and change them
as words, without reading Python; tests/discussions/test_crisis_watch.py holds the table of examples every change must
keep passing. The file is read once, at import."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

PHRASES_FILE = Path(__file__).with_name("crisis_phrases.json")
CATEGORIES = ("crisis", "use")
NEGATION_WINDOW = 3  # words before a phrase in which a negator turns it around

_APOSTROPHES = str.maketrans(dict.fromkeys("’‘ʼ`´", "'"))
# Someone else's words: a reply quoting a post, or a quote inside one line (an unclosed quote hides nothing).
_QUOTED_LINE = re.compile(r"^[ \t]*>.*$", re.MULTILINE)
_QUOTED = re.compile(r'"[^"\n]*"|“[^”\n]*”|«[^»\n]*»')
# A negator in an earlier clause or line is about something else: "I'm not okay. I want to die."
_CLAUSE_BREAK = re.compile(r"[.,;:!?¡¿()\[\]—–\n]")
_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class CrisisFlag:
    """Why a post was flagged: its categories (sorted) and the list entries it matched, for staff to see."""

    categories: tuple[str, ...]
    phrases: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Entry:
    category: str
    phrase: str  # as written in the list: what staff see
    pattern: re.Pattern[str]
    starts_with_negator: bool  # "no quiero vivir", "can't go on": a negator is part of the statement


def normalise(text: str) -> str:
    """The text as matching sees it: casefolded, without accents, apostrophes or hyphens, spaces collapsed.

    Lines stay lines, because a line break ends a clause."""
    text = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES).casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.replace("'", "").replace("-", " ")
    text = re.sub(r"[^\S\n]+", " ", text)
    return re.sub(r" ?\n\s*", "\n", text).strip()


def own_words(text: str) -> str:
    """The text without what it quotes."""
    return _QUOTED.sub(" ", _QUOTED_LINE.sub("", text))


def _pattern(words: list[str]) -> re.Pattern[str]:
    said = [w for w in words if not w.startswith("!")]
    unless = [re.escape(w[1:]) for w in words if w.startswith("!")]
    body = r"\s+".join(re.escape(w).replace(r"\*", r"\w*") for w in said)
    not_followed = rf"(?!\s+(?:{'|'.join(unless)})(?!\w))" if unless else ""
    return re.compile(rf"(?<!\w){body}(?!\w){not_followed}")


def _load(path: Path) -> tuple[tuple[_Entry, ...], frozenset[str]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    negators = frozenset(normalise(word) for words in data["negators"].values() for word in words)
    entries = []
    for category in CATEGORIES:
        for phrases in data[category].values():
            for phrase in phrases:
                words = normalise(phrase).split()
                entries.append(_Entry(category, phrase, _pattern(words), words[0] in negators))
    return tuple(entries), negators


_ENTRIES, _NEGATORS = _load(PHRASES_FILE)


def _negated(text: str, start: int) -> bool:
    clause = _CLAUSE_BREAK.split(text[:start])[-1]
    return any(word in _NEGATORS for word in _WORD.findall(clause)[-NEGATION_WINDOW:])


def assess_post(text: str) -> CrisisFlag | None:
    """A flag when the post's own words say crisis or use in a plain statement, else None."""
    said = normalise(own_words(text))
    matched = [
        entry
        for entry in _ENTRIES
        if any(entry.starts_with_negator or not _negated(said, m.start()) for m in entry.pattern.finditer(said))
    ]
    if not matched:
        return None
    return CrisisFlag(
        categories=tuple(sorted({entry.category for entry in matched})),
        phrases=tuple(dict.fromkeys(entry.phrase for entry in matched)),
    )
