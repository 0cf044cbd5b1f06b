"""Load a file as a dataset (operators and cron rely on this contract; keep it stable).

    manage.py import_dataset --source S --account A --format F PATH [--json]

With --json the last line is {"dataset_id": ..., "rows": N, "created": true|false}. On bad
input it exits 1 and prints the row-numbered errors.
"""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from config.errors import DomainError
from reconciliation.datasets import ingest
from reconciliation.selectors import account_named, source_named


class Command(BaseCommand):
    help = "Import a file (exchange export, internal book or prices) as one dataset."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--source", required=True, help="source code, e.g. kraken")
        parser.add_argument("--account", help="account code at that source (not for prices)")
        parser.add_argument("--format", required=True, choices=sorted(ingest.FORMATS))
        parser.add_argument("--json", action="store_true", help="last line as JSON")

    def handle(self, *args, **options):
        path = Path(options["path"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        try:
            source = source_named(options["source"])
            account = account_named(source, options["account"]) if options["account"] else None
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        try:
            result = ingest.import_file(
                source=source,
                account=account,
                format_code=options["format"],
                data=path.read_bytes(),
                filename=path.name,
            )
        except ingest.DatasetRejected as exc:
            for error in exc.errors.first():
                self.stderr.write(str(error))
            if exc.errors.total > len(exc.errors.first()):
                self.stderr.write(f"... and {exc.errors.total - 100} more errors")
            raise CommandError(exc.message) from exc
        dataset = result.dataset
        if options["json"]:
            line = {"dataset_id": dataset.pk, "rows": dataset.row_count, "created": result.created}
            self.stdout.write(json.dumps(line))
        else:
            verb = "Loaded" if result.created else "Already loaded as"
            self.stdout.write(
                f"{verb} dataset {dataset.pk}: {dataset.row_count} {dataset.kind} rows"
            )
