"""Write a run's breaks (keep this contract stable).

    manage.py export_breaks --run RUN --format csv|json [--output PATH]

One row per break: type, entity keys, field, internal value, external value, difference,
severity, causes.
"""

import sys

from django.core.management.base import BaseCommand, CommandError

from reconciliation.breaks import export as break_export
from reconciliation.models import Run


class Command(BaseCommand):
    help = "Export the breaks a run found, as CSV or JSON."

    def add_arguments(self, parser):
        parser.add_argument("--run", required=True, type=int)
        parser.add_argument("--format", choices=("csv", "json"), default="csv")
        parser.add_argument("--output", help="file to write (default: standard output)")

    def handle(self, *args, **options):
        run = Run.objects.filter(pk=options["run"]).first()
        if run is None:
            raise CommandError(f"No run {options['run']}.")
        writer = break_export.write_csv if options["format"] == "csv" else break_export.write_json
        rows = break_export.run_breaks(run)
        if options["output"]:
            with open(options["output"], "w", encoding="utf-8", newline="") as stream:
                count = writer(rows, stream)
            self.stderr.write(f"Wrote {count} breaks to {options['output']}")
        else:
            writer(rows, sys.stdout)
