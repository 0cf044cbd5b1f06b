"""Text PostgreSQL cannot hold is refused at the door, before any query, naming where it was.

PostgreSQL text cannot hold a NUL (psycopg refuses to send one, so any view that forgot to check
answered 500), and a lone surrogate (JSON's "\\ud800") has no UTF-8 form at all. The middleware
checks every query-string parameter of every page and API address (names and values) and the
form fields of API POSTs; JSON bodies are checked as they are parsed (config/parsers.py). Page
forms keep their own checks: the form is shown again with the field's message. The checks
themselves are config/storable.py.
"""

from __future__ import annotations

from config.errors import DomainError, error_json, error_page
from config.query import FilterInvalid
from config.storable import problem, shown


def unstorable_names(params) -> list[str]:
    """The parameters of a QueryDict whose name or any value PostgreSQL cannot store."""
    return [
        name for name, values in params.lists()
        if any(isinstance(text, str) and problem(text) for text in (name, *values))
    ]  # fmt: skip


def problems_in(params) -> dict[str, list[str]]:
    """Each parameter of a QueryDict whose name or any value cannot be stored, with why."""
    found = {}
    for name in unstorable_names(params):
        texts = (name, *params.getlist(name))
        found[shown(name)] = [next(why for text in texts if (why := problem(text)))]
    return found


class TextNotStorable(DomainError):
    code = "validation_error"  # as a serializer's refusal of the same field would be


class UnstorableTextMiddleware:
    """Refuse a request whose parameters hold text PostgreSQL cannot store: a 400 naming them.

    Runs after sign-in (an anonymous page request is sent to sign in first) and before any view,
    as JSON `{code, message, fields}` for the API and the error page for pages.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        api = request.path.startswith("/api/")
        fields = problems_in(request.GET)
        if fields:
            names = ", ".join(sorted(fields))
            error = FilterInvalid(f"These filters cannot be applied: {names}.", fields=fields)
            if not api:
                return error_page(request, error, retry=_without_them(request))
        elif api and request.method == "POST" and _is_form(request):
            fields = problems_in(request.POST)
            for name, uploads in request.FILES.lists():
                whys = [why for upload in uploads if (why := problem(upload.name or ""))]
                if whys:
                    fields.setdefault(shown(name), [f"its file name {whys[0]}"])
            if not fields:
                return None
            names = ", ".join(sorted(fields))
            error = TextNotStorable(f"These fields cannot be stored: {names}.", fields=fields)
        else:
            return None
        return error_json(error) if api else error_page(request, error)


def _without_them(request) -> str:
    """The same address without the parameters that cannot be stored."""
    kept = request.GET.copy()
    for name in unstorable_names(request.GET):
        del kept[name]
    query = kept.urlencode()
    return f"{request.path}?{query}" if query else request.path


def _is_form(request) -> bool:
    media_type = request.content_type.split(";")[0].strip().lower()
    return media_type in ("multipart/form-data", "application/x-www-form-urlencoded")
