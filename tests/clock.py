"""The fixed instants at which the tests that depend on the clock run, so that the suite's
result cannot depend on when it runs.

A test marked `@pytest.mark.clock_instants` (a module: `pytestmark =
pytest.mark.clock_instants`) runs once per instant below, its id naming the instant
(`test_x[utc-midnight-before]`); `@pytest.mark.clock_instants("utc-midnight-before", ...)`
runs it at the named ones only (FEW and ONCE below, for slow tests and for those that read
the clock only in passing). conftest.py's `clock_instant` fixture freezes the clock
there with time-machine for the whole test, function-scoped fixtures included (session
fixtures, such as the fake Google endpoints' certificates, keep real time).

Frozen, not ticking: a clock started 10 s before midnight and left to tick is past
midnight in a slow run and not in a fast one, which is the dependence these pins remove.
Nothing pinned needs the wall clock to move: asyncio's timers, the tests' own deadlines and
the timeouts of httpx, asyncpg and uvicorn read time.monotonic, which time-machine leaves
alone (Streamlit's AppTest reads time.time for its timeout; the `dashboard` fixture points
it at the monotonic clock). A pinned test that needs two moments passes them explicitly.
PostgreSQL's clock is not frozen: where a statement stores a time that a rule later
compares with Python's "now" (activation, reactivation, a plan override), the app passes
Python's time to it; tests that compare other times PostgreSQL stores (the audit log's,
a sign-in lock-out's) with Python's clock are not pinned.

Each instant is 10 s from an edge, in 2026: the year of the fixed dates some pinned tests
ask about (the DST weeks in tests/groups/test_group_sessions.py), which stay within the two years
around "now" that the session routes accept, whatever year the suite really runs in.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Iterator
from typing import NamedTuple

import time_machine


class Instant(NamedTuple):
    name: str
    at: dt.datetime
    why: str


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


INSTANTS: tuple[Instant, ...] = (
    Instant(
        "utc-midnight-before",
        _at("2026-06-16T23:59:50Z"),
        "an ordinary Tuesday 10 s before UTC midnight: Berlin, Kolkata and Tokyo are already on"
        " Wednesday, the Americas on Tuesday (Chicago at 18:59:50, 10 s before the Tuesday"
        " 19:00 group of tests/helpers.py starts)",
    ),
    Instant(
        "utc-midnight-after",
        _at("2026-06-17T00:00:10Z"),
        "10 s after UTC midnight: UTC's date is Wednesday, Chicago's still Tuesday (its group started 10 s ago)",
    ),
    Instant(
        "us-spring-before",
        _at("2026-03-08T07:59:50Z"),
        "Chicago at 01:59:50 CST, 10 s before it springs forward to 03:00 (a 23-hour day);"
        " Los Angeles 10 s before its midnight, New York already on summer time",
    ),
    Instant(
        "us-spring-after",
        _at("2026-03-08T08:00:10Z"),
        "Chicago at 03:00:10 CDT, just past the skipped hour; Los Angeles just into Sunday",
    ),
    Instant(
        "us-autumn-before",
        _at("2026-11-01T06:59:50Z"),
        "Chicago at 01:59:50 CDT, 10 s before it falls back (a 25-hour day); New York already in its repeated hour",
    ),
    Instant(
        "us-autumn-after",
        _at("2026-11-01T07:00:10Z"),
        "Chicago at 01:00:10 CST, the second time that hour comes round",
    ),
    Instant(
        "eu-spring-before",
        _at("2026-03-29T00:59:50Z"),
        "Berlin at 01:59:50 CET and London at 00:59:50 GMT, 10 s before Europe springs forward,"
        " three weeks after the US did (Chicago is 6 hours behind Berlin until then, 7 after)",
    ),
    Instant(
        "eu-spring-after",
        _at("2026-03-29T01:00:10Z"),
        "Berlin at 03:00:10 CEST and London at 02:00:10 BST, just past the skipped hour",
    ),
    Instant(
        "new-year-utc",
        _at("2026-12-31T23:59:50Z"),
        "New Year's Eve 10 s before UTC's midnight: Berlin, Kolkata, Tokyo and Auckland are in"
        " 2027, London and the Americas in 2026",
    ),
    Instant(
        "new-year-kiritimati",
        _at("2026-12-31T10:00:10Z"),
        "Kiritimati (UTC+14) 10 s into 2027, Auckland at 23:00 on New Year's Eve, Pago Pago"
        " (UTC-11) still on 30 December: three dates at once, the widest spread there is",
    ),
)

# Every instant for every pinned test would add minutes to each CI run, so two shorter lists:
# - FEW, for tests whose outcome depends on the date but not on a DST change: slow ones
#   (seconds a run: the populations of tests/checkins/test_slots_sql.py, the dashboard), those whose
#   graduates live in UTC, and those whose group meets at a time helpers.slot_starting_in
#   picks (in the first zone where the session fits the local day: UTC, unless UTC midnight is
#   near, so a DST change elsewhere goes unseen). UTC's date about to change and just changed
#   (the Americas a date behind it), and three dates at once on New Year's Eve;
# - ONCE, for tests that read the clock only in passing (a check-in made "now", whose date
#   and hour the test does not look at): pinned so that they run the same whenever they run,
#   at the instant where the most dates differ.
FEW = ("utc-midnight-before", "utc-midnight-after", "new-year-kiritimati")
ONCE = ("utc-midnight-before",)

_BY_NAME = {instant.name: instant for instant in INSTANTS}


def chosen(names: tuple[str, ...]) -> list[Instant]:
    """The instants a marker names, in this file's order; every one when it names none."""
    unknown = set(names) - set(_BY_NAME)
    if unknown:
        raise ValueError(f"unknown clock instants {sorted(unknown)}: tests/clock.py has {sorted(_BY_NAME)}")
    return [instant for instant in INSTANTS if not names or instant.name in names]


class TotpSteps:
    """A clock frozen near real time and moved on by hand, 30-second steps at a time, for
    two-factor sign-in: an authenticator app's code is good once per step, so each use of one
    in a test takes a later step's code. Near real time, not at a fixed instant: PostgreSQL's
    clock, which stamps sign-in locks and forgets old sign-in challenges, stays within
    minutes of it."""

    def __init__(self, traveller) -> None:
        self._traveller = traveller

    def step(self, steps: int = 1) -> None:
        self._traveller.shift(30 * steps)


@contextlib.contextmanager
def totp_steps() -> Iterator[TotpSteps]:
    # 10 s into the next step: never before a token issued by a fixture set up earlier.
    start = (int(time.time()) // 30 + 1) * 30 + 10
    with time_machine.travel(start, tick=False) as traveller:
        yield TotpSteps(traveller)
