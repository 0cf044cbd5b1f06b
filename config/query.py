"""Checks for the filters of list pages and API lists, so that odd input is a 400, never a 500."""

from config.errors import DomainError

MAX_FILTER_LENGTH = 200


def is_id(text: str) -> bool:
    """A database id as typed: ASCII digits that fit a bigint ("²" passes isdigit, not int())."""
    return text.isascii() and text.isdigit() and len(text) <= 18


class FilterInvalid(DomainError):
    code = "filter_invalid"


def check_filters(*, choices: dict | None = None, **values: str) -> None:
    """Refuse filter values that cannot be looked up: a control character (PostgreSQL refuses a
    NUL in text with an error), over-long text, or, for those in `choices`, an unknown value."""
    problems = {}
    for name, value in values.items():
        if not value:
            continue
        if any(ord(char) < 32 for char in value):
            problems[name] = ["must not contain control characters"]
        elif len(value) > MAX_FILTER_LENGTH:
            problems[name] = [f"must be at most {MAX_FILTER_LENGTH} characters"]
        elif choices and name in choices and value not in choices[name]:
            problems[name] = [f"must be one of: {', '.join(sorted(choices[name]))}"]
    if problems:
        names = ", ".join(sorted(problems))
        raise FilterInvalid(f"These filters cannot be applied: {names}.", fields=problems)
