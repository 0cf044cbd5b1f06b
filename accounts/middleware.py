"""Every page needs a signed-in user with a role; the API answers for itself (401/403)."""

from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect, render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
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
        response = self.get_response(request)
        if isinstance(response, HttpResponseNotAllowed) and request.method == "GET":
            # A POST-only address opened as a page (a bookmark, a sign-in's next, the address
            # bar): a way back instead of the browser's blank "HTTP ERROR 405".
            return render(request, "form_only.html", {"back": came_from(request)}, status=200)
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        if getattr(view_func, "recondesk_public", False):
            return None
        view_class = getattr(view_func, "cls", None)
        is_page = getattr(view_func, "recondesk_page", False)
        if view_class is not None and issubclass(view_class, APIView) and not is_page:
            return None  # DRF authenticates tokens itself and answers 401/403 in JSON
        if not request.user.is_authenticated:
            if request.method == "POST":
                # The session ended while a form was open: after signing in, go back to the
                # page the form is on (its address only takes a POST) and say nothing was saved.
                query = urlencode({"next": came_from(request), "session_ended": "1"})
                return redirect(f"{resolve_url(settings.LOGIN_URL)}?{query}")
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


def came_from(request) -> str:
    """The page a request came from (its Referer) if it is on this site, else the overview."""
    referer = request.headers.get("referer", "")
    if referer and url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        parts = urlsplit(referer)
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return "/"


def _in_admin_site(request) -> bool:
    match = getattr(request, "resolver_match", None)
    return match is not None and match.app_name == admin.site.name
