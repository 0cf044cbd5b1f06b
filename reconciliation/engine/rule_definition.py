"""A rule set version's definition: validated from JSON, turned into engine tolerances.

The definition is data (SPEC 2.2). `validate(raw)` returns a `RuleDefinition` or raises
`DefinitionInvalid` with one message per field path (e.g. "types.position.relative"), so the
browser and the API can show each error next to its field. Numbers are decimal strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from reconciliation.engine.types import TYPES, Override, Tolerance, ToleranceRules

SEVERITIES = ("low", "medium", "high", "critical")
PNL_METHODS = ("fifo", "average")
FIELDS = ("quantity", "price", "fee", "fee_asset", "executed_at", "value", "realised_pnl",
          "collateral", "used_margin", "open_position", "fee_total")  # fmt: skip

# The seed's defaults (the default rule set's first version is made from these).
DEFAULT = {
    "reporting_currency": "USD",
    "cash_assets": ["USD", "EUR", "GBP", "USDC", "USDT", "DAI", "FDUSD"],
    "types": {
        "position": {"absolute": "0", "relative": "0.001", "time_window_seconds": 5},
        "cash": {"absolute": "0", "relative": "0.01", "time_window_seconds": 5},
        "valuation": {"absolute": "0", "relative": "0.01", "time_window_seconds": 5},
        "pnl": {"absolute": "0.01", "relative": "0", "time_window_seconds": 5},
        "trades": {"absolute": "0", "relative": "0", "time_window_seconds": 5},
        "fees": {"absolute": "0.00001", "relative": "0", "time_window_seconds": 5},
        "margin": {"absolute": "0", "relative": "0.001", "time_window_seconds": 5},
    },
    "severity_bands": ["100", "1000", "10000"],
    "auto_correction": {"max_value": "1000", "max_percent": "5"},
    "approval": {"one_approver_above": "5000", "two_approvers_above": "50000"},
    "escalation": [{"severity": "critical", "notify": ["risk"], "after_minutes": 0}],
    "pnl_method": "fifo",
    # Pricing configuration (SPEC 2.3), versioned with the rest of the rule set.
    "pricing": {"source_priority": [], "staleness_seconds": 86400, "last_known_good": True},
}


class DefinitionInvalid(Exception):
    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class RuleDefinition:
    reporting_currency: str
    cash_assets: tuple[str, ...]
    tolerances: dict[str, ToleranceRules]
    severity_bands: tuple[Decimal, Decimal, Decimal]
    auto_correct_max_value: Decimal
    auto_correct_max_percent: Decimal
    one_approver_above: Decimal
    two_approvers_above: Decimal
    escalation: tuple[dict, ...] = field(default_factory=tuple)
    pnl_method: str = "fifo"
    price_sources: tuple[str, ...] = ()
    price_staleness: timedelta = timedelta(days=1)
    last_known_good: bool = True


class _Errors(dict):
    def add(self, path: str, message: str) -> None:
        self.setdefault(path, []).append(message)


def _decimal(raw, path: str, errors: _Errors, *, minimum: Decimal = Decimal(0)) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, str | int | Decimal):
        errors.add(path, 'must be a decimal number written as a string, e.g. "0.001"')
        return Decimal(0)
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        errors.add(path, f"{raw!r} is not a decimal number")
        return Decimal(0)
    if not value.is_finite() or value < minimum:
        errors.add(path, f"must be a number of at least {minimum}")
    return value


def _tolerance(raw: dict, path: str, errors: _Errors) -> Tolerance:
    if not isinstance(raw, dict):
        errors.add(path, "must be an object with absolute, relative, time_window_seconds")
        return Tolerance()
    relative = _decimal(raw.get("relative", "0"), f"{path}.relative", errors)
    if relative > 1:
        errors.add(f"{path}.relative", "is a fraction: 0.001 means 0.1 %; at most 1")
    seconds = raw.get("time_window_seconds", 5)
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not 0 <= seconds <= 86400:
        errors.add(f"{path}.time_window_seconds", "must be whole seconds from 0 to 86400")
        seconds = 5
    return Tolerance(
        absolute=_decimal(raw.get("absolute", "0"), f"{path}.absolute", errors),
        relative=relative,
        time_window=timedelta(seconds=seconds),
    )


def _overrides(raw, path: str, errors: _Errors) -> tuple[Override, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        errors.add(path, "must be a list")
        return ()
    result, seen = [], set()
    for index, item in enumerate(raw):
        where = f"{path}[{index}]"
        if not isinstance(item, dict):
            errors.add(where, "must be an object")
            continue
        key = tuple(item.get(name) or None for name in ("account", "asset", "field"))
        if key == (None, None, None):
            errors.add(where, "needs at least one of account, asset, field")
        if key[2] is not None and key[2] not in FIELDS:
            errors.add(f"{where}.field", f"must be one of {', '.join(FIELDS)}")
        if key in seen:
            errors.add(where, "the same account/asset/field is overridden twice")
        seen.add(key)
        tolerance = _tolerance(item, where, errors)
        result.append(Override(tolerance, account=key[0], asset=key[1], field=key[2]))
    return tuple(result)


def validate(raw: dict) -> RuleDefinition:
    """Check a definition; raise DefinitionInvalid listing every problem by field path."""
    errors = _Errors()
    if not isinstance(raw, dict):
        raise DefinitionInvalid({"": ["the definition must be a JSON object"]})
    unknown = set(raw) - set(DEFAULT)
    for name in sorted(unknown):
        errors.add(name, "is not a rule set field")
    types = raw.get("types", {})
    tolerances = {}
    for type_name in TYPES:
        spec = types.get(type_name) if isinstance(types, dict) else None
        if spec is None:
            errors.add(f"types.{type_name}", "is missing")
            continue
        default = _tolerance(spec, f"types.{type_name}", errors)
        overrides = _overrides(spec.get("overrides"), f"types.{type_name}.overrides", errors)
        tolerances[type_name] = ToleranceRules(default, overrides)
    if isinstance(types, dict):
        for name in sorted(set(types) - set(TYPES)):
            errors.add(f"types.{name}", f"is not a reconciliation type ({', '.join(TYPES)})")
    bands = raw.get("severity_bands", [])
    if not isinstance(bands, list) or len(bands) != 3:
        errors.add("severity_bands", "must be three values: medium from, high from, critical from")
        bands = ["0", "0", "0"]
    band_values = tuple(_decimal(b, f"severity_bands[{i}]", errors) for i, b in enumerate(bands))
    if list(band_values) != sorted(band_values) or len(set(band_values)) != 3:
        errors.add("severity_bands", "must increase strictly")
    auto = raw.get("auto_correction", {}) or {}
    approval = raw.get("approval", {}) or {}
    one = _decimal(approval.get("one_approver_above"), "approval.one_approver_above", errors)
    two = _decimal(approval.get("two_approvers_above"), "approval.two_approvers_above", errors)
    if two < one:
        errors.add("approval.two_approvers_above", "must not be below one_approver_above")
    auto_value = _decimal(auto.get("max_value"), "auto_correction.max_value", errors)
    if auto_value > one:
        errors.add("auto_correction.max_value", "must not exceed approval.one_approver_above")
    auto_percent = _decimal(auto.get("max_percent"), "auto_correction.max_percent", errors)
    if auto_percent > 100:
        errors.add("auto_correction.max_percent", "is a percentage: at most 100")
    currency = raw.get("reporting_currency")
    if not isinstance(currency, str) or not currency.isalnum() or not currency.isupper():
        errors.add("reporting_currency", "must be an asset code such as USD")
    cash = raw.get("cash_assets", [])
    if not isinstance(cash, list) or not all(isinstance(c, str) and c for c in cash):
        errors.add("cash_assets", "must be a list of asset codes")
        cash = []
    method = raw.get("pnl_method", "fifo")
    if method not in PNL_METHODS:
        errors.add("pnl_method", f"must be one of {', '.join(PNL_METHODS)}")
    escalation = raw.get("escalation", [])
    if not isinstance(escalation, list):
        errors.add("escalation", "must be a list")
        escalation = []
    for index, rule in enumerate(escalation):
        _escalation_rule(rule, f"escalation[{index}]", errors)
    sources, staleness, last_good = _pricing(raw.get("pricing", DEFAULT["pricing"]), errors)
    if errors:
        raise DefinitionInvalid(dict(errors))
    return RuleDefinition(
        price_sources=sources,
        price_staleness=staleness,
        last_known_good=last_good,
        reporting_currency=currency,
        cash_assets=tuple(cash),
        tolerances=tolerances,
        severity_bands=band_values,
        auto_correct_max_value=auto_value,
        auto_correct_max_percent=auto_percent,
        one_approver_above=one,
        two_approvers_above=two,
        escalation=tuple(escalation),
        pnl_method=method,
    )


# Escalation (who is told, when: notifications/): each rule is triggered either by a severity
# (the run saw breaks of it or above) or by a value at risk (the run's breaks' values in the
# reporting currency, summed, above the figure: a "threshold breach"). `notify` names people:
# a role (risk, finance, admin: everyone holding it), an e-mail address (it has an @) or a
# username; `webhooks` names webhook endpoints (corrections' endpoints, by name);
# `after_minutes` waits that long, then tells only of those breaks still unresolved.
NOTIFY_ROLES = ("risk", "finance", "admin")
ESCALATION_KEYS = ("severity", "value_at_risk_above", "notify", "webhooks", "after_minutes")
MAX_ESCALATION_MINUTES = 7 * 24 * 60
_USERNAME = re.compile(r"^[\w.+-]{1,150}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s.]{2,}$")


def _escalation_rule(rule, path: str, errors: _Errors) -> None:
    if not isinstance(rule, dict):
        errors.add(path, "must be an object with severity or value_at_risk_above, and notify")
        return
    for name in sorted(set(rule) - set(ESCALATION_KEYS)):
        errors.add(f"{path}.{name}", f"is not an escalation field ({', '.join(ESCALATION_KEYS)})")
    has_severity, has_value = "severity" in rule, "value_at_risk_above" in rule
    if has_severity == has_value:
        errors.add(path, "needs exactly one of severity, value_at_risk_above")
    if has_severity and rule["severity"] not in SEVERITIES:
        errors.add(f"{path}.severity", f"must be one of {', '.join(SEVERITIES)}")
    if has_value:
        _decimal(rule["value_at_risk_above"], f"{path}.value_at_risk_above", errors)
    notify, hooks = rule.get("notify", []), rule.get("webhooks", [])
    for key, entries in (("notify", notify), ("webhooks", hooks)):
        if not isinstance(entries, list) or not all(isinstance(e, str) and e for e in entries):
            errors.add(f"{path}.{key}", "must be a list of names")
    if isinstance(notify, list):
        for i, entry in enumerate(notify):
            if isinstance(entry, str) and entry and not _notifiable(entry):
                errors.add(f"{path}.notify[{i}]",
                           f"{entry!r} is not a role ({', '.join(NOTIFY_ROLES)}), an e-mail "
                           "address or a username")  # fmt: skip
    if isinstance(hooks, list):
        for i, entry in enumerate(hooks):
            if isinstance(entry, str) and not 0 < len(entry.strip()) <= 100:
                errors.add(f"{path}.webhooks[{i}]", "must be a webhook endpoint's name")
    if isinstance(notify, list) and isinstance(hooks, list) and not notify and not hooks:
        errors.add(f"{path}.notify", "names nobody: give people to notify or webhooks")
    minutes = rule.get("after_minutes", 0)
    if (
        isinstance(minutes, bool)
        or not isinstance(minutes, int)
        or not (0 <= minutes <= MAX_ESCALATION_MINUTES)
    ):
        errors.add(f"{path}.after_minutes",
                   f"must be whole minutes from 0 to {MAX_ESCALATION_MINUTES}")  # fmt: skip


def _notifiable(entry: str) -> bool:
    if entry in NOTIFY_ROLES:
        return True
    return bool(_EMAIL.match(entry)) if "@" in entry else bool(_USERNAME.match(entry))


def _pricing(raw, errors: _Errors) -> tuple[tuple[str, ...], timedelta, bool]:
    """Source priority (first wins; unlisted sources after them), staleness, fallback."""
    if not isinstance(raw, dict):
        errors.add("pricing", "must be an object")
        return (), timedelta(days=1), True
    sources = raw.get("source_priority", [])
    if not isinstance(sources, list) or not all(isinstance(s, str) and s for s in sources):
        errors.add("pricing.source_priority", "must be a list of price source names")
        sources = []
    if len(set(sources)) != len(sources):
        errors.add("pricing.source_priority", "names a source twice")
    seconds = raw.get("staleness_seconds", 86400)
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not 0 < seconds <= 31 * 86400:
        errors.add("pricing.staleness_seconds", "must be whole seconds, up to 31 days")
        seconds = 86400
    last_good = raw.get("last_known_good", True)
    if not isinstance(last_good, bool):
        errors.add("pricing.last_known_good", "must be true or false")
        last_good = True
    return tuple(sources), timedelta(seconds=seconds), last_good


def diff(old: dict, new: dict, prefix: str = "") -> list[dict]:
    """Field-by-field differences between two definitions: [{path, old, new}], sorted by path."""
    changes = []
    for key in sorted(set(old) | set(new), key=str):
        path = f"{prefix}.{key}" if prefix else str(key)
        before, after = old.get(key), new.get(key)
        if isinstance(before, dict) and isinstance(after, dict):
            changes.extend(diff(before, after, path))
        elif before != after:
            changes.append({"path": path, "old": before, "new": after})
    return changes
