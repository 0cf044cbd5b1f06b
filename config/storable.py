"""Text PostgreSQL cannot hold: a NUL (psycopg refuses to send one) or a lone surrogate (JSON's
"\\ud800", which has no UTF-8 form). Pure functions, used by the request middleware and the JSON
parser (which DRF imports while its views module loads, so this module imports nothing of it)."""

from __future__ import annotations

import re

NUL = "must not contain a NUL character"
SURROGATE = "must not contain a lone surrogate (text that is not Unicode)"
_SURROGATES = re.compile("[\ud800-\udfff]")


def problem(text: str) -> str | None:
    """Why PostgreSQL cannot store this text, or None when it can."""
    if "\x00" in text:
        return NUL
    if _SURROGATES.search(text):
        return SURROGATE
    return None


def shown(name: str) -> str:
    """A name as it can be shown and stored (a NUL is written \\x00, a surrogate escaped)."""
    return name.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode()
