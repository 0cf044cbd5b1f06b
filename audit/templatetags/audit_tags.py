from django import template

from audit.chain import canonical_json

register = template.Library()


@register.filter
def as_json(value) -> str:
    """A before/after value as compact JSON (autoescaped by the template)."""
    return canonical_json(value)
