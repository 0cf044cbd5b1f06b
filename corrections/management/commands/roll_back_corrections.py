"""Roll back every applied correction of a run, all or nothing.

    manage.py roll_back_corrections --run RUN --reason "..." --as USERNAME

USERNAME must be allowed to approve corrections (the risk role); the reversing adjustments are
written in one transaction, or none is.
"""

from django.core.management.base import BaseCommand, CommandError

from config.errors import DomainError
from corrections import selectors, services
from corrections.management.acting import acting_user, run_of


class Command(BaseCommand):
    help = "Roll back every applied correction of a run (all or nothing), with a reason."

    def add_arguments(self, parser):
        parser.add_argument("--run", required=True, type=int, help="the run's id")
        parser.add_argument("--reason", required=True, help="why they are rolled back")
        parser.add_argument("--as", required=True, dest="username", help="who rolls them back")

    def handle(self, *args, **options):
        user = acting_user(options["username"])
        run = run_of(options["run"])
        try:
            count = services.roll_back_run(run, by=user, reason=options["reason"])
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        counts = selectors.run_counts(run)
        self.stdout.write(
            f"Run {run.pk}: {count} correction{'s' if count != 1 else ''} rolled back by "
            f"{user.username}; {counts['rolled_back']} rolled back, {counts['applied']} still "
            "applied."
        )
