"""Pulling an exchange account through its API (ccxt) into datasets: balances, ledger, trades,
margin."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from audit import services as audit
from config.errors import DomainError
from reconciliation.datasets import credentials, ingest
from reconciliation.models import Account

FORMATS = {fmt.kind: code for code, fmt in ingest.API_FORMATS.items() if fmt.exchange == "kraken"}
KINDS = tuple(FORMATS)
DEFAULT_KINDS = ("balances", "ledger", "trades")  # margin only when asked (another permission)


class ExchangeUnavailable(DomainError):
    code = "exchange_error"


@dataclass(frozen=True)
class Fetched:
    kind: str
    rows: int
    result: ingest.ImportResult | None  # None when the exchange had no rows of this kind


def fetch_exchange(
    account: Account,
    *,
    since: datetime | None = None,
    kinds: tuple[str, ...] = DEFAULT_KINDS,
    by=None,
) -> list[Fetched]:
    """Fetch the account's `kinds` (balances, ledger, trades, margin), store them (all or none)."""
    from reconciliation.importers import exchange_api

    if account.source.exchange != "kraken":
        raise DomainError(
            f"Fetching through the API is available for Kraken accounts; {account.source.code} "
            "is not one. Upload its export files instead."
        )
    unknown = [kind for kind in kinds if kind not in FORMATS]
    if unknown or not kinds:
        raise DomainError(f"Kinds to fetch are {', '.join(KINDS)}; not {', '.join(unknown)}.")
    keys = credentials.for_account(account)
    client = exchange_api.kraken_client(
        api_key=keys.api_key, secret=keys.secret, base_url=account.source.api_base_url or None
    )
    try:
        parsed = exchange_api.fetch_kraken(
            client, since=since, aliases=ingest.asset_aliases("kraken"), kinds=kinds
        )
    except exchange_api.ExchangeFetchError as exc:
        raise ExchangeUnavailable(exc.message) from exc
    fetched = []
    with transaction.atomic():  # all kinds or none
        for kind, result in parsed.items():
            if not result.errors and (result.table is None or result.table.num_rows == 0):
                fetched.append(Fetched(kind, 0, None))
                continue
            stored = _store(account, kind, result, by)
            fetched.append(Fetched(kind, stored.dataset.row_count, stored))
        audit.record(
            action="exchange.fetched", actor=by, object_type="account", object_id=account.pk,
            after={f.kind: f.result.dataset.pk if f.result else None for f in fetched}
            | {"since": since.isoformat() if since else None, "kinds": list(parsed)},
        )  # fmt: skip
    return fetched


def _store(account: Account, kind: str, result, by) -> ingest.ImportResult:
    """Through ingest.store, which checks the rows as it checks a file's."""
    try:
        return ingest.store(
            source=account.source,
            account=account,
            format_code=FORMATS[kind],
            parsed=result,
            original_name=f"Kraken API {kind}",
            by=by,
        )
    except ingest.DatasetRejected as exc:
        if not exc.errors:  # the target or the database: said well enough already
            raise
        raise ingest.DatasetRejected(
            f"Kraken's {kind} answer cannot be loaded: {exc.message}", exc.errors
        ) from exc
