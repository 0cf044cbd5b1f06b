"""JSON request bodies with exact numbers: decimals arrive as Decimal, never as float.

An object naming a key twice is refused (which value was meant?), and so is nesting too deep
for the decoder, rather than the last value silently winning or a RecursionError reaching the
handler as a 500. Every body of this API is an object, so a list, number, string or null is
refused here (a view reading `request.data.get(...)` met an int and answered 500), and so is
text PostgreSQL cannot hold (a NUL, a lone surrogate) anywhere in it: a 400 naming the field.
"""

import json
from decimal import Decimal

from django.conf import settings
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import JSONParser

from config.storable import problem, shown


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


_JSON_KINDS = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}


class ExactJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            data = json.loads(
                stream.read().decode(encoding),
                parse_float=WrittenDecimal,
                object_pairs_hook=_object,
            )
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply") from exc
        if not isinstance(data, dict):
            kind = _JSON_KINDS.get(type(data), "a number")
            raise ValidationError(
                {"non_field_errors": [f"The body must be an object, not {kind}."]}
            )
        fields = unstorable_text(data)
        if fields:
            raise ValidationError(fields)
        return data


def unstorable_text(data: dict) -> dict[str, list[str]]:
    """The places in a parsed body (`rows.3.account`) whose key or text cannot be stored.

    Walked with a stack, not recursion: the decoder accepts nesting deeper than a recursive
    walk could follow.
    """
    found: dict[str, list[str]] = {}
    pending: list[tuple[str, object]] = [("", data)]
    while pending and len(found) < 20:
        path, value = pending.pop()
        if isinstance(value, str):
            if why := problem(value):
                found[path] = [why]
        elif isinstance(value, dict):
            for key, item in value.items():
                place = f"{path}.{shown(key)}" if path else shown(key)
                if why := problem(key):
                    found[place] = [f"its name {why}"]
                else:
                    pending.append((place, item))
        elif isinstance(value, list):
            pending.extend((f"{path}.{index}", item) for index, item in enumerate(value))
    return dict(sorted(found.items()))
