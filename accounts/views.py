"""Sign in, sign out, and the page for users without a role."""

from django.contrib.auth import views as auth_views
from django.utils.decorators import method_decorator

from accounts import services
from accounts.forms import SignInForm
from accounts.middleware import public, without_role


@method_decorator(public, name="dispatch")
class SignInView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = SignInForm
    redirect_authenticated_user = True

    def form_valid(self, form):
        response = super().form_valid(form)
        services.record_sign_in(self.request.user)
        return response


@method_decorator(without_role, name="dispatch")
class SignOutView(auth_views.LogoutView):
    def post(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            services.record_sign_out(request.user)
        return super().post(request, *args, **kwargs)
