"""Signing in and out, and changing roles, each audited."""

from __future__ import annotations

import logging

import redis
from django.contrib.auth import authenticate
from django.contrib.auth.models import Group
from django.db import transaction

from accounts import known_browser, login_throttle
from accounts.access import forget_roles, user_roles
from accounts.roles import ADMIN, ROLES
from audit import services as audit
from audit.context import client_address
from config.errors import DomainError

logger = logging.getLogger(__name__)


class SignInLocked(DomainError):
    code = "sign_in_locked"


class SignInSlowed(DomainError):
    code = "sign_in_slowed"


class SignInUnavailable(DomainError):
    code = "sign_in_unavailable"


class InvalidCredentials(DomainError):
    code = "invalid_credentials"


class UnknownRole(DomainError):
    code = "unknown_role"


def check_credentials(request, *, username: str, password: str):
    """The user these credentials belong to; refused when locked, slowed or wrong (all audited).

    The attempt is counted before the password is checked (`login_throttle.begin_attempt`), so
    concurrent guesses cannot all slip in before the lock.
    """
    context = getattr(request, "audit_context", None)
    ip = (context.ip if context else client_address(request)) or ""
    try:
        verdict = login_throttle.begin_attempt(
            username, ip, known_browser=known_browser.knows(request, username)
        )
    except redis.RedisError as exc:
        # Without its counters no attempt can be limited: refuse rather than check unlimited.
        logger.warning("sign-in refused: the sign-in limits' Redis is unavailable", exc_info=True)
        raise SignInUnavailable(
            "Sign-in is unavailable for a moment. Please try again in a minute."
        ) from exc
    if verdict.outcome == login_throttle.USER_LOCKED:
        audit.record(action="auth.login_blocked", object_type="user", object_id=username[:100])
        minutes = max(1, round(verdict.wait_seconds / 60))
        raise SignInLocked(
            f"Too many failed sign-in attempts. Try again in about {minutes} minute"
            f"{'s' if minutes != 1 else ''}."
        )
    if verdict.outcome == login_throttle.ADDRESS_SLOWED:
        audit.record(action="auth.login_slowed", object_type="user", object_id=username[:100])
        seconds = verdict.wait_seconds
        raise SignInSlowed(
            "Too many failed sign-in attempts from your network. Try again in "
            f"{seconds} second{'s' if seconds != 1 else ''}."
        )
    user = authenticate(request, username=username, password=password)
    if user is None:
        audit.record(action="auth.login_failed", object_type="user", object_id=username[:100])
        raise InvalidCredentials("The user name or password is not correct.")
    try:
        login_throttle.attempt_succeeded(username, ip)
    except redis.RedisError:
        # The password was right; the attempt stays counted until the window ends.
        logger.warning("sign-in count not cleared; Redis is unavailable", exc_info=True)
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
        forget_roles(user)
        record_role_change(user, before=before, by=by)
