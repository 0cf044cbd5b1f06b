"""`manage.py check --deploy`: webhook signing secrets sealed with a key nobody else knows.

Unset, WEBHOOK_SECRETS_KEY falls back to the development key, which anyone with the source has:
a database dump would then hand out every endpoint's secret, and with it messages the trading
system trusts (corrections/sealing.py).
"""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from corrections import sealing


def sealing_key_problems() -> list:
    key = settings.WEBHOOK_SECRETS_KEY
    if not key:
        return [
            Error(
                "WEBHOOK_SECRETS_KEY is not set: webhook signing secrets are sealed with the "
                "development key, so a copy of the database gives them away.",
                hint="Set WEBHOOK_SECRETS_KEY to a random secret of at least "
                f"{sealing.MIN_KEY_LENGTH} characters, kept outside the database "
                '(python -c "import secrets; print(secrets.token_urlsafe(48))"), then run '
                "`manage.py reseal_webhook_secrets` (README, Webhook secrets).",
                id="corrections.E001",
            )
        ]
    kept = [k for k in settings.WEBHOOK_SECRETS_KEYS if k]
    if any(len(k) < sealing.MIN_KEY_LENGTH for k in [key, *kept]):
        return [
            Warning(
                "A webhook sealing key (WEBHOOK_SECRETS_KEY or WEBHOOK_SECRETS_KEYS) is shorter "
                f"than {sealing.MIN_KEY_LENGTH} characters: it may be guessed.",
                hint="Rotate to a longer random key (README, Webhook secrets).",
                id="corrections.W001",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def webhook_secrets_sealed(app_configs=None, **kwargs) -> list:
    return sealing_key_problems()
