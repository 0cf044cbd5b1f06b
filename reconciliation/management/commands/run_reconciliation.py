"""Run a reconciliation and wait for it (keep this contract stable).

    manage.py run_reconciliation --type T --internal DATASET --external DATASET
        [--prices DATASET] [--rule-set-version V] [--timeout SECONDS] [--json]

Without --prices the latest prices dataset at the run's time is used (said on stderr, and
recorded on the run).

The run executes on a Celery worker (`make worker`). With --json the last line is
{"run_id": ..., "status": ..., "breaks": N, "by_severity": {...}, "prices_dataset": ID};
exit 1 unless it succeeded.
"""

import json
import time

from django.core.management.base import BaseCommand, CommandError

from config.errors import DomainError
from reconciliation import selectors
from reconciliation.models import Dataset, RuleSetVersion, Run
from reconciliation.runs import services as runs


def _dataset(value, name: str) -> Dataset:
    dataset = Dataset.objects.filter(pk=value).first()
    if dataset is None:
        raise CommandError(f"--{name}: no dataset {value}.")
    return dataset


class Command(BaseCommand):
    help = "Start a reconciliation run on a worker and wait for its result."

    def add_arguments(self, parser):
        parser.add_argument("--type", required=True, choices=selectors.run_types())
        parser.add_argument("--internal", required=True, type=int, help="internal dataset id")
        parser.add_argument("--external", required=True, type=int, help="external dataset id")
        parser.add_argument("--prices", type=int, help="prices dataset id (default: the latest)")
        parser.add_argument("--rule-set-version", type=int, help="id (default: latest default)")
        parser.add_argument("--timeout", type=int, default=3600, help="seconds to wait")
        parser.add_argument("--json", action="store_true", help="last line as JSON")

    def handle(self, *args, **options):
        version = None
        if options["rule_set_version"]:
            version = RuleSetVersion.objects.filter(pk=options["rule_set_version"]).first()
            if version is None:
                raise CommandError(f"No rule set version {options['rule_set_version']}.")
        try:
            run = runs.start_run(
                type=options["type"],
                internal=_dataset(options["internal"], "internal"),
                external=_dataset(options["external"], "external"),
                prices=_dataset(options["prices"], "prices") if options["prices"] else None,
                rule_set_version=version,
            )
        except DomainError as exc:
            details = "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.fields.items())
            raise CommandError(f"{exc.message} {details}".strip()) from exc
        if not options["prices"]:
            # Say which prices were used: the run records them, so repeating it values the same.
            chosen = (
                f"dataset {run.prices_dataset_id}, the latest at the run's time"
                if run.prices_dataset_id
                else "none (no prices dataset is loaded): breaks outside the reporting currency "
                "stay unvalued"
            )
            self.stderr.write(f"No --prices given; prices: {chosen}.")
        run = self._wait(run, options["timeout"])
        result = {
            "run_id": run.pk,
            "status": run.status,
            "breaks": run.break_count or 0,
            "by_severity": run.by_severity,
            "prices_dataset": run.prices_dataset_id,
        }
        if options["json"]:
            self.stdout.write(json.dumps(result))
        else:
            self.stdout.write(f"Run {run.pk}: {run.status}, {result['breaks']} breaks")
        if run.status != Run.Status.SUCCEEDED:
            raise CommandError(run.message or f"Run {run.pk} ended {run.status}.")

    def _wait(self, run: Run, timeout: int) -> Run:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run.refresh_from_db()
            if not run.is_active:
                return run
            time.sleep(0.2)
        raise CommandError(
            f"Run {run.pk} is still {run.status} after {timeout} s (is a worker running? "
            "`make worker`); it goes on, see /runs/."
        )
