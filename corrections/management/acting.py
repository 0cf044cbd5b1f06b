"""Who a command acts as, and the run it names: clear CLI errors when either is not there."""

from django.core.management.base import CommandError

from accounts.access import has_capability
from corrections import selectors


def acting_user(username: str):
    user = selectors.user_named(username)
    if user is None:
        raise CommandError(f"No active user {username!r}.")
    if not has_capability(user, "approve_corrections"):
        raise CommandError(
            f"{username} may not apply or roll back corrections (it takes the risk role)."
        )
    return user


def run_of(run_id: int):
    run = selectors.run_by_id(run_id)
    if run is None:
        raise CommandError(f"No run {run_id}.")
    return run
