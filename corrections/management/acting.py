"""Who a command acts as, and the run it names: clear CLI errors when either is not there."""

from django.core.management.base import CommandError

from accounts.access import has_capability
from corrections import selectors

RISK_DOING = "apply or roll back corrections (it takes the risk role)"


def acting_user(username: str, capability: str = "approve_corrections", doing: str = RISK_DOING):
    user = selectors.user_named(username)
    if user is None:
        raise CommandError(f"No active user {username!r}.")
    if not has_capability(user, capability):
        raise CommandError(f"{username} may not {doing}.")
    return user


def run_of(run_id: int):
    run = selectors.run_by_id(run_id)
    if run is None:
        raise CommandError(f"No run {run_id}.")
    return run
