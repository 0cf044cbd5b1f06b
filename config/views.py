"""Project-level endpoints: the health check."""

from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.middleware import public
from config.health import collect_health


@public
@never_cache
@require_GET
def healthz(request):
    """200 when the database, the broker and a worker are all up; 503 otherwise."""
    healthy, body = collect_health()
    return JsonResponse(body, status=200 if healthy else 503)
