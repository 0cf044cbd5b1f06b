"""Building corrections from breaks: target, values, impact, validation, policy (SPEC 3.1, 3.2).

One correction or a run's many are built the same way, in columns where it counts: the book's
current values of every target are read from one effective frame of the run's internal dataset.
Nothing here writes; services.py stores what this builds, in one transaction.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from json.encoder import encode_basestring_ascii
from types import SimpleNamespace
from typing import NamedTuple

from corrections import policy
from corrections.models import Correction
from corrections.targets import NotCorrectable, Target, target_of
from reconciliation import selectors as reconciliation_selectors
from reconciliation.book import selectors as book
from reconciliation.importers.assets import ASSET_CODE

Op = Correction.Operation
# The value a target has when the book holds no row for it: nothing held, no trade.
ABSENT = Decimal(0)


@dataclass(frozen=True)
class Wanted:
    """A correction someone asks for: of which break, to what value, why, how it arose."""

    break_record: object
    reason: str
    origin: str = Correction.Origin.MANUAL
    corrected_value: Decimal | None = None
    corrected_text: str = ""


def build(wanted: list[Wanted], run, *, by=None) -> tuple[list[SimpleNamespace], dict[int, str]]:
    """Unsaved corrections for `wanted` breaks of `run`, and why the others cannot be made
    ({break id: message})."""
    prepared = prepare(run, by=by)
    return prepared.corrections(wanted), prepared.refused


def prepare(run, *, by=None) -> Prepared:
    """What building corrections of `run`'s breaks reads of the whole run, read once: the
    book's effective frame, prices, the portfolio's value, the rule set's limits."""
    definition = reconciliation_selectors.rule_definition(run.rule_set_version)
    frame = book.effective_frame(run.internal_dataset)  # read once: the values and the portfolio's
    prices = book.run_prices(run, definition)
    valued = Valuation(prices, book.portfolio_value(run, prices, frame))
    return Prepared(run, by, frame, policy.Limits.of(definition), valued)


class Prepared:
    """`prepare`'s reads; `corrections` builds from them, part by part if the caller wants (a
    run's hundred thousand are stored while the next part is built): no query but reading the
    exchange's side once, if a target takes its value from there."""

    def __init__(self, run, by, frame, limits: policy.Limits, valued: Valuation):
        self.run, self.by, self.frame, self.limits, self.valued = run, by, frame, limits, valued
        self.refused: dict[int, str] = {}  # {break id: why no correction}, of the parts built
        self._external = None
        # What the targets read of the run, as plain attributes (not a foreign key's
        # descriptor per break: a run builds a hundred thousand).
        self._seen_by = SimpleNamespace(type=run.type, internal_dataset=run.internal_dataset)

    def corrections(self, wanted: list[Wanted]) -> list[SimpleNamespace]:
        """The corrections of those of `wanted` that can be made, in their order (why not the
        others: `refused`)."""
        run, dataset = self.run, self.run.internal_dataset
        targets, external = self._targets(wanted), None
        current = book.values_of(dataset.kind, self.frame, _lookups(targets.values()), run.as_of)
        built = []
        for item in wanted:
            target = targets.get(item.break_record.pk)
            if target is None:
                continue
            if target.extra.get("from_external_quantity") and target.corrected_value is None:
                if external is None:
                    external = self._external_values(targets.values())
                target = _valued_quantity(target, external)
            built.append(_correction(item, target, run, dataset, current, self.limits,
                                     self.valued, self.by))  # fmt: skip
        return built

    def _targets(self, wanted: list[Wanted]) -> dict:
        targets = {}
        for item in wanted:
            try:
                suggested = target_of(item.break_record, self._seen_by)
                target = _with_value(suggested, item)
                if _chosen(target, suggested):  # (a copy only then: a run builds many)
                    target = replace(target, chosen=True)
                targets[item.break_record.pk] = target
            except NotCorrectable as error:
                self.refused[item.break_record.pk] = error.message
        return targets

    def _external_values(self, targets) -> dict:
        """The exchange's quantities of these targets (its dataset read once, by the first part
        that needs it)."""
        if self._external is None:
            self._external = book.dataset_frame(self.run.external_dataset)
        wanted = [t.target for t in targets if t.extra.get("from_external_quantity")]
        dataset = self.run.external_dataset
        return book.values_of(dataset.kind, self._external, wanted, self.run.as_of)


