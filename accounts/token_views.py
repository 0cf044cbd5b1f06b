"""The API tokens page: a signed-in user creates, lists and revokes their own tokens."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts import api_tokens
from accounts.forms import ApiTokenForm
from config.errors import add_to_form
from config.form_tokens import shown_once


@never_cache
@require_http_methods(["GET", "POST"])
def token_list(request):
    form = ApiTokenForm(request.POST or None)
    created = secret = None
    if request.method == "POST" and form.is_valid():
        try:
            created, secret = api_tokens.create_api_token(
                request.user, **form.cleaned_data, by=request.user
            )
        except api_tokens.ApiTokenInvalid as exc:
            add_to_form(form, exc)
        else:
            form = ApiTokenForm()
    context = {
        "tokens": api_tokens.tokens_of(request.user),
        "form": form,
        "created": created,
        "secret": secret,
    }
    response = render(request, "accounts/tokens.html", context, status=400 if form.errors else 200)
    return shown_once(response) if secret else response


@require_POST
def token_revoke(request, token_id: int):
    token = api_tokens.access_api_token(request.user, token_id)
    api_tokens.revoke_api_token(token, by=request.user)
    messages.success(request, f"Token {token.name!r} revoked; it no longer works.")
    return redirect("accounts:tokens")
