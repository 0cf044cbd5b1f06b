"""What a break's details say, in words: both sides' trade ids, named causes, readable evidence.

The engine writes a break's details as JSON (decimals as exact strings); these plain functions
read them for the detail page, the API and the exports alike, so all three say the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from reconciliation.engine import causes as engine_causes
from reconciliation.export import plain

SIDE_NAMES = {"internal": "the book", "external": "the exchange"}
CAUSE_NAMES = {
    engine_causes.MISSING_POSITION: "missing position",
    engine_causes.SIGN_FLIP: "sign flip",
    engine_causes.DECIMAL_SHIFT: "decimal shift",
    engine_causes.DUPLICATE: "booked twice",
    engine_causes.MISSING_DEPOSIT_WITHDRAWAL: "missing deposit/withdrawal",
    engine_causes.UNBOOKED_FEE: "unbooked fee",
    engine_causes.TIMING: "timing",
    engine_causes.MISSING_PRICE: "missing price",
    engine_causes.STALE_PRICE: "stale price",
}


@dataclass(frozen=True)
class TradeIds:
    """The trade ids a trades or fees break is about, on each side ([] where a side has none)."""

    book: list[str]
    exchange: list[str]


def of_break(item) -> TradeIds | None:
    """Both sides' trade ids of a trades or fees break; None for a break about no single trade.

    A match's break carries both sides' ids (trade_breaks.match_details). A trade one side lacks,
    or one booked twice, carries its own id: the side holding it is the side with a value.
    """
    details = item.details if isinstance(item.details, dict) else {}
    if item.type not in ("trades", "fees"):
        return None
    if "internal_ids" in details or "external_ids" in details:
        return TradeIds(_ids(details.get("internal_ids")), _ids(details.get("external_ids")))
    if "trade_id" not in details:
        return None  # fee totals per asset
    own = _ids(details["trade_id"])
    return TradeIds(own, []) if item.internal_value is not None else TradeIds([], own)


def _ids(value) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def cause_names(item) -> list[tuple[str, str]]:
    """(code, words) per likely cause; a missing move says on which side it is missing."""
    evidence = item.details.get("causes", {}) if isinstance(item.details, dict) else {}
    named = []
    for code in item.causes or []:
        words = CAUSE_NAMES.get(code, code.replace("_", " "))
        found = evidence.get(code) if isinstance(evidence, dict) else None
        if code == engine_causes.MISSING_DEPOSIT_WITHDRAWAL and isinstance(found, dict):
            side = SIDE_NAMES.get(found.get("missing_in", ""))
            if side:
                words = f"{words} in {side}"
        named.append((code, words))
    return named


@dataclass(frozen=True)
class Fact:
    """One line of evidence: a label and either a text or the facts nested under it."""

    label: str
    text: str = ""
    facts: tuple[Fact, ...] = ()


def facts(value) -> tuple[Fact, ...]:
    """A break's details as labelled facts, nested like the JSON, every value exact as text."""
    if not isinstance(value, dict):
        return (Fact("value", text(value)),)
    found = []
    for key in sorted(value):
        label = _label(str(key))
        inner = value[key]
        if isinstance(inner, dict) and inner:
            found.append(Fact(label, facts=facts(inner)))
        elif _is_id(str(key)):
            found.append(Fact(label, text(inner)))
        else:
            found.append(Fact(label, _trimmed(text(inner))))
    return tuple(found)


DECIMAL_TEXT = re.compile(r"-?[0-9]+\.[0-9]+")


def _is_id(key: str) -> bool:
    return bool({"id", "ids"} & set(key.split("_")))


def _trimmed(shown: str) -> str:
    """0.000000000000000000 -> 0: a stored decimal's padding says nothing; ids keep theirs."""
    if not DECIMAL_TEXT.fullmatch(shown):
        return shown
    return plain(Decimal(shown))


def _label(key: str) -> str:
    """internal_ids -> "book ids": the page calls the sides the book and the exchange."""
    words = key.split("_")
    return " ".join({"internal": "book", "external": "exchange"}.get(w, w) for w in words)


def text(value) -> str:
    """A JSON value as exact text: strings as they are (decimals are strings), lists joined."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")  # the shortest text that reads back the same
    if isinstance(value, list):
        return ", ".join(text(v) for v in value) if value else "none"
    if isinstance(value, dict):
        return "none" if not value else "; ".join(f"{k}: {text(v)}" for k, v in value.items())
    return str(value)


# Details the break page shows in sections of their own, not again among the evidence.
SHOWN_APART = ("started",)


def shown_facts(item) -> tuple[Fact, ...]:
    """The evidence list of a break's page: its details but those shown apart."""
    if not isinstance(item.details, dict):
        return facts(item.details) if item.details else ()
    rest = {key: value for key, value in item.details.items() if key not in SHOWN_APART}
    return facts(rest) if rest else ()


def where_it_started(item) -> dict | None:
    """Where the running balances diverged, as the run that last saw the break stored it (a
    position or cash break with ledgers on both sides); the page runs no engine."""
    started = (item.details or {}).get("started") if isinstance(item.details, dict) else None
    if item.type not in ("position", "cash") or not started:
        return None
    return {
        **started,
        "occurred_at": datetime.fromisoformat(started["occurred_at"]),
        "internal_balance": Decimal(started["internal_balance"]),
        "external_balance": Decimal(started["external_balance"]),
        "difference": Decimal(started["difference"]),
    }
