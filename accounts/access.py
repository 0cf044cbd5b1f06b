"""The one permission helper: pages, API views and tasks all ask `has_capability`."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models import Q, QuerySet
from django.shortcuts import render
from rest_framework.permissions import BasePermission

from accounts.roles import ADMIN, CAPABILITIES, ROLE_CAPABILITIES, ROLES

ROLES_CACHE = "_recondesk_roles"


def user_roles(user) -> list[str]:
    """The user's roles, in the fixed order risk, finance, admin (a superuser is an admin).

    Kept on the user object, as Django keeps its permissions there: a page asks several times,
    and a request's user is fetched anew for each request. `forget_roles` after a change.
    """
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return []
    cached = getattr(user, ROLES_CACHE, None)
    if cached is not None:
        return list(cached)
    names = {group.name for group in user.groups.all()}
    if user.is_superuser:
        names.add(ADMIN)
    roles = [role for role in ROLES if role in names]
    setattr(user, ROLES_CACHE, tuple(roles))
    return roles


def forget_roles(user) -> None:
    """Drop what the user object remembers of its roles and permissions (they just changed)."""
    for name in (ROLES_CACHE, "_perm_cache", "_user_perm_cache", "_group_perm_cache"):
        user.__dict__.pop(name, None)


def has_capability(user, capability: str) -> bool:
    """Whether an active user with at least one role may do `capability`."""
    if capability not in CAPABILITIES:
        raise ValueError(f"unknown capability {capability!r}")
    roles = user_roles(user)
    if not roles:
        return False
    if user.is_superuser:
        # A superuser holds every permission in Django, but separation of duties holds for them
        # too: they may do what their roles may (an admin does not approve corrections).
        return any(capability in ROLE_CAPABILITIES[role] for role in roles)
    return user.has_perm(f"accounts.{capability}")


def holders_of(capability: str) -> QuerySet:
    """Active users who may do `capability`, by username: `has_capability` as one query.

    Asked by capability, never by role name: a role that gains or loses a capability changes
    who is listed (whom a break can be assigned to) without any caller changing.
    """
    if capability not in CAPABILITIES:
        raise ValueError(f"unknown capability {capability!r}")
    users = get_user_model().objects
    permission = Permission.objects.filter(content_type__app_label="accounts", codename=capability)
    with_a_role = Q(is_superuser=True) | Q(pk__in=users.filter(groups__name__in=ROLES).values("pk"))
    superuser = Q(is_superuser=True)
    if capability not in ROLE_CAPABILITIES[ADMIN]:  # see has_capability: roles bind them too
        holding = [role for role in ROLES if capability in ROLE_CAPABILITIES[role]]
        superuser &= Q(pk__in=users.filter(groups__name__in=holding).values("pk"))
    granted = (
        superuser
        | Q(pk__in=users.filter(groups__permissions__in=permission).values("pk"))
        | Q(pk__in=users.filter(user_permissions__in=permission).values("pk"))
    )
    return users.filter(with_a_role, granted, is_active=True).order_by("username")


def capabilities_of(user) -> set[str]:
    return {name for name in CAPABILITIES if has_capability(user, name)}


def render_no_access(request, *, reason: str = "", status: int = 403):
    return render(request, "accounts/no_access.html", {"reason": reason}, status=status)


def requires_capability(capability: str):
    """Page decorator: a user without `capability` gets the "no access" page (403)."""

    def decorate(view):
        @wraps(view)
        def guarded(request, *args, **kwargs):
            if not has_capability(request.user, capability):
                needed = CAPABILITIES[capability]
                reason = f"This page is for people who may {needed[0].lower()}{needed[1:]}."
                return render_no_access(request, reason=reason)
            return view(request, *args, **kwargs)

        guarded.required_capability = capability
        return guarded

    return decorate


class HasRole(BasePermission):
    """API permission: authenticated, holding a role, and the view's `required_capability`.

    A view may set `required_capability` (one for every method) or `required_capabilities`
    (a dict from HTTP method to capability; methods not listed are refused). HEAD asks what
    GET asks; OPTIONS (what the view accepts) only a role. A method the view does not have
    passes here, so that DRF answers it with 405 and `Allow` rather than a misleading 403.
    """

    message = "Your account has no role that allows this."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        if not _handles(view, request.method):
            return True
        if not user_roles(user):
            return False
        method = "GET" if request.method == "HEAD" else request.method
        if method == "OPTIONS":
            return True
        by_method = getattr(view, "required_capabilities", None)
        if by_method is not None:
            capability = by_method.get(method)
            return capability is not None and has_capability(user, capability)
        capability = getattr(view, "required_capability", None)
        return capability is None or has_capability(user, capability)


def _handles(view, method: str) -> bool:
    """Whether `view` answers `method` (DRF's dispatch answers the others with 405)."""
    name = method.lower()
    return name in view.http_method_names and hasattr(view, name)
