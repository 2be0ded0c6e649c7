"""What each demo graduate answers, and when: drawn slot by slot over the product's own plan
(api/checkins/plan.py), by their pattern (api/demo/people.py). Pure: no I/O, one seeded
random generator per graduate. What the answers mean (risk reasons, alerts) is left to the
product: api/demo/history.py stores them as `submit()` would."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass

from api.checkins import plan
from api.checkins.schemas import CheckinRequest, NeedSupport
from api.demo.people import CRAVING, CRISIS, FADING, LOW_MOOD, RECOVERED, RELAPSE, TALK, Enrolled
from db.zones import zone_of

# Days of check-ins before the first sweep (api/demo/history.py): the 14-day window it
# judges adherence over, and the week it records misses in, are then filled.
LEAD_DAYS = 16
NOTES = [
    "Went for a long walk after work.",
    "Slept badly, busy week.",
    "Good meeting tonight.",
    "Called my sponsor.",
    "Tough day but I got through it.",
    "Cooked dinner with my sister.",
    "Back at the gym.",
    "Work was stressful, used my breathing exercise.",
    "Quiet weekend, read a book.",
    "Feeling steady.",
    "Helped a friend move.",
    "Tired but okay.",
]


@dataclass(frozen=True)
class Planned:
    """A check-in to submit: the answers, and when the server received it."""

    request: CheckinRequest
    received_at: dt.datetime
    crisis: bool


def _clip(value: float, low: int, high: int) -> int:
    return max(low, min(high, round(value)))


def _override(g: Enrolled) -> plan.Override | None:
    return plan.Override(plan.WEEKLY, g.iop + dt.timedelta(days=364)) if g.spec.extended else None


def _adherence(g: Enrolled, days_ago: int, base: float, weekly: bool) -> float:
    """The chance of a check-in in a slot that started `days_ago` days back."""
    if g.spec.pattern == FADING:
        stopped, fading = (15, 35) if weekly else (5, 15)  # two weekly slots missed: an alert
        if days_ago <= stopped:
            return 0.0
        if days_ago <= fading:
            return base * (days_ago - stopped) / (fading - stopped)
    if g.spec.pattern == RECOVERED and 50 <= days_ago <= 75:
        return 0.2
    return base


def draw(g: Enrolled, first_day: dt.date, now: dt.datetime, rng: random.Random) -> list[Planned]:
    """The graduate's check-ins from `first_day` (or their activation) up to `now`."""
    zone = zone_of(g.zone)
    today = now.astimezone(zone).date()
    assert g.activated_at is not None  # drawn for activated graduates only (history.py)
    activated_on = g.activated_at.astimezone(zone).date()
    override = _override(g)
    slots = [s for s in plan.slots_between(max(first_day, activated_on), today, g.iop, override)]
    slots = [s for s in slots if s.starts_on >= activated_on]  # as the product counts them
    last_ended = max((s for s in slots if s.ends_on < today), key=lambda s: s.ends_on, default=None)
    habit = rng.uniform(8.0, 20.5)  # the hour they usually check in
    base = rng.uniform(0.8, 0.95)
    mood_base, craving_base = rng.uniform(3.4, 4.4), rng.choice([0, 1, 1, 2, 2, 3])
    episode = g.spec.episode_days_ago
    peak = today - dt.timedelta(days=episode) if episode is not None else None
    planned: list[Planned] = []
    missed_last = False
    screened: set[tuple[int, int]] = set()
    previous_mood = 4
    for slot in slots:
        days_ago = (today - slot.starts_on).days
        recent = (today - slot.ends_on).days <= 14
        day = None
        if peak is not None and slot.starts_on <= peak <= slot.ends_on:
            day = peak  # the episode's check-in
        elif g.spec.pattern != FADING and (slot == last_ended or (recent and missed_last)):
            # Most are fine now: their last slot is done, and no two misses in a row lately.
            day = slot.starts_on + dt.timedelta(days=rng.randint(0, (slot.ends_on - slot.starts_on).days))
        elif rng.random() < _adherence(g, days_ago, base, slot.cadence == plan.WEEKLY):
            # Early in a slot more often than late.
            span = (slot.ends_on - slot.starts_on).days
            day = slot.starts_on + dt.timedelta(days=min(span, int(rng.random() ** 2 * (span + 1))))
        missed_last = day is None and slot.ends_on < today
        if day is None:
            continue
        hour = min(23.4, max(6.5, rng.gauss(habit, 1.2)))
        if day == peak and g.spec.pattern == CRISIS:
            hour = 21.5
        client_time = dt.datetime.combine(day, dt.time(int(hour), int(hour % 1 * 60)), tzinfo=zone)
        received_at = client_time.astimezone(dt.UTC) + dt.timedelta(seconds=rng.randint(2, 50))
        if received_at > now:
            continue
        quiet = (today - day).days > 10  # nothing unusual lately unless it is the episode
        mood = _clip(rng.gauss(mood_base, 0.6), 3, 5) if rng.random() > 0.03 else 2
        craving = _clip(rng.gauss(craving_base, 0.8), 0, craving_base + 2)
        need: NeedSupport
        used, need, note = False, "no", rng.choice(NOTES) if rng.random() < 0.08 else None
        if quiet and rng.random() < 0.012:
            craving = min(10, craving_base + rng.randint(4, 6))  # a spike: above their usual
        if quiet and rng.random() < 0.004:
            need = "talk_soon"
        if previous_mood <= 2 and mood <= 2:
            mood = 3  # low mood twice running is the episodes' (below)
        week = day.isocalendar()[:2]
        screen = week not in screened
        screened.add(week)
        phq2 = gad2 = None
        if screen:
            phq2 = [rng.choice([0, 0, 1, 1]), rng.choice([0, 0, 1])]
            gad2 = [rng.choice([0, 0, 1, 1]), rng.choice([0, 0, 1])]
            if quiet and rng.random() < 0.03:
                phq2 = [2, 1]
        if peak is not None:
            to_peak = (day - peak).days  # negative before it
            pattern = g.spec.pattern
            if pattern == RELAPSE and -3 <= to_peak <= 0:
                craving, mood = (9, 2) if to_peak == 0 else (rng.randint(5, 7), 3)
                used = to_peak == 0
                note = "Had a drink at a party. Not proud of it." if to_peak == 0 else note
            elif pattern == CRISIS and -1 <= to_peak <= 0:
                mood, craving = (1, 7) if to_peak == 0 else (2, 5)
                need = "crisis_now" if to_peak == 0 else need
                note = "Everything feels like too much tonight." if to_peak == 0 else note
            elif pattern == LOW_MOOD and -8 <= to_peak <= 0:
                mood = 1 if to_peak == 0 else 2
                if to_peak == 0:
                    phq2, gad2 = [2, 2], [2, 1]
                    note = "Can't get out of bed some days."
            elif pattern == TALK and to_peak == 0:
                need, note = "talk_soon", "Could use a call this week."
            elif pattern == CRAVING and to_peak == 0:
                craving = 8
        previous_mood = mood
        request = CheckinRequest(
            client_id=uuid.UUID(int=rng.getrandbits(128), version=4),
            client_time=client_time,
            mood=mood,
            craving=craving,
            used=used,
            sleep=_clip(rng.gauss(3.6, 0.8), 1, 5),
            need_support=need,
            note=note,
            phq2=phq2,
            gad2=gad2,
        )
        planned.append(Planned(request, received_at, need == "crisis_now"))
    return planned