def _with_value(target: Target, item: Wanted) -> Target:
    """The target with the value asked for instead of the suggested one (checked: a value the
    book could not hold, or of the wrong kind for the change, is refused, naming it)."""
    if item.corrected_value is not None:
        if target.operation != Op.ADJUST:
            raise NotCorrectable(
                f"This correction {Correction.Operation(target.operation).label}s: it takes no "
                "number. Leave the value empty"
                + (" or give a text." if target.operation == Op.SET else ".")
            )
        target = replace(target, corrected_value=item.corrected_value)
    if item.corrected_text:
        if target.operation != Op.SET:
            raise NotCorrectable("This correction changes a number: it takes no text.")
        target = replace(target, corrected_text=item.corrected_text)
    if target.operation == Op.SET:
        target = replace(target, corrected_text=_checked_text(target.field, target.corrected_text))
    if target.operation == Op.ADD_TRADE:
        _check_trade_row(target.trade_row or {})
    return target


def _chosen(target: Target, suggested: Target) -> bool:
    """Whether a person chose another value than the break suggests."""
    return (target.corrected_value, target.corrected_text) != (
        suggested.corrected_value, suggested.corrected_text,
    )  # fmt: skip


SIDES = ("buy", "sell")


def _checked_text(field: str, text: str) -> str:
    """A side, fee asset or time as the book stores it, or NotCorrectable saying what fits."""
    text = (text or "").strip()
    if field == "side":
        if text.lower() not in SIDES:
            raise NotCorrectable(f"A side is buy or sell, not {text!r}.")
        return text.lower()
    if field == "executed_at":
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise NotCorrectable(
                f"{text!r} is not a time with its zone, such as 2026-02-27T10:16:05Z."
            )
        return book.iso_time(moment)
    if not ASSET_CODE.match(text.upper()):
        raise NotCorrectable(f"{text!r} is not an asset code.")
    return text.upper()


def _check_trade_row(row: dict) -> None:
    """A trade to add must have what the book's trades have: a side, numbers, a time."""
    problems = [name for name in ("quantity", "price", "fee") if _decimal(row.get(name)) is None]
    if row.get("side") not in SIDES:
        problems.append("side")
    if not row.get("executed_at"):
        problems.append("executed_at")
    if problems:
        raise NotCorrectable(
            "The exchange's trade lacks " + ", ".join(problems) + ": it cannot be added to the "
            "book as it is. Correct the book by hand, or load the exchange's file again."
        )


def _lookups(targets) -> list[str]:
    return sorted({t.target for t in targets})


def _valued_quantity(target: Target, external: dict) -> Target:
    quantity = external.get((target.target, "quantity"), ABSENT)
    return replace(target, corrected_value=quantity)


def _original(target: Target, current: dict) -> tuple[Decimal | None, str]:
    if target.operation == Op.SET:
        number = current.get((target.target, "fee")) if target.field == "fee_asset" else None
        return number, current.get((target.target, target.field)) or ""
    if target.operation in (Op.ADD_TRADE, Op.CANCEL_TRADE):
        return current.get((target.target, "trade"), ABSENT), ""
    return current.get((target.target, target.field), ABSENT), ""


