"""A small helper for queries whose filters are optional."""

from __future__ import annotations

from typing import Any


class Params:
    """Numbered parameters and the conditions that use them.

    Only the filters actually given go into the WHERE clause, so the planner can use the
    matching index (`x = $1 or $1 is null` would defeat it on a large table).
    """

    def __init__(self) -> None:
        self.values: list[Any] = []
        self.conditions: list[str] = []

    def add(self, value: Any) -> str:
        """Register a value; return its placeholder (`$n`)."""
        self.values.append(value)
        return f"${len(self.values)}"

    def where(self, condition: str, *values: Any) -> None:
        """Add a condition; `{}` in it stand for `values`, in order."""
        self.conditions.append(condition.format(*(self.add(v) for v in values)))

    def clause(self) -> str:
        return " and ".join(self.conditions) or "true"
