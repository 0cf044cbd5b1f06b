"""`Cache-Control: no-store` on every signed-in page and every API answer.

A signed-in page or an API answer holds the desk's data (breaks, balances, the audit log): no
browser cache, shared proxy or Back button after sign-out may keep a copy. What stays cacheable:
static files (WhiteNoise answers them before this middleware runs) and pages for signed-out
visitors, such as the sign-in page, which hold nothing private.
"""

from __future__ import annotations

from django.utils.cache import add_never_cache_headers

API_PREFIX = "/api/"


def must_not_be_stored(request) -> bool:
    """Every API answer (even a 401) and every answer to a signed-in user."""
    if request.path_info.startswith(API_PREFIX):
        return True
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated)


class NoStoreMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if must_not_be_stored(request):
            # no-store, plus the older directives (no-cache, must-revalidate, max-age=0, private,
            # Expires in the past) that proxies which predate no-store still honour.
            add_never_cache_headers(response)
        return response
