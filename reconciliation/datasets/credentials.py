"""Exchange API credentials: from the environment, or stored encrypted (never shown back).

Environment first: `EXCHANGE_<SOURCE>_<ACCOUNT>_API_KEY` and `..._API_SECRET` (upper case, '-'
as '_'), e.g. EXCHANGE_KRAKEN_MAIN_API_KEY. Otherwise the account's stored credential, encrypted
with Fernet under CREDENTIALS_ENCRYPTION_KEY (make one with `manage.py make_credentials_key`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import transaction

from audit import services as audit
from config.errors import DomainError
from reconciliation.models import Account, ExchangeCredential


class CredentialsMissing(DomainError):
    code = "credentials_missing"


@dataclass(frozen=True)
class Credentials:
    api_key: str
    secret: str

    def __repr__(self) -> str:  # never in a log or a traceback
        return "Credentials(<hidden>)"


def _fernet() -> Fernet:
    key = settings.CREDENTIALS_ENCRYPTION_KEY
    if not key:
        raise CredentialsMissing(
            "CREDENTIALS_ENCRYPTION_KEY is not set, so credentials cannot be stored or read; "
            "set it (manage.py make_credentials_key) or use EXCHANGE_..._API_KEY variables."
        )
    try:
        return Fernet(key.encode())
    except ValueError as exc:
        raise CredentialsMissing("CREDENTIALS_ENCRYPTION_KEY is not a valid Fernet key.") from exc


def environment_prefix(account: Account) -> str:
    name = f"{account.source.code}_{account.code}".upper().replace("-", "_")
    return f"EXCHANGE_{name}_"


def store(account: Account, *, api_key: str, secret: str, by) -> None:
    """Encrypt and store an account's credentials (audited without their values)."""
    if not api_key.strip() or not secret.strip():
        raise DomainError("Both the API key and the secret are required.")
    box = _fernet()
    with transaction.atomic():
        ExchangeCredential.objects.update_or_create(
            account=account,
            defaults={
                "api_key_encrypted": box.encrypt(api_key.strip().encode()).decode(),
                "secret_encrypted": box.encrypt(secret.strip().encode()).decode(),
                "updated_by": audit.acting_user(by),
            },
        )
        audit.record(
            action="credentials.stored", actor=by, object_type="account", object_id=account.pk,
            after={"account": str(account), "api_key": "<hidden>", "secret": "<hidden>"},
        )  # fmt: skip


def for_account(account: Account) -> Credentials:
    """The account's credentials: environment variables first, then the stored ones."""
    prefix = environment_prefix(account)
    key, secret = os.environ.get(prefix + "API_KEY"), os.environ.get(prefix + "API_SECRET")
    if key and secret:
        return Credentials(key, secret)
    stored = ExchangeCredential.objects.filter(account=account).first()
    if stored is None:
        raise CredentialsMissing(
            f"No API credentials for {account}: set {prefix}API_KEY and {prefix}API_SECRET, "
            "or store them in Django admin (Exchange credentials)."
        )
    box = _fernet()
    try:
        return Credentials(
            box.decrypt(stored.api_key_encrypted.encode()).decode(),
            box.decrypt(stored.secret_encrypted.encode()).decode(),
        )
    except InvalidToken as exc:
        raise CredentialsMissing(
            f"The stored credentials of {account} cannot be decrypted with the current "
            "CREDENTIALS_ENCRYPTION_KEY; store them again."
        ) from exc
