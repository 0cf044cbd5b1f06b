"""Project-level endpoints: the health check."""

from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.access import user_roles
from accounts.middleware import public
from accounts.roles import ADMIN
from config.health import collect_health, public_body


@public
@never_cache
@require_GET
def healthz(request):
    """200 when the database, the broker and a worker are all up; 503 otherwise.

    Each check's details (database name, worker host names, errors) only for signed-in admins.
    """
    healthy, body = collect_health()
    if ADMIN not in user_roles(request.user):
        body = public_body(body)
    return JsonResponse(body, status=200 if healthy else 503)
