from decimal import ROUND_HALF_EVEN, Decimal

from django import template
from django.conf import settings
from django.utils.html import format_html

from reconciliation.export import plain
from reconciliation.importers.assets import FIAT, display_places

register = template.Library()


@register.filter(name="plain")
def plain_number(value, empty: str = "—") -> str:
    """An exact decimal as written: no float, no trailing zeros ('—' when missing)."""
    if value is None or value == "":
        return empty
    return plain(value)


def _rounded(value: Decimal, places: int, *, keep: int = 0, separators: bool = False) -> str:
    step = Decimal(1).scaleb(-places)
    text = f"{value.quantize(step, rounding=ROUND_HALF_EVEN):{',' if separators else ''}f}"
    if "." in text:
        whole, _, fraction = text.partition(".")
        fraction = fraction.rstrip("0").ljust(keep, "0")
        text = f"{whole}.{fraction}" if fraction else whole
    return "0" if text in ("-0", "") else text


def _shown(value, places: int, *, keep: int = 0, separators: bool = False) -> str:
    """The value to `places` places; when that rounds it, the exact value is its title."""
    exact = Decimal(value)
    shown = _rounded(exact, places, keep=keep, separators=separators)
    if exact == exact.quantize(Decimal(1).scaleb(-places)):
        return shown
    if exact != 0 and Decimal(shown.replace(",", "")) == 0:
        return plain(exact)  # never show a difference as nothing: tiny values in full
    return format_html('<span class="rounded" title="{}">≈{}</span>', plain(exact), shown)


@register.filter
def amount(value, asset: str = "") -> str:
    """An amount of `asset` to its display precision (the exact value on hover when rounded)."""
    if value is None or value == "":
        return "—"
    fiat = FIAT | {settings.REPORTING_CURRENCY.upper()}
    places = display_places(asset or "", fiat=fiat)
    return _shown(value, places, keep=places if places == 2 else 0)


@register.filter
def unit(item, currency: str) -> str:
    """What a break's values are counted in: a valuation's value is in the reporting currency."""
    return currency if item.field == "value" else item.asset


@register.filter
def money(value, places: int = 2) -> str:
    """A value in the reporting currency with separators, rounded half-even for display."""
    if value is None:
        return "—"
    return _shown(value, int(places), keep=int(places), separators=True)
