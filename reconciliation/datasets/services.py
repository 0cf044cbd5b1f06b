"""Sources, accounts and asset aliases, changed with an audit entry (files in: ingest.py; exchange
API credentials: credentials.py)."""

from __future__ import annotations

from django.db import transaction
from django.utils.text import slugify

from audit import services as audit
from config.errors import DomainError
from reconciliation.datasets import frames
from reconciliation.importers.assets import ASSET_CODE
from reconciliation.models import Account, AssetAlias, Dataset, Source


class InvalidAlias(DomainError):
    code = "invalid_alias"


def ensure_account(
    *, source_code: str, account_code: str, kind: str, exchange: str = "", name: str = "", by
) -> tuple[Account, bool]:
    """The account `source_code/account_code`, creating the source and account if missing."""
    if slugify(source_code) != source_code or slugify(account_code) != account_code:
        raise DomainError("Source and account codes use lower-case letters, digits and '-'.")
    with transaction.atomic():
        source, source_created = Source.objects.get_or_create(
            code=source_code,
            defaults={"name": name or source_code, "kind": kind, "exchange": exchange},
        )
        account, created = Account.objects.get_or_create(source=source, code=account_code)
        if source_created:
            audit.record(
                action="source.created", actor=by, object_type="source", object_id=source.pk,
                after={"code": source.code, "kind": source.kind, "exchange": source.exchange},
            )  # fmt: skip
        if created:
            audit.record(
                action="account.created", actor=by, object_type="account", object_id=account.pk,
                after={"source": source.code, "code": account.code},
            )  # fmt: skip
    return account, created


def alias_problems(*, exchange: str, code: str, asset: str, alias: AssetAlias | None = None):
    """What is wrong with an alias, by field (empty: nothing); codes are compared upper-cased."""
    code, asset = code.strip().upper(), asset.strip().upper()
    problems = {}
    if not ASSET_CODE.match(code):
        problems["code"] = ["Not an asset code (letters and digits, optional suffix)."]
    if not ASSET_CODE.match(asset):
        problems["asset"] = ["Not an asset code (letters and digits, optional suffix)."]
    if exchange not in Source.Exchange.values:
        problems["exchange"] = [
            f"One of: {', '.join(v or '(any)' for v in Source.Exchange.values)}."
        ]
    clash = AssetAlias.objects.filter(exchange=exchange, code=code)
    if alias is not None:
        clash = clash.exclude(pk=alias.pk)
    if clash.exists():
        problems["code"] = [f"{code} already has an alias for this exchange."]
    return problems


def save_alias(*, exchange: str, code: str, asset: str, by, alias: AssetAlias | None = None):
    """Create or change an asset alias (audited); codes are upper-cased."""
    problems = alias_problems(exchange=exchange, code=code, asset=asset, alias=alias)
    if problems:
        raise InvalidAlias("The alias is not valid.", fields=problems)
    code, asset = code.strip().upper(), asset.strip().upper()
    with transaction.atomic():
        before = None
        if alias is None:
            alias = AssetAlias.objects.create(exchange=exchange, code=code, asset=asset)
        else:
            before = {"exchange": alias.exchange, "code": alias.code, "asset": alias.asset}
            AssetAlias.objects.filter(pk=alias.pk).update(exchange=exchange, code=code, asset=asset)
            alias.refresh_from_db()
        audit.record(
            action="asset_alias.saved", actor=by, object_type="asset_alias", object_id=alias.pk,
            before=before, after={"exchange": exchange, "code": code, "asset": asset},
        )  # fmt: skip
    return alias


def delete_alias(alias: AssetAlias, *, by) -> None:
    with transaction.atomic():
        before = {"exchange": alias.exchange, "code": alias.code, "asset": alias.asset}
        pk = alias.pk
        alias.delete()
        audit.record(
            action="asset_alias.deleted", actor=by, object_type="asset_alias", object_id=pk,
            before=before,
        )  # fmt: skip


# Sources and accounts as Django admin edits them: a validated instance, saved or deleted with
# its audit entry (the admin has no path of its own around the log).
SOURCE_FIELDS = ("code", "name", "kind", "exchange", "api_base_url")
ACCOUNT_FIELDS = ("source_id", "code", "name", "is_active")


def _fields(obj, names) -> dict:
    return {name: getattr(obj, name) for name in names}


def _save_audited(obj, *, object_type: str, names, by):
    with transaction.atomic():
        stored = type(obj).objects.filter(pk=obj.pk).first() if obj.pk else None
        obj.save()
        audit.record(
            action=f"{object_type}.{'changed' if stored else 'created'}", actor=by,
            object_type=object_type, object_id=obj.pk,
            before=_fields(stored, names) if stored else None, after=_fields(obj, names),
        )  # fmt: skip
    return obj


def _delete_audited(obj, *, object_type: str, names, by) -> None:
    with transaction.atomic():
        before, pk = _fields(obj, names), obj.pk
        obj.delete()
        audit.record(
            action=f"{object_type}.deleted", actor=by, object_type=object_type, object_id=pk,
            before=before,
        )  # fmt: skip


def save_source(source: Source, *, by) -> Source:
    return _save_audited(source, object_type="source", names=SOURCE_FIELDS, by=by)


def delete_source(source: Source, *, by) -> None:
    _delete_audited(source, object_type="source", names=SOURCE_FIELDS, by=by)


def save_account(account: Account, *, by) -> Account:
    return _save_audited(account, object_type="account", names=ACCOUNT_FIELDS, by=by)


def delete_account(account: Account, *, by) -> None:
    _delete_audited(account, object_type="account", names=ACCOUNT_FIELDS, by=by)


def prepare_frame(dataset_id: int) -> bool:
    """Write a dataset's columnar copy for the engine; False if the dataset is gone."""
    dataset = Dataset.objects.filter(pk=dataset_id).first()
    return frames.prepare(dataset) if dataset is not None else False
