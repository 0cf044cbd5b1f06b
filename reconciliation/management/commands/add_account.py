"""Create a source and an account if missing.

manage.py add_account SOURCE ACCOUNT [--kind K] [--exchange E] [--name N]
"""

from django.core.management.base import BaseCommand, CommandError

from config.errors import DomainError
from reconciliation.datasets import services
from reconciliation.models import Source


class Command(BaseCommand):
    help = "Create a source (if new) and an account at it (if new)."

    def add_arguments(self, parser):
        parser.add_argument("source")
        parser.add_argument("account")
        parser.add_argument("--kind", choices=Source.Kind.values, default=Source.Kind.EXCHANGE)
        parser.add_argument(
            "--exchange",
            choices=[c for c in Source.Exchange.values if c],
            help="the exchange whose files the account takes (left out for an exchange or "
            "custodian source: files of any exchange)",
        )
        parser.add_argument("--name", default="")

    def handle(self, *args, **options):
        try:
            account, created = services.ensure_account(
                source_code=options["source"],
                account_code=options["account"],
                kind=options["kind"],
                exchange=options["exchange"] or "",
                name=options["name"],
                by=None,
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"{'Created' if created else 'Exists'}: account {account}")
