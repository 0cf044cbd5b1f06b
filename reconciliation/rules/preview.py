"""Previewing a draft rule set: replay a finished run's inputs under the draft, store nothing.

The run's datasets are immutable, so replaying them under another definition shows exactly
what publishing the draft would change for that run: breaks that would appear, disappear, or
change severity.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reconciliation.models import BreakObservation, RuleSetVersion, Run
from reconciliation.rules import services as rule_sets
from reconciliation.runs import engine_adapter as run_engine
from reconciliation.runs import inputs as run_inputs
from reconciliation.runs import services as runs


@dataclass
class Preview:
    run: Run
    appear: list[dict] = field(default_factory=list)
    disappear: list[dict] = field(default_factory=list)
    change: list[dict] = field(default_factory=list)
    unchanged: int = 0


def latest_runs(limit: int = 20):
    return Run.objects.filter(status=Run.Status.SUCCEEDED).order_by("-id")[:limit]


def preview(version: RuleSetVersion, run: Run) -> Preview:
    """What `run` would have found under `version` (its definition is validated first)."""
    definition = rule_sets.check(version.definition)
    if run.status != Run.Status.SUCCEEDED:
        raise runs.RunRefused(f"Run {run.pk} has not succeeded; choose a finished run.")
    result = run_engine.reconcile(run, run_inputs.load_inputs(run), definition)
    replayed = {
        row["break_key"]: row
        for row in result.breaks.select("break_key", "asset", "field", "severity").to_dicts()
    }
    stored = {
        key: {"break_key": key, "asset": asset, "field": field_name, "severity": severity}
        for key, asset, field_name, severity in BreakObservation.objects.filter(run=run)
        .values_list("break_record__break_key", "break_record__asset", "break_record__field",
                     "severity")
    }  # fmt: skip
    outcome = Preview(run=run)
    for key in sorted(set(replayed) | set(stored)):
        before, after = stored.get(key), replayed.get(key)
        if before is None:
            outcome.appear.append(after)
        elif after is None:
            outcome.disappear.append(before)
        elif before["severity"] != after["severity"]:
            outcome.change.append({**after, "was": before["severity"]})
        else:
            outcome.unchanged += 1
    return outcome
