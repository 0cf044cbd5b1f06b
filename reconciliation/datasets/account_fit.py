"""Which accounts take which exchange's files (docs/decisions.md: "An exchange's files...").

A source names the exchange whose exports its accounts take; an exchange or custodian source
that names none takes every exchange's files; an internal book or a price feed takes none.
Formats of no exchange (the book's, prices) are not restricted here.
"""

from __future__ import annotations

from django.db.models import Q

from reconciliation.models import Account, Source

# Sources whose accounts hold assets at exchanges: one named exchange, or any when none is named.
HOLDING_KINDS = (Source.Kind.EXCHANGE, Source.Kind.CUSTODIAN)


def exchange_files_taken(source: Source) -> str:
    """Whose exchange files the source's accounts take: its exchange, '*' (any) or '' (none)."""
    if source.exchange:
        return source.exchange
    return "*" if source.kind in HOLDING_KINDS else ""


def takes_files_of(source: Source, exchange: str) -> bool:
    """Whether the source's accounts take files of `exchange` ('' = no exchange's format)."""
    return not exchange or exchange_files_taken(source) in (exchange, "*")


def accounts_taking(exchange: str):
    """The active accounts whose source takes files of `exchange`."""
    accounts = Account.objects.filter(is_active=True).select_related("source")
    if exchange:
        accounts = accounts.filter(
            Q(source__exchange=exchange) | Q(source__exchange="", source__kind__in=HOLDING_KINDS)
        )
    return accounts


def misfit(target: Account | Source, label: str, exchange_code: str) -> str:
    """Why files of `exchange_code` (format `label`) cannot load into `target`; who can."""
    exchange = dict(Source.Exchange.choices).get(exchange_code, exchange_code)
    source = target if isinstance(target, Source) else target.source
    holds = (
        f"files of {source.get_exchange_display()}" if source.exchange else "no exchange's files"
    )
    fit = ", ".join(str(account) for account in accounts_taking(exchange_code)[:20])
    how = (
        f"Accounts that fit: {fit}."
        if fit
        else f"No account fits yet: an admin adds one at a {exchange} source (Django admin, or "
        f"`manage.py add_account {exchange_code} main --exchange {exchange_code}`)."
    )
    return (
        f"{label} files load only into an account of a {exchange} source, or of an exchange "
        f"or custodian source that names no exchange (any exchange); {target} takes {holds}. " + how
    )
