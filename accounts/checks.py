"""System checks for the sign-in settings (shown by `manage.py check` and `check --deploy`)."""

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
