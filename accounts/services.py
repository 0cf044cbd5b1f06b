"""Signing in and out, and changing roles, each audited."""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.contrib.auth.models import Group
from django.db import transaction
from rest_framework import status

from accounts import login_throttle
from accounts.access import user_roles
from accounts.roles import ADMIN, ROLES
from audit import services as audit
from config.errors import DomainError


class SignInLocked(DomainError):
    code = "sign_in_locked"
    http_status = status.HTTP_429_TOO_MANY_REQUESTS


class InvalidCredentials(DomainError):
    code = "invalid_credentials"
    http_status = status.HTTP_401_UNAUTHORIZED


class UnknownRole(DomainError):
    code = "unknown_role"


def check_credentials(request, *, username: str, password: str):
    """The user these credentials belong to; refused when locked out or wrong (both audited)."""
    ip = request.audit_context.ip or ""
    wait = login_throttle.seconds_locked(username, ip)
    if wait:
        audit.record(action="auth.login_blocked", object_type="user", object_id=username[:100])
        minutes = max(1, round(wait / 60))
        raise SignInLocked(
            f"Too many failed sign-in attempts. Try again in about {minutes} minute"
            f"{'s' if minutes != 1 else ''}."
        )
    user = authenticate(request, username=username, password=password)
    if user is None:
        login_throttle.register_failure(username, ip)
        audit.record(action="auth.login_failed", object_type="user", object_id=username[:100])
        raise InvalidCredentials("The user name or password is not correct.")
    login_throttle.clear_user(username)
    return user


def record_sign_in(user) -> None:
    audit.record(action="auth.login", actor=user, object_type="user", object_id=user.pk)


def record_sign_out(user) -> None:
    audit.record(action="auth.logout", actor=user, object_type="user", object_id=user.pk)


def record_role_change(user, *, before: list[str], by) -> None:
    """Audit a change of `user`'s roles (already saved) and keep `is_staff` in step with admin."""
    after = user_roles(user)
    if sorted(before) == sorted(after):
        return
    with transaction.atomic():
        is_staff = user.is_superuser or ADMIN in after
        if user.is_staff != is_staff:
            type(user).objects.filter(pk=user.pk).update(is_staff=is_staff)
            user.is_staff = is_staff
        audit.record(
            action="user.roles_changed",
            actor=by,
            object_type="user",
            object_id=user.pk,
            before={"roles": sorted(before)},
            after={"roles": sorted(after)},
        )


def record_password_set(user, *, by) -> None:
    """Audit a password set for `user` by someone else (the admin's password form).

    An administrator who sets a person's password can sign in as them; that must show.
    """
    audit.record(
        action="user.password_set",
        actor=by,
        object_type="user",
        object_id=user.pk,
        after={"usable": user.has_usable_password()},
    )


def set_roles(user, roles: list[str], *, by) -> None:
    """Give `user` exactly these roles (audited)."""
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise UnknownRole(f"Unknown role(s): {', '.join(unknown)}. Roles are {', '.join(ROLES)}.")
    with transaction.atomic():
        before = user_roles(user)
        others = list(user.groups.exclude(name__in=ROLES))
        user.groups.set(others + list(Group.objects.filter(name__in=roles)))
        record_role_change(user, before=before, by=by)
