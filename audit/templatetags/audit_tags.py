import json

from django import template

from audit.chain import canonical_json

register = template.Library()


@register.filter
def as_json(value) -> str:
    """A before/after value as compact JSON (autoescaped by the template)."""
    return canonical_json(value)


@register.filter
def as_pretty_json(value) -> str:
    """A before/after value as indented JSON, keys sorted, for reading (autoescaped)."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


@register.filter
def changed_keys(before, after) -> str:
    """A one-line summary of a change: the keys it touches, or its kind."""
    keys = sorted({*_keys(before), *_keys(after)})
    if keys:
        shown = ", ".join(keys[:4])
        return shown + (f" and {len(keys) - 4} more" if len(keys) > 4 else "")
    return "created" if before is None else "removed" if after is None else "changed"


def _keys(value) -> list[str]:
    return [str(key) for key in value] if isinstance(value, dict) else []
