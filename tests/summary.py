"""What the run lists at its end: files tests leave for people to look at (a browser
screenshot) and what they measured (a fault's recovery time, attempts before a lock-out).
conftest.py's `pytest_terminal_summary` writes them out."""

from __future__ import annotations

ARTIFACTS: list[str] = []


def report(line: str) -> None:
    """A measurement worth seeing in CI's output, listed at the end of the run."""
    ARTIFACTS.append(line)
