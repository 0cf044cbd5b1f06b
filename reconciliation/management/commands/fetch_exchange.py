"""Pull an exchange account through its API (keep this contract stable).

    manage.py fetch_exchange --account A [--since DATE] [--kind KIND ...] [--json]

A is SOURCE/ACCOUNT (or a bare account code when only one source has it). DATE is ISO 8601
(`2026-01-01` or `2026-01-01T12:00:00Z`). KIND is balances, ledger, trades or margin, and may be
given more than once; without it: balances, ledger and trades. With --json the last line is
{"account": "kraken/main",
 "datasets": {"balances": {"dataset_id": .., "rows": N, "created": ..}, "ledger": .., "trades": ..}}
with one entry per kind fetched.
"""

import json
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from config.errors import DomainError
from reconciliation.datasets import ingest
from reconciliation.datasets.exchange_fetch import DEFAULT_KINDS, KINDS, fetch_exchange
from reconciliation.selectors import account_by_label


def _since(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise CommandError(f"--since {text!r} is not an ISO 8601 date or time.") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = (
        "Fetch balances, ledger entries and trades (or, with --kind margin, the margin figures) "
        "of an exchange account through its API."
    )

    def add_arguments(self, parser):
        parser.add_argument("--account", required=True, help="SOURCE/ACCOUNT, e.g. kraken/main")
        parser.add_argument("--since", help="only entries after this time (ISO 8601)")
        parser.add_argument(
            "--kind",
            action="append",
            choices=KINDS,
            help="what to fetch (repeatable); default: balances, ledger and trades",
        )
        parser.add_argument("--json", action="store_true", help="last line as JSON")

    def handle(self, *args, **options):
        since = _since(options["since"])
        try:
            account = account_by_label(options["account"])
            kinds = tuple(dict.fromkeys(options["kind"] or DEFAULT_KINDS))
            fetched = fetch_exchange(account, since=since, kinds=kinds)
        except ingest.DatasetRejected as exc:
            for error in exc.errors.first():
                self.stderr.write(str(error))
            raise CommandError(exc.message) from exc
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        datasets = {
            item.kind: {
                "dataset_id": item.result.dataset.pk if item.result else None,
                "rows": item.rows,
                "created": item.result.created if item.result else False,
            }
            for item in fetched
        }
        if options["json"]:
            self.stdout.write(json.dumps({"account": str(account), "datasets": datasets}))
        else:
            for kind, info in datasets.items():
                self.stdout.write(f"{kind}: {info['rows']} rows, dataset {info['dataset_id']}")
