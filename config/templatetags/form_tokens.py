"""`{% form_token %}`: the one-time token every POST form carries (config/form_tokens.py).

A template builtin (settings.TEMPLATES), so no template needs `{% load %}` for it.
"""

from django import template
from django.utils.html import format_html

from config.form_tokens import FIELD, new_token

register = template.Library()


@register.simple_tag
def form_token() -> str:
    """A hidden field with a fresh token: one per rendered form."""
    return format_html('<input type="hidden" name="{}" value="{}">', FIELD, new_token())