def _correction(item: Wanted, target: Target, run, dataset, current, limits, valued, by
                ) -> SimpleNamespace:  # fmt: skip
    """The correction's columns (attribute names as on `Correction`), not yet stored; a plain
    object, since a run builds a hundred thousand and a model instance costs a lot more."""
    brk = item.break_record
    original, original_text = _original(target, current)
    corrected = target.corrected_value
    delta = None if corrected is None or original is None else corrected - original
    impact, price, price_as_of = _impact(brk, target, delta, current, valued.prices)
    share = impact / valued.portfolio * 100 if impact is not None and valued.portfolio else None
    percent = _percent(target, delta, corrected)
    decision = policy.decide(impact, percent, limits)
    if decision.auto_approved and target.chosen:
        # The rule set approves the exchange's figure within its limits, never a figure a
        # person chose: that needs a second person.
        decision = policy.Decision(1, False, "a value a person chose: one approver")
    impact, price, share, percent = (
        _places(impact),
        _places(price),
        _places(share),
        _places(percent),
    )
    correction = SimpleNamespace(
        status=Correction.Status.PENDING, origin=item.origin, break_record_id=brk.pk,
        run_id=run.pk, rule_set_version_id=run.rule_set_version_id, type=run.type,
        dataset_id=dataset.pk, account_id=dataset.account_id, record_kind=target.record_kind,
        asset=target.asset, target=target.target, field=target.field,
        operation=target.operation, original_value=original, corrected_value=corrected,
        delta=delta, original_text=original_text, corrected_text=target.corrected_text,
        trade_row=target.trade_row or target.pnl_period, impact_rc=impact,
        reporting_currency=limits.reporting_currency, price=price,
        price_as_of=price_as_of, portfolio_value_rc=valued.portfolio, portfolio_share_pct=share,
        change_pct=percent, reason=item.reason, approvals_required=decision.approvals_required,
        auto_approved=decision.auto_approved, policy_note=decision.note,
        created_by_id=by.pk if by is not None else None, supersedes_id=None,
        # Not columns: what applying it reads (the book it changes, the run's time).
        dataset=dataset, run=run,
    )  # fmt: skip
    # The values' texts, written once for the checks, the plan and the hash.
    texts = Texts(_t(original), _t(corrected), _t(delta))
    correction.validation = _validation(correction, brk, texts)
    correction.rollback_plan = _rollback_plan(correction, texts)
    correction.content_hash = content_hash(correction, texts)
    return correction


class Texts(NamedTuple):
    """A correction's original, corrected and delta as `_t` writes them."""

    original: str
    corrected: str
    delta: str

    @classmethod
    def of(cls, correction) -> Texts:
        c = correction
        return cls(_t(c.original_value), _t(c.corrected_value), _t(c.delta))

    @property
    def reversed_delta(self) -> str:
        """`_t(-delta)`: the sign turned (a zero stays 0, as Decimal's negation gives it)."""
        if self.delta in ("0", "-0"):
            return "0"
        return self.delta[1:] if self.delta.startswith("-") else "-" + self.delta


@dataclass(frozen=True)
class Valuation:
    """What a run's corrections are valued with: {asset: (price, its time)} in the reporting
    currency, and the account's portfolio value (None when unknown)."""

    prices: dict
    portfolio: Decimal | None


def _impact(brk, target: Target, delta, current, prices) -> tuple:
    """(|change| in the reporting currency, the price used, its time).

    The change is valued at the run's price of the asset it is in (a price correction: its
    quote, times the trade's quantity); without one, the break's own value scaled by the share
    of its difference the correction moves, with no price to show.
    """
    if target.field == "executed_at":
        return Decimal(0), None, None  # a time moves no money
    asset, amount = _valued_amount(brk, target, delta, current)
    # A suffixed asset (DOT.S, staked DOT) is worth its asset's price, as the engine values it.
    quote = prices.get(asset) or prices.get(asset.split(".")[0])
    if quote is not None and amount is not None:
        price, at = quote
        return abs(amount) * price, price, at
    if brk.value_rc is None:
        return None, None, None
    value = abs(brk.value_rc)
    if delta is not None and brk.difference and target.operation == Op.ADJUST:
        # A valuation break's difference is already a value; others scale by the share moved.
        share = 1 if brk.field == "value" else abs(delta) / abs(brk.difference)
        return value * share, None, None
    return value, None, None


def _valued_amount(brk, target: Target, delta, current) -> tuple[str, Decimal | None]:
    """(the asset the change is in, how much of it)."""
    if target.operation == Op.ADD_TRADE:
        row = target.trade_row or {}
        return row.get("base") or brk.asset, _decimal(row.get("quantity"))
    if target.operation == Op.CANCEL_TRADE:
        return brk.asset, current.get((target.target, "quantity"))
    if target.operation == Op.SET:
        if target.field == "fee_asset":
            return target.corrected_text, target.corrected_value
        return brk.asset, None  # a side: valued by the break, if at all
    if target.record_kind == "pnl":
        return (target.pnl_period or {}).get("currency", ""), delta
    if target.record_kind == "trades" and target.field == "price" and delta is not None:
        quantity = current.get((target.target, "quantity"))
        return brk.asset, None if quantity is None else delta * quantity
    return target.asset or brk.asset, delta


EIGHTEEN = Decimal("1e-18")


