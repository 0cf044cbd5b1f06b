"""Corrections (SPEC 3): propose, approve, reject, apply, roll back; one or a run's all at once.

Every write is one transaction that locks the corrections it changes (in id order, so two
writers never wait on each other in a circle), moves them through `transitions.py`, writes
their book adjustments through `reconciliation.book.services`, and audits each step in the
same transaction: a failure anywhere leaves nothing behind.

Applying checks that the book still holds what the correction says it changes (the stale
guard): a correction whose original value is not the effective book's value now is refused,
naming both, and nothing changes.
"""

from corrections.services.applying import apply, apply_run
from corrections.services.common import CorrectionRefused, NotAllowed, StaleCorrection
from corrections.services.deciding import REVISED, approve, approve_many, reject, revise
from corrections.services.proposing import propose, propose_for_run
from corrections.services.rolling_back import roll_back, roll_back_run

__all__ = ["REVISED", "CorrectionRefused", "NotAllowed", "StaleCorrection", "apply", "apply_run",
           "approve", "approve_many", "propose", "propose_for_run", "reject", "revise",
           "roll_back", "roll_back_run"]  # fmt: skip
