"""Apply every approved correction of a run to the book, all or nothing.

    manage.py apply_corrections --run RUN --as USERNAME

USERNAME must be allowed to approve corrections (the risk role); the run's approved
corrections are applied in one transaction, or none is (a stale one refuses them all).
"""

from django.core.management.base import BaseCommand, CommandError

from config.errors import DomainError
from corrections import selectors, services
from corrections.management.acting import acting_user, run_of


class Command(BaseCommand):
    help = "Apply every approved correction of a run to the book (all or nothing)."

    def add_arguments(self, parser):
        parser.add_argument("--run", required=True, type=int, help="the run's id")
        parser.add_argument("--as", required=True, dest="username", help="who applies them")

    def handle(self, *args, **options):
        user = acting_user(options["username"])
        run = run_of(options["run"])
        try:
            applied = services.apply_run(run, by=user)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        counts = selectors.run_counts(run)
        self.stdout.write(
            f"Run {run.pk}: {applied} correction{'s' if applied != 1 else ''} applied by "
            f"{user.username}; {counts['applied']} applied, {counts['pending']} pending, "
            f"{counts['approved']} approved in all."
        )