def _places(value: Decimal | None) -> Decimal | None:
    """As the database stores it (18 places), so the audit entry and the webhook say the same."""
    return None if value is None else value.quantize(EIGHTEEN)


def _decimal(text) -> Decimal | None:
    try:
        return Decimal(text) if text not in (None, "") else None
    except ArithmeticError:
        return None


def _percent(target: Target, delta, corrected) -> Decimal | None:
    if target.operation == Op.SET:
        return Decimal(100)  # a side, fee asset or time is changed whole
    if target.operation in (Op.ADD_TRADE, Op.CANCEL_TRADE):
        return Decimal(100)
    return policy.change_percent(delta, corrected)


def _validation(correction: Correction, brk, texts: Texts) -> list[dict]:
    checks = []
    if correction.operation == Op.ADJUST and brk.field != "value":
        expected = brk.internal_value if brk.internal_value is not None else ABSENT
        checks.append(_check(
            "book_matches_break", correction.original_value == expected,
            f"the book holds {texts.original}; the break saw {_t(expected)}",
        ))  # fmt: skip
        if brk.suggested_value is not None:
            checks.append(_check(
                "resolves_break", correction.corrected_value == brk.suggested_value,
                f"corrected to {texts.corrected}; the exchange says {_t(brk.suggested_value)}",
            ))  # fmt: skip
    if correction.operation == Op.SET:
        checks.append(_check(
            "changes_value", correction.original_text != correction.corrected_text
            and bool(correction.corrected_text),
            f"{correction.field}: {correction.original_text or '?'} -> "
            f"{correction.corrected_text or '?'}",
        ))  # fmt: skip
    if correction.operation == Op.ADD_TRADE:
        checks.append(_check("trade_not_in_book", correction.original_value == ABSENT,
                             f"book trade {correction.target} is not in the book"))  # fmt: skip
    if correction.operation == Op.CANCEL_TRADE:
        checks.append(_check("trade_in_book", correction.original_value == 1,
                             f"book trade {correction.target} is in the book"))  # fmt: skip
    checks.append(_check("policy", True, correction.policy_note))
    return checks


def _check(name: str, ok: bool, message: str) -> dict:
    return {"check": name, "ok": bool(ok), "message": message}


def _rollback_plan(correction: Correction, texts: Texts) -> str:
    what = f"{correction.field} of {correction.target}"
    if correction.operation == Op.ADJUST:
        return (f"Append the reversing adjustment: {what} changes by {texts.reversed_delta} "
                f"back to {texts.original}.")  # fmt: skip
    if correction.operation == Op.SET:
        return f"Append the adjustment setting {what} back to {correction.original_text}."
    if correction.operation == Op.ADD_TRADE:
        return f"Append the adjustment cancelling the added trade {correction.target}."
    return f"Append the adjustment restoring the cancelled trade {correction.target}."


def content_hash(correction: Correction, texts: Texts | None = None) -> str:
    """What an approval is bound to: the change itself (target, values, delta).

    SHA-256 of the JSON object {break, corrected, corrected_text, dataset, delta, field, kind,
    operation, original, original_text, row, target}, keys sorted, no spaces, ASCII only
    (json.dumps with sort_keys), decimals as their shortest exact text; written member by
    member in key order (the same bytes, without sorting a dict per correction).
    """
    c, texts = correction, texts or Texts.of(correction)
    text = (
        f'{{"break":{_j(c.break_record_id)},"corrected":{_j(texts.corrected)},'
        f'"corrected_text":{_j(c.corrected_text)},"dataset":{_j(c.dataset_id)},'
        f'"delta":{_j(texts.delta)},"field":{_j(c.field)},"kind":{_j(c.record_kind)},'
        f'"operation":{_j(c.operation)},"original":{_j(texts.original)},'
        f'"original_text":{_j(c.original_text)},"row":{_j(c.trade_row)},'
        f'"target":{_j(c.target)}}}'
    )
    return hashlib.sha256(text.encode()).hexdigest()


_CONTENT_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def _j(value) -> str:
    # json.dumps's own writers: its string writer (ASCII-escaped) for texts, int's text for ids.
    if type(value) is str:
        return encode_basestring_ascii(value)
    if type(value) is int:
        return str(value)
    return "null" if value is None else _CONTENT_ENCODER.encode(value)


def _t(value: Decimal | None) -> str:
    return "" if value is None else format(value.normalize(), "f")
