"""The file formats a dataset may be loaded from: code, kind, label, exchange and parser.

An exchange's API answers (`API_FORMATS`) are stored like files but never uploaded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from config.errors import DomainError
from reconciliation.importers import chunks, generic, reading
from reconciliation.importers.base import Parsed


class UnknownFormat(DomainError):
    code = "unknown_format"


@dataclass(frozen=True)
class Format:
    code: str
    kind: str
    label: str
    exchange: str
    parse: Callable[..., Parsed]
    # Formats whose rows stand alone: a parser of one piece (given the aliases), and the key
    # that must be unique across pieces. Large files of these load piece by piece.
    piece_parser: Callable[[dict], Callable[[bytes], Parsed]] | None = None
    key: str = ""


def _generic(kind: str):
    def parse(data, *, filename, account, aliases, limits):
        return generic.parse(kind, filename, data, account=account, aliases=aliases, limits=limits)

    return parse


def _kraken_ledger_pieces(aliases):
    from reconciliation.importers import kraken

    return lambda piece: kraken.parse_ledgers(piece, aliases=aliases)


def _kraken_trade_pieces(aliases):
    from reconciliation.importers import kraken

    return lambda piece: kraken.parse_trades(piece, aliases=aliases)


def _kraken_ledgers(data, *, filename, account, aliases, limits):
    parse = _kraken_ledger_pieces(aliases)
    return chunks.parse_in_chunks(parse, reading.expect_text(data, "CSV"), key="entry_id")


def _kraken_trades(data, *, filename, account, aliases, limits):
    parse = _kraken_trade_pieces(aliases)
    return chunks.parse_in_chunks(parse, reading.expect_text(data, "CSV"), key="trade_id")


def _coinbase(data, *, filename, account, aliases, limits):
    from reconciliation.importers import coinbase

    return coinbase.parse_transactions(reading.expect_text(data, "CSV"), aliases=aliases)


def _binance(data, *, filename, account, aliases, limits):
    from reconciliation.importers import binance

    return binance.parse_trades(
        reading.expect_text(data, "CSV"), aliases=aliases, filename=filename
    )


def _binance_statement(data, *, filename, account, aliases, limits):
    from reconciliation.importers import binance_statement

    return binance_statement.parse_statement(data, aliases=aliases, filename=filename)


FORMATS: dict[str, Format] = {
    f.code: f
    for f in [
        Format(
            "kraken-ledgers",
            "ledger",
            "Kraken ledgers.csv",
            "kraken",
            _kraken_ledgers,
            _kraken_ledger_pieces,
            "entry_id",
        ),
        Format(
            "kraken-trades",
            "trades",
            "Kraken trades.csv",
            "kraken",
            _kraken_trades,
            _kraken_trade_pieces,
            "trade_id",
        ),
        Format("coinbase", "ledger", "Coinbase transaction history CSV", "coinbase", _coinbase),
        Format("binance", "trades", "Binance spot trade history CSV", "binance", _binance),
        Format(
            "binance-statement",
            "ledger",
            "Binance transaction history (statement) CSV",
            "binance",
            _binance_statement,
        ),
        Format("generic-balances", "balances", "Book: balances", "", _generic("balances")),
        Format("generic-trades", "trades", "Book: trades", "", _generic("trades")),
        Format("generic-ledger", "ledger", "Book: ledger entries", "", _generic("ledger")),
        Format("generic-margin", "margin", "Book: margin", "", _generic("margin")),
        Format("generic-pnl", "pnl", "Book: realised PnL", "", _generic("pnl")),
        Format("prices", "prices", "Prices", "", _generic("prices")),
    ]
}


def _fetched_only(data, **options) -> Parsed:
    raise UnknownFormat("This format is fetched through the exchange's API, not uploaded.")


# What an exchange's API gives (exchange_fetch): not uploadable, but stored through `store`
# like a file, so it passes the same target and text checks.
API_FORMATS: dict[str, Format] = {
    f.code: f
    for f in [
        Format(f"kraken-api-{kind}", kind, f"Kraken API {kind}", "kraken", _fetched_only)
        for kind in ("balances", "ledger", "trades", "margin")
    ]
}


def format_named(code: str) -> Format:
    if code not in FORMATS:
        raise UnknownFormat(f"Unknown format {code!r}. Formats: {', '.join(FORMATS)}.")
    return FORMATS[code]


def stored_format(code: str) -> Format:
    """A format whose datasets `store` writes: a file format or an API's."""
    return API_FORMATS[code] if code in API_FORMATS else format_named(code)
