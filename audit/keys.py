"""The keys that sign audit entries: from the environment, never from the database.

AUDIT_HMAC_KEY signs new entries. AUDIT_HMAC_KEYS holds earlier keys, kept only to verify the
entries they signed: to rotate, make the new secret AUDIT_HMAC_KEY and append the old one to
AUDIT_HMAC_KEYS. Each entry names its key (`key_id`), so old entries keep verifying.
"""

from __future__ import annotations

from django.conf import settings

from audit import chain

# Shorter secrets are reported by `check --deploy` (audit/checks.py).
MIN_KEY_LENGTH = 32
DEVELOPMENT_KEY = "recondesk-development-audit-key-do-not-use-in-production"


def _encoded(secret: str) -> bytes:
    return secret.encode("utf-8")


def current_secret() -> str:
    """AUDIT_HMAC_KEY; unset, a development key everyone knows, which `check --deploy` refuses.

    (As with SECRET_KEY: the demo and the tests run without configuring one, production may not.)
    """
    return settings.AUDIT_HMAC_KEY or DEVELOPMENT_KEY


def signing_key() -> tuple[str, bytes]:
    """(key id, key) that signs the entries written now."""
    key = _encoded(current_secret())
    return chain.key_id(key), key


def verification_keys() -> dict[str, bytes]:
    """Every configured key by its id: the current one and those kept from before a rotation."""
    secrets = [current_secret(), *settings.AUDIT_HMAC_KEYS]
    return {chain.key_id(_encoded(secret)): _encoded(secret) for secret in secrets if secret}
