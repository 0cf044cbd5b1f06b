"""What the figures need of the runs in scope (no Django here); the breaks are the content's own
lines (types.BreakLine)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RunFigures:
    """What the figures need of a run in scope."""

    id: int
    account: str  # the book's account: book values are summed once per account
    compared: int
    break_count: int
    by_severity: dict[str, int]
