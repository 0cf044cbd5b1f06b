"""Binance statement operations grouped into ledger types (no Django here).

Binance names hundreds of operations and adds more every year; the ledger's `type` groups them
so that runs and people can tell a deposit from a trade leg or a fee, and the operation itself
stays in `subtype`. Exact names come first, then the words a name starts with or holds.
The engine knows `deposit`, `withdrawal` and `fee`; the other types are for people.
"""

from __future__ import annotations

EXACT = {
    "deposit": "deposit", "fiat deposit": "deposit", "crypto deposit": "deposit",
    "withdraw": "withdrawal", "withdrawal": "withdrawal", "fiat withdraw": "withdrawal",
    "fiat withdrawal": "withdrawal", "crypto withdrawal": "withdrawal",
    "fee": "fee", "transaction fee": "fee",
    "buy": "trade", "sell": "trade", "transaction buy": "trade", "transaction spend": "trade",
    "transaction sold": "trade", "transaction revenue": "trade", "transaction related": "trade",
    "large otc trading": "trade", "the easiest way to trade": "trade", "buy crypto": "trade",
    "binance convert": "convert", "small assets exchange bnb": "convert",
    "p2p trading": "p2p",
    "realized profit and loss": "futures", "funding fee": "futures",
    "insurance fund compensation": "futures",
}  # fmt: skip
PREFIXES = (
    ("transfer", "transfer"),
    ("auto-invest", "convert"),
    ("token swap", "convert"),
)
CONTAINS = (
    ("staking", "staking"),
    ("simple earn", "earn"),
    ("savings", "earn"),
    ("liquid swap", "earn"),
    ("launchpool", "earn"),
    ("vault", "earn"),
    ("dual investment", "earn"),
    ("commission", "commission"),
    ("referral", "commission"),
    ("referrer", "commission"),
    ("rebate", "commission"),
    ("kickback", "commission"),
    ("distribution", "reward"),
    ("airdrop", "reward"),
    ("reward", "reward"),
    ("voucher", "reward"),
    ("cashback", "reward"),
    ("crypto box", "reward"),
)


def category(operation: str) -> str:
    """The ledger type of a Binance operation: `Withdraw` -> withdrawal, unknown -> other."""
    name = " ".join(operation.lower().split())
    if name in EXACT:
        return EXACT[name]
    for start, kind in PREFIXES:
        if name.startswith(start):
            return kind
    for part, kind in CONTAINS:
        if part in name:
            return kind
    return "other"
