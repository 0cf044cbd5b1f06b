"""Project-level endpoints: the health check and the Prometheus metrics."""

import hmac

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from accounts.access import user_roles
from accounts.middleware import public
from accounts.roles import ADMIN
from config import metrics as metric_figures
from config.health import collect_health, public_body


@public
@never_cache
@require_GET
def healthz(request):
    """200 when the database, the broker and a worker are all up; 503 otherwise.

    Each check's details (database name, worker host names, errors, the outbox's backlog) only
    for signed-in admins.
    """
    healthy, body = collect_health()
    if ADMIN not in user_roles(request.user):
        body = public_body(body)
    return JsonResponse(body, status=200 if healthy else 503)


def _bearer_token_matches(request) -> bool:
    expected = settings.METRICS_TOKEN
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if not expected or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())


@public
@never_cache
@require_GET
def metrics(request):
    """Prometheus' text format, for a scraper bearing METRICS_TOKEN or a signed-in admin.

    No token and not signed in (or a wrong token): 401, so a scraper is told to authenticate;
    signed in without the admin role: 403. Not a page: no sign-in redirect.
    """
    if not _bearer_token_matches(request):
        if not request.user.is_authenticated:
            response = HttpResponse("Authentication required.\n", status=401,
                                    content_type="text/plain; charset=utf-8")  # fmt: skip
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
        if ADMIN not in user_roles(request.user):
            return HttpResponse("Forbidden.\n", status=403, content_type="text/plain")
    return HttpResponse(metric_figures.exposition(), content_type=CONTENT_TYPE_LATEST)
