"""Seal every webhook signing secret again under WEBHOOK_SECRETS_KEY, after rotating that key.

    manage.py reseal_webhook_secrets --as USERNAME

Set the new key as WEBHOOK_SECRETS_KEY and the old one in WEBHOOK_SECRETS_KEYS first; once this
has run, the old key opens nothing stored and may be dropped. USERNAME must be allowed to manage
webhook endpoints (an admin).
"""

from django.core.management.base import BaseCommand, CommandError

from config.errors import DomainError
from corrections import outbox
from corrections.management.acting import acting_user


class Command(BaseCommand):
    help = "Seal every webhook signing secret again under the current WEBHOOK_SECRETS_KEY."

    def add_arguments(self, parser):
        parser.add_argument("--as", required=True, dest="username", help="who reseals them")

    def handle(self, *args, **options):
        user = acting_user(options["username"], outbox.MANAGE,
                           "manage webhook endpoints (it takes the admin role)")  # fmt: skip
        try:
            count = outbox.reseal_secrets(by=user)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"{count} endpoint{'s' if count != 1 else ''}' signing secrets sealed again under "
            "WEBHOOK_SECRETS_KEY."
        )
