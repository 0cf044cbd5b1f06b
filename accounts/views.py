"""Sign in, sign out, and the page for users without a role."""

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.shortcuts import resolve_url
from django.urls import reverse
from django.utils.decorators import method_decorator

from accounts import known_browser, services
from accounts.forms import SignInForm
from accounts.middleware import public, without_role


@method_decorator(public, name="dispatch")
class SignInView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = SignInForm
    redirect_authenticated_user = True

    def get_redirect_url(self):
        # A signed-in user sent to a sign-in page would be sent back to it: Django refuses that
        # loop with a 500, so such a target falls back to the overview.
        target = super().get_redirect_url()
        sign_in_pages = {resolve_url(settings.LOGIN_URL), reverse("admin:login")}
        return "" if target.split("?")[0] in sign_in_pages else target

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["session_ended"] = bool(self.request.GET.get("session_ended"))
        return context

    def form_valid(self, form):
        response = super().form_valid(form)
        services.record_sign_in(self.request.user)
        # Lets this browser through its address's sign-in slowdown next time (known_browser.py).
        known_browser.remember(self.request, response, form.cleaned_data["username"])
        return response


@method_decorator(without_role, name="dispatch")
class SignOutView(auth_views.LogoutView):
    def post(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            services.record_sign_out(request.user)
        return super().post(request, *args, **kwargs)
