"""Build a report at once and write it to a file (no worker needed).

    manage.py generate_report --run RUN --format pdf --output report.pdf
    manage.py generate_report --from 2026-12-01 --to 2026-12-07 --format xlsx --output week.xlsx
        [--type TYPE] [--source SOURCE] [--account ACCOUNT] [--severity SEVERITY] [--overwrite]

The same content and renderers as the reports page; audited as `report.written`.
"""

from datetime import date
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from config.errors import DomainError
from reports import services
from reports.models import FORMATS
from reports.scope import Wanted


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{text!r} is not a day (YYYY-MM-DD).") from None


class Command(BaseCommand):
    help = "Build a report of a run or a period and write it to a file."

    def add_arguments(self, parser):
        parser.add_argument("--run", type=int, help="the run's id")
        parser.add_argument("--from", dest="period_from", help="first day (UTC), YYYY-MM-DD")
        parser.add_argument("--to", dest="period_to", help="last day (UTC, inclusive)")
        parser.add_argument("--format", required=True, choices=FORMATS)
        parser.add_argument("--output", required=True, help="the file to write")
        parser.add_argument("--overwrite", action="store_true", help="replace an existing file")
        for name in ("type", "source", "account", "severity"):
            parser.add_argument(f"--{name}", default="", help=f"only this {name}")

    def handle(self, *args, **options):
        if options["run"] is None and not (options["period_from"] and options["period_to"]):
            raise CommandError("Give --run RUN, or --from DAY and --to DAY.")
        if options["run"] is not None and (options["period_from"] or options["period_to"]):
            raise CommandError("Give --run or a period (--from, --to), not both.")
        filters = {n: options[n] for n in ("type", "source", "account", "severity") if options[n]}
        if options["run"] is not None:
            wanted = Wanted(run_id=options["run"], filters=filters)
        else:
            wanted = Wanted(
                period_from=_day(options["period_from"]),
                period_to=_day(options["period_to"]),
                filters=filters,
            )
        output = Path(options["output"]).expanduser().resolve()
        try:
            size, digest = services.write_report_file(
                wanted,
                format_=options["format"],
                output=output,
                by_label="command line",
                overwrite=options["overwrite"],
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Wrote {output} ({size:,} bytes, SHA-256 {digest}).")
