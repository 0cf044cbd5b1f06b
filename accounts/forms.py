from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm

from accounts import services


class SignInForm(AuthenticationForm):
    """Django's sign-in form, with the sign-in limits and auditing of `accounts.services`."""

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            try:
                self.user_cache = services.check_credentials(
                    self.request, username=username, password=password
                )
            except (
                services.SignInLocked,
                services.SignInSlowed,
                services.SignInUnavailable,
                services.InvalidCredentials,
            ) as exc:
                raise forms.ValidationError(exc.message, code=exc.code) from exc
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


class ApiTokenForm(forms.Form):
    """A new API token: what it is for and how long it lasts (checked by the service)."""

    name = forms.CharField(
        max_length=100, help_text="What uses it, e.g. 'ledger export' (unique among your tokens)."
    )
    days = forms.IntegerField(
        label="Expires after (days)",
        min_value=1,
        max_value=settings.API_TOKEN_MAX_DAYS,
        initial=settings.API_TOKEN_DAYS,
    )
