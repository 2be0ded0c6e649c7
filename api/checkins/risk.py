"""Pure risk rules: what a check-in says about how someone is doing. No I/O here.

Each rule gives a reason with a severity; each reason opens (or joins) an alert of its kind,
so counselors see why, not just a score."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import TypedDict

LOW, MEDIUM, HIGH, CRITICAL = 1, 2, 3, 4
SEVERITY_NAMES = {LOW: "low", MEDIUM: "medium", HIGH: "high", CRITICAL: "critical"}
SEVERITY_VALUES = {name: value for value, name in SEVERITY_NAMES.items()}
CRAVING_HIGH = 8
CRAVING_ABOVE_MEDIAN = 3
CRAVING_HISTORY = 14  # check-ins the median looks at
CRAVING_MIN_HISTORY = 5
SCREEN_POSITIVE = 3  # PHQ-2 or GAD-2 total


@dataclass(frozen=True, slots=True)
class Answers:
    mood: int
    craving: int
    used: bool
    need_support: str  # no, talk_soon, crisis_now
    phq2: tuple[int, int] | None = None
    gad2: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    kind: str  # the alert it belongs to
    severity: int
    message: str


def assess(answers: Answers, earlier: list[Answers]) -> list[Reason]:
    """Reasons for concern in a check-in, given the person's earlier ones (newest first)."""
    reasons = []
    if answers.need_support == "crisis_now":
        reasons.append(Reason("crisis_now", "crisis", CRITICAL, "Asked for help now (in crisis)."))
    elif answers.need_support == "talk_soon":
        reasons.append(Reason("talk_soon", "talk_soon", HIGH, "Asked to talk soon."))
    if answers.used:
        reasons.append(Reason("reported_use", "reported_use", HIGH, "Reported use since the last check-in."))
    cravings = [e.craving for e in earlier[:CRAVING_HISTORY]]
    if answers.craving >= CRAVING_HIGH:
        reasons.append(Reason("craving_high", "craving", MEDIUM, f"Craving {answers.craving} of 10."))
    elif len(cravings) >= CRAVING_MIN_HISTORY and answers.craving >= statistics.median(cravings) + CRAVING_ABOVE_MEDIAN:
        usual = statistics.median(cravings)
        reasons.append(
            Reason("craving_above_usual", "craving", MEDIUM, f"Craving {answers.craving}, usually about {usual:g}.")
        )
    if answers.mood <= 2 and earlier and earlier[0].mood <= 2:
        reasons.append(Reason("low_mood_twice", "low_mood", MEDIUM, "Mood 2 or lower two check-ins running."))
    if answers.phq2 is not None and sum(answers.phq2) >= SCREEN_POSITIVE:
        reasons.append(Reason("phq2_positive", "screen", MEDIUM, f"PHQ-2 total {sum(answers.phq2)} (3 or more)."))
    if answers.gad2 is not None and sum(answers.gad2) >= SCREEN_POSITIVE:
        reasons.append(Reason("gad2_positive", "screen", MEDIUM, f"GAD-2 total {sum(answers.gad2)} (3 or more)."))
    return reasons


class CrisisResourceItem(TypedDict):
    name: str
    phone: str
    text: str | None
    url: str | None


CRISIS_RESOURCES: list[CrisisResourceItem] = [
    {
        "name": "988 Suicide & Crisis Lifeline",
        "phone": "988",
        "text": "988",
        "url": "https://988lifeline.org",
    },
    {
        "name": "Emergency services (immediate danger)",
        "phone": "911",
        "text": None,
        "url": None,
    },
    {
        "name": "SAMHSA National Helpline (free, confidential, 24/7)",
        "phone": "1-800-662-4357",
        "text": None,
        "url": "https://www.samhsa.gov/find-help/national-helpline",
    },
]
NOT_WATCHED = (
    "Check-ins are not watched around the clock. If you are in danger or thinking about "
    "harming yourself, call or text 988, or call 911 now."
)


def crisis_text() -> str:
    """The resources as one paragraph, for the inbox."""
    lines = []
    for item in CRISIS_RESOURCES:
        ways = [f"call {item['phone']}"] + ([f"text {item['text']}"] if item["text"] else [])
        lines.append(f"{item['name']}: {' or '.join(ways)}.")
    return " ".join(lines) + " " + NOT_WATCHED
