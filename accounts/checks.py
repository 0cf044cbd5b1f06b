"""System checks for the sign-in and API token settings (`manage.py check`, every start)."""

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security)
def forwarded_for_switch_is_deprecated(app_configs, **kwargs):
    """TRUST_X_FORWARDED_FOR took the client's own first entry; it now maps to one proxy."""
    if not getattr(settings, "TRUST_X_FORWARDED_FOR_GIVEN", False):
        return []
    return [
        checks.Warning(
            "TRUST_X_FORWARDED_FOR is deprecated and will be removed; "
            f"TRUSTED_PROXY_COUNT={settings.TRUSTED_PROXY_COUNT} is in effect.",
            hint=(
                "Remove TRUST_X_FORWARDED_FOR and set TRUSTED_PROXY_COUNT to the number of "
                "reverse proxies in front of the app (1 for a single nginx or load balancer, "
                "0 when clients connect directly)."
            ),
            id="accounts.W010",
        )
    ]


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
