"""Webhook signing secrets sealed at rest: the database holds them encrypted, never in clear.

A secret signs every message to its endpoint, so whoever reads it can forge messages the trading
system trusts; a database dump, a replica or a backup must not hand it out. Each secret is
stored as `sealed:v1:` and a Fernet token (AES-128-CBC with HMAC-SHA256, `cryptography`) under a
key from the environment, which the database never holds:

- WEBHOOK_SECRETS_KEY seals new secrets and opens those it sealed;
- WEBHOOK_SECRETS_KEYS (comma-separated) are earlier keys, kept only to open what they sealed:
  to rotate, make the new key WEBHOOK_SECRETS_KEY, append the old one to WEBHOOK_SECRETS_KEYS,
  and run `manage.py reseal_webhook_secrets` (then the old key may go).

Unset, a development key everyone knows seals them, which `check --deploy` refuses (as with
SECRET_KEY and AUDIT_HMAC_KEY: the demo and the tests run without configuring one).
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from config.errors import DomainError

PREFIX = "sealed:v1:"
DEVELOPMENT_KEY = "recondesk-development-webhook-key-do-not-use-in-production"
MIN_KEY_LENGTH = 32


class SecretUnreadable(DomainError):
    code = "webhook_secret_unreadable"


def _fernet(key: str) -> Fernet:
    # A Fernet key is 32 bytes: derived from the configured text (a long random secret, so a
    # plain hash serves; the label keeps it apart from any other use of the same text).
    digest = hashlib.sha256(b"recondesk webhook secrets\0" + key.encode("utf-8")).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _keys() -> MultiFernet:
    current = settings.WEBHOOK_SECRETS_KEY or DEVELOPMENT_KEY
    earlier = [key for key in settings.WEBHOOK_SECRETS_KEYS if key]
    return MultiFernet([_fernet(current), *(_fernet(key) for key in earlier)])


def seal(secret: str) -> str:
    """The text stored for `secret`."""
    return PREFIX + _keys().encrypt(secret.encode("utf-8")).decode("ascii")


def is_sealed(stored: str) -> bool:
    return stored.startswith(PREFIX)


def unseal(stored: str) -> str:
    """The secret a stored text holds; SecretUnreadable when no configured key opens it."""
    return _opened(stored, lambda keys, token: keys.decrypt(token)).decode("utf-8")


def resealed(stored: str) -> str:
    """`stored` sealed again under the current key (after a key rotation); SecretUnreadable
    when no configured key opens it."""
    return PREFIX + _opened(stored, lambda keys, token: keys.rotate(token)).decode("ascii")


def _opened(stored: str, use) -> bytes:
    if not is_sealed(stored):
        raise SecretUnreadable("A webhook secret is stored unsealed: run `manage.py migrate`.")
    try:
        return use(_keys(), stored[len(PREFIX) :].encode("ascii"))
    except (InvalidToken, UnicodeError) as error:
        raise SecretUnreadable(
            "A webhook signing secret cannot be opened with WEBHOOK_SECRETS_KEY or "
            "WEBHOOK_SECRETS_KEYS: set the key that sealed it (kept in WEBHOOK_SECRETS_KEYS "
            "after a rotation), or rotate the endpoint's secret."
        ) from error
