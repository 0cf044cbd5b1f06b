from decimal import Decimal

from django import template

from reconciliation.export import plain

register = template.Library()


@register.filter(name="plain")
def plain_number(value, empty: str = "—") -> str:
    """An exact decimal as written: no float, no trailing zeros ('—' when missing)."""
    if value is None or value == "":
        return empty
    return plain(value)


@register.filter
def money(value, places: int = 2) -> str:
    """A value in the reporting currency, rounded half-even for display, with separators."""
    if value is None:
        return "—"
    return f"{Decimal(value).quantize(Decimal(1).scaleb(-int(places))):,}"
