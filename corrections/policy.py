"""Who must approve a correction: a pure function of its impact and the pinned rule set version.

- Within the auto-correction limits, the amount in the reporting currency *and* the change as a
  percentage, it is approved automatically, and the note names the limits that allowed it.
- Otherwise one approver who is not its creator; above the second threshold two distinct ones.
- A correction that cannot be valued (no price) is never automatic and needs two approvers:
  nobody can say it is small.

The change's percentage is |delta| / |corrected value| * 100 (100 when the corrected value is
zero): how far the book moves, against what it should say, like a break's difference_pct.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property


@dataclass(frozen=True)
class Limits:
    reporting_currency: str
    auto_max_value: Decimal
    auto_max_percent: Decimal
    one_approver_above: Decimal
    two_approvers_above: Decimal

    @classmethod
    def of(cls, definition) -> Limits:
        """The limits of a RuleDefinition (engine/rule_definition.py)."""
        return cls(
            definition.reporting_currency, definition.auto_correct_max_value,
            definition.auto_correct_max_percent, definition.one_approver_above,
            definition.two_approvers_above,
        )  # fmt: skip

    @cached_property
    def shown(self) -> dict[str, str]:
        """The limits as notes show them, written once (a run decides a hundred thousand)."""
        return {name: _n(getattr(self, name)) for name in (
            "auto_max_value", "auto_max_percent", "one_approver_above", "two_approvers_above",
        )}  # fmt: skip


@dataclass(frozen=True)
class Decision:
    approvals_required: int
    auto_approved: bool
    note: str


def change_percent(delta: Decimal | None, corrected: Decimal | None) -> Decimal | None:
    if delta is None:
        return None
    if not corrected:
        return Decimal(100) if delta else Decimal(0)
    return abs(delta) / abs(corrected) * 100


def decide(impact: Decimal | None, percent: Decimal | None, limits: Limits) -> Decision:
    currency, shown = limits.reporting_currency, limits.shown
    if impact is None:
        return NO_PRICE
    impact = abs(impact)
    if (
        percent is not None
        and impact <= limits.auto_max_value
        and percent <= limits.auto_max_percent
    ):
        return Decision(
            0, True,
            f"within the auto-correction limits: {_n(impact)} {currency} <= "
            f"{shown['auto_max_value']} {currency} and {_pct(percent)}% <= "
            f"{shown['auto_max_percent']}%",
        )  # fmt: skip
    if impact > limits.two_approvers_above:
        return Decision(
            2, False, f"{_n(impact)} {currency} > {shown['two_approvers_above']} {currency}: "
            "two approvers"
        )  # fmt: skip
    if impact > limits.one_approver_above:
        why = f"{_n(impact)} {currency} > {shown['one_approver_above']} {currency}"
    elif impact > limits.auto_max_value:
        why = f"{_n(impact)} {currency} > the auto-correction limit {shown['auto_max_value']}"
    else:
        why = f"{_pct(percent)}% > the auto-correction limit {shown['auto_max_percent']}%"
    return Decision(1, False, f"{why}: one approver")


NO_PRICE = Decision(2, False, "no price values it: two approvers")
CENT = Decimal("0.01")


def _n(value: Decimal | None) -> str:
    if value is None:
        return "?"
    return format(value.quantize(CENT) if abs(value) >= 1 else value.normalize(), "f")


def _pct(value: Decimal | None) -> str:
    """A percentage for people: two places, never rounded to the limit it is compared with."""
    if value is None:
        return "?"
    shown = value.quantize(CENT)
    return format(shown if shown != 0 or value == 0 else value.normalize(), "f")
