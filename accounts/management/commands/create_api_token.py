"""Create a named API token and print it once: `manage.py create_api_token USERNAME --name N`."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts import api_tokens
from accounts.access import user_roles


class Command(BaseCommand):
    help = (
        "Create an API token for a user and print it. It is shown this once: only its digest "
        "is stored."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", required=True, help="what the token is for, e.g. 'ledger'")
        parser.add_argument("--days", type=int, default=None, help="days until it expires")

    def handle(self, *args, **options):
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user named {options['username']!r}.")
        try:
            token, secret = api_tokens.create_api_token(
                user, name=options["name"], days=options["days"], by=None
            )
        except api_tokens.ApiTokenInvalid as exc:
            problems = [p for field in exc.fields.values() for p in field]
            raise CommandError(" ".join(problems) or exc.message) from exc
        self.stderr.write(
            f"Token {token.name!r} for {user.get_username()}, expires "
            f"{token.expiry:%Y-%m-%d %H:%M} UTC. It is shown only now; keep it somewhere safe."
        )
        if not user_roles(user):
            self.stderr.write(
                f"{user.get_username()} has no role yet: the API refuses the token until they "
                "get one (manage.py set_roles)."
            )
        self.stdout.write(secret)
