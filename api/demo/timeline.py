"""The demo's past, replayed in time order: each step (the sweep, staff at work, an
announcement) runs at its instant, after everything earlier (the check-ins between two steps
are stored first, as one batch), so what the product works out at each step (misses in a
row, alerts joined or opened again) is what it would have worked out then."""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Awaitable, Callable

Step = Callable[[], Awaitable[None]]


class Timeline:
    def __init__(self) -> None:
        self._steps: list[tuple[dt.datetime, int, Step]] = []
        self._order = 0  # steps at one instant run in the order they were added

    def at(self, when: dt.datetime, step: Step) -> None:
        heapq.heappush(self._steps, (when, self._order, step))
        self._order += 1

    async def run(self, until: dt.datetime, catch_up: Callable[[dt.datetime], Awaitable[None]]) -> None:
        """Run every step up to `until`, steps added meanwhile included; before each, and at
        the end, `catch_up` with what happened in between (the check-ins, a batch at a time)."""
        while self._steps and self._steps[0][0] <= until:
            when, _, step = heapq.heappop(self._steps)
            await catch_up(when)
            await step()
        await catch_up(until)
