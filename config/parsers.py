"""JSON request bodies with exact numbers: decimals arrive as Decimal, never as float.

An object naming a key twice is refused (which value was meant?), and so is nesting too deep
for the decoder, rather than the last value silently winning or a RecursionError reaching the
handler as a 500.
"""

import json
from decimal import Decimal

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def _object(pairs: list[tuple[str, object]]) -> dict:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        twice = next(name for name, _ in pairs if name in seen or seen.add(name))
        raise ValueError(f"an object names the key {twice!r} twice")
    return found


class WrittenDecimal(Decimal):
    """A JSON number with a fraction or exponent, exact, that remembers how it was written.

    `Decimal("1.5e1")` prints as `15`: rows posted to the API are handed on as the text that
    was sent, so the importers refuse an exponent there as they do in a `.json` file.
    """

    __slots__ = ("written",)

    def __new__(cls, text: str):
        number = super().__new__(cls, text)
        number.written = text
        return number


class ExactJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json.loads(
                stream.read().decode(encoding),
                parse_float=WrittenDecimal,
                object_pairs_hook=_object,
            )
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply") from exc
