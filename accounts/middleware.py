"""Every page needs a signed-in user with a role; the API answers for itself (401/403)."""

from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from rest_framework.views import APIView

from accounts.access import render_no_access, user_roles


def public(view):
    """Mark a view as open to anyone (login page, health check)."""
    view.recondesk_public = True
    return view


def page(view):
    """Mark an API-framework view that people open in a browser (API docs) as a page."""
    view.recondesk_page = True
    return view


def without_role(view):
    """Mark a view as open to any signed-in user, even one with no role (logout)."""
    view.recondesk_without_role = True
    return view


class LoginRequiredMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if getattr(view_func, "recondesk_public", False):
            return None
        view_class = getattr(view_func, "cls", None)
        is_page = getattr(view_func, "recondesk_page", False)
        if view_class is not None and issubclass(view_class, APIView) and not is_page:
            return None  # DRF authenticates tokens itself and answers 401/403 in JSON
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if getattr(view_func, "recondesk_without_role", False):
            return None
        if not user_roles(request.user):
            return render_no_access(request, reason="Your account has no role yet.")
        if _in_admin_site(request) and not admin.site.has_permission(request):
            # The admin would send a signed-in user it refuses to its sign-in page, which sends a
            # signed-in user back: a redirect loop. Say plainly who the admin is for instead.
            return render_no_access(request, reason=ADMIN_ONLY)
        return None


ADMIN_ONLY = (
    "The Django admin is for administrators (people with the admin role). Everything your role "
    "allows is on the desk."
)


def _in_admin_site(request) -> bool:
    match = getattr(request, "resolver_match", None)
    return match is not None and match.app_name == admin.site.name
