"""Append the audit chain's head to the export file: `manage.py export_audit_head [--path P]`."""

import json

from django.core.management.base import BaseCommand

from audit.services import export_head


class Command(BaseCommand):
    help = "Write the audit chain's head (sequence, hash) outside the database."

    def add_arguments(self, parser):
        parser.add_argument("--path", help="file to append to (default AUDIT_HEAD_EXPORT_PATH)")

    def handle(self, *args, **options):
        self.stdout.write(json.dumps(export_head(options["path"]), sort_keys=True))
