"""Verify the audit log's hash chain: `manage.py verify_audit_chain [--json]`; exit 1 if broken."""

import json

from django.core.management.base import BaseCommand, CommandError

from audit.selectors import verify_chain


class Command(BaseCommand):
    help = "Check every link of the audit log's hash chain and report the first bad entry."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args, **options):
        report = verify_chain()
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), sort_keys=True))
        elif report.ok:
            self.stdout.write(
                f"OK: {report.checked} entries verified; head #{report.head_sequence} "
                f"{report.head_hash}"
            )
        if not report.ok:
            raise CommandError(
                f"audit chain broken at entry {report.bad_sequence}: {report.problem}"
            )
