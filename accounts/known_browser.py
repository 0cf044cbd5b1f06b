"""A signed cookie naming the user names a browser has signed in as (OWASP's "device cookie").

It lets a regular user through their address's sign-in slowdown (`accounts.login_throttle`):
someone guessing from the same proxy or NAT has no such cookie for the names they try. It only
skips the slowdown; the user name's own lock and the password check still apply. The cookie holds
keyed digests of the names, not the names, and is signed, so it cannot be made up or edited.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.utils.crypto import salted_hmac

COOKIE = "recondesk_known_browser"
_SALT = "accounts.known_browser"
_MOST_NAMES = 5  # a shared desk machine; more than that and the oldest name is forgotten


def _digest(username: str) -> str:
    return salted_hmac(_SALT, username.strip().lower()).hexdigest()[:24]


def _names(request) -> list[str]:
    value = request.COOKIES.get(COOKIE, "")
    if not value:
        return []
    try:
        names = signing.loads(value, salt=_SALT, max_age=_max_age())
    except signing.BadSignature:  # edited, made up or expired
        return []
    return [name for name in names if isinstance(name, str)] if isinstance(names, list) else []


def _max_age() -> timedelta:
    return timedelta(days=settings.LOGIN_KNOWN_BROWSER_DAYS)


def knows(request, username: str) -> bool:
    """Whether this browser has signed in as `username` within LOGIN_KNOWN_BROWSER_DAYS."""
    return _digest(username) in _names(request)


def remember(request, response, username: str) -> None:
    """After a successful sign-in: this browser now knows `username` (renewing its age)."""
    digest = _digest(username)
    names = [name for name in _names(request) if name != digest][-(_MOST_NAMES - 1) :]
    response.set_cookie(
        COOKIE,
        signing.dumps([*names, digest], salt=_SALT),
        max_age=int(_max_age().total_seconds()),
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
