"""Write a dataset's stored, normalised records (keep this contract stable).

manage.py export_dataset DATASET_ID --format csv|json [--output PATH]
"""

import sys

from django.core.management.base import BaseCommand, CommandError

from reconciliation import export
from reconciliation.models import Dataset


class Command(BaseCommand):
    help = "Export a dataset's records (assets normalised, exact decimals as plain text)."

    def add_arguments(self, parser):
        parser.add_argument("dataset_id", type=int)
        parser.add_argument("--format", choices=export.FORMATS, default="csv")
        parser.add_argument("--output", help="file to write (default: standard output)")

    def handle(self, *args, **options):
        dataset = Dataset.objects.filter(pk=options["dataset_id"]).first()
        if dataset is None:
            raise CommandError(f"No dataset {options['dataset_id']}.")
        writer = export.write_csv if options["format"] == "csv" else export.write_json
        if options["output"]:
            with open(options["output"], "w", encoding="utf-8", newline="") as stream:
                count = writer(dataset, stream)
            self.stderr.write(f"Wrote {count} rows to {options['output']}")
        else:
            writer(dataset, sys.stdout)
