"""Refuse a request whose parameters hold a NUL character, before any view sees it.

PostgreSQL text cannot hold NUL (0x00): a filter or form value carrying one reached the database
as a DataError and answered 500. Django's form fields refuse NUL, but query parameters read
directly (list filters, `?next=`, `?source=`) did not, so the class is closed here, once, for
every page and API endpoint: the query string always, and a page's form fields (the CSRF check
has read them already). API bodies are parsed by DRF, whose fields refuse NUL themselves.
"""

from __future__ import annotations

from django.http import JsonResponse
from django.shortcuts import render

NUL = "\x00"
MESSAGE = "Nothing was done: {names} hold a NUL character (0x00), which no text may contain."


def _with_nul(params) -> list[str]:
    return sorted(
        {
            key.replace(NUL, "\\x00")
            for key, values in params.lists()
            if NUL in key or any(NUL in value for value in values)
        }
    )


class NulRefusalMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        names = _with_nul(request.GET)
        is_api = request.path.startswith("/api/")
        if request.method == "POST" and not is_api and _is_form(request):
            names += [name for name in _with_nul(request.POST) if name not in names]
        if not names:
            return None
        message = MESSAGE.format(names=", ".join(repr(name) for name in names))
        if is_api:
            fields = {name: ["holds a NUL character (0x00)"] for name in names}
            body = {"code": "invalid_text", "message": message, "fields": fields}
            return JsonResponse(body, status=400)
        return render(request, "error.html", {"message": message, "status": 400}, status=400)


def _is_form(request) -> bool:
    kind = request.content_type or ""
    return kind in ("application/x-www-form-urlencoded", "multipart/form-data")
