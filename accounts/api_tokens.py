"""API tokens: created (shown once), listed and revoked, each change audited.

A token is a django-rest-knox token (`accounts.models.ApiToken`): the database keeps its SHA-512
digest, its first characters (knox's lookup key), a name and an expiry. The token itself exists
only in the answer to its creation, so nobody, an administrator included, can read it back.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from knox.settings import knox_settings

from accounts.access import has_capability
from accounts.models import ApiToken
from audit import services as audit
from config.errors import DomainError

NAME_MAX_LENGTH = ApiToken._meta.get_field("name").max_length


class ApiTokenInvalid(DomainError):
    code = "api_token_invalid"


class ApiTokenNotFound(DomainError):
    code = "api_token_not_found"


def _snapshot(token: ApiToken) -> dict:
    # Never the digest: the audit log is read by more people than the token's owner.
    return {
        "name": token.name,
        "user": token.user.get_username(),
        "starts_with": token.starts_with,
        "expires": token.expiry,
    }


def _check(user, *, name: str, days: int) -> str:
    name = (name or "").strip()
    fields = {}
    if not name:
        fields["name"] = ["Give the token a name, e.g. the system that will use it."]
    elif len(name) > NAME_MAX_LENGTH:
        fields["name"] = [f"A name has at most {NAME_MAX_LENGTH} characters."]
    elif any(ord(c) < 32 or ord(c) == 127 for c in name):
        fields["name"] = ["A name cannot hold control characters."]
    elif ApiToken.objects.filter(user=user, name=name).exists():
        fields["name"] = [f"{user.get_username()} already has a token named {name!r}."]
    most = settings.API_TOKEN_MAX_DAYS
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= most:
        fields["days"] = [f"A token lasts from 1 to {most} days."]
    if fields:
        raise ApiTokenInvalid("The token was not created.", fields=fields)
    if not user.is_active:
        raise ApiTokenInvalid(f"{user.get_username()} is not active; a token would not work.")
    if tokens_of(user).count() >= settings.API_TOKENS_PER_USER:
        raise ApiTokenInvalid(
            f"{user.get_username()} already has {settings.API_TOKENS_PER_USER} tokens; "
            "revoke one that is no longer used first."
        )
    return name


def create_api_token(user, *, name: str, days: int | None = None, by) -> tuple[ApiToken, str]:
    """A new token for `user` and the token itself, which is never available again (audited)."""
    days = settings.API_TOKEN_DAYS if days is None else days
    try:
        with transaction.atomic():
            # One creation at a time per user, so the name and count checks hold at commit.
            get_user_model().objects.select_for_update().filter(pk=user.pk).first()
            # Expired tokens no longer work and are no longer listed: they hold no name or place.
            # (knox deletes them too, but only when their owner next uses a token.)
            ApiToken.objects.filter(user=user, expiry__lte=timezone.now()).delete()
            name = _check(user, name=name, days=days)
            token, secret = ApiToken.objects.create(
                user, expiry=timedelta(days=days), prefix=knox_settings.TOKEN_PREFIX, name=name
            )
            audit.record(
                action="api_token.created",
                actor=by,
                object_type="api_token",
                object_id=token.pk,
                after=_snapshot(token),
            )
    except IntegrityError as exc:  # the same name created at the same moment
        raise ApiTokenInvalid(
            "The token was not created.",
            fields={"name": [f"{user.get_username()} already has a token named {name!r}."]},
        ) from exc
    return token, secret


def revoke_api_token(token: ApiToken, *, by) -> None:
    """Delete the token, so it no longer authenticates (audited)."""
    with transaction.atomic():
        locked = ApiToken.objects.select_for_update().filter(pk=token.pk).first()
        if locked is None:
            raise ApiTokenNotFound("That token no longer exists (revoked or expired).")
        before = _snapshot(locked)
        locked.delete()
        audit.record(
            action="api_token.revoked",
            actor=by,
            object_type="api_token",
            object_id=token.pk,
            before=before,
        )


def tokens_of(user) -> QuerySet[ApiToken]:
    """The user's tokens that still work, newest first."""
    return (
        ApiToken.objects.filter(user=user, expiry__gt=timezone.now())
        .select_related("user")
        .order_by("-created", "-pk")
    )


def access_api_token(user, token_id) -> ApiToken:
    """The token `user` may revoke: their own, or anyone's for those who manage users.

    A missing token and another person's give the same 404.
    """
    token = ApiToken.objects.select_related("user").filter(pk=token_id).first()
    if token is None or (token.user_id != user.pk and not has_capability(user, "manage_users")):
        raise ApiTokenNotFound("No such token.")
    return token
