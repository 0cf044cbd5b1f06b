"""System checks for the API token settings (run by `manage.py check` and every start)."""

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security)
def api_token_lifetimes(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """The default lifetime must be one a token may have, or every default token is refused."""
    most, default = settings.API_TOKEN_MAX_DAYS, settings.API_TOKEN_DAYS
    problems = []
    if most < 1:
        problems.append(
            checks.Error(
                f"API_TOKEN_MAX_DAYS is {most}: no API token could be made.",
                hint="Set it to 1 or more (365 by default).",
                id="accounts.E001",
            )
        )
    elif not 1 <= default <= most:
        problems.append(
            checks.Error(
                f"API_TOKEN_DAYS is {default}, outside 1..API_TOKEN_MAX_DAYS ({most}).",
                hint="Tokens made without a number of days would be refused.",
                id="accounts.E002",
            )
        )
    per_user = settings.API_TOKENS_PER_USER
    if per_user < 1:
        problems.append(
            checks.Error(
                f"API_TOKENS_PER_USER is {per_user}: no API token could be made.",
                hint="Set it to 1 or more (20 by default).",
                id="accounts.E003",
            )
        )
    return problems
