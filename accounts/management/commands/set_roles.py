"""Give a user exactly the named roles: `manage.py set_roles USERNAME [--role R ...]`."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts import services
from accounts.roles import ROLES


class Command(BaseCommand):
    help = "Set a user's roles (risk, finance, admin); no --role removes them all."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", action="append", default=[], choices=ROLES)

    def handle(self, *args, **options):
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user named {options['username']!r}.")
        services.set_roles(user, options["role"], by=None)
        roles = ", ".join(options["role"]) or "none"
        self.stdout.write(f"{user.get_username()}: roles {roles}")
