"""Users for tests, made without paying for a password hash each time."""

from __future__ import annotations

import functools
import itertools

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password

from accounts import services as account_services

_names = itertools.count(1)


@functools.cache
def _password_hash(password: str) -> str:
    """The real hash of a password (the production hasher), made once per password.

    Hashing costs most of a second (PBKDF2 at Django's iterations) and most tests make a user
    or several: users made with the same password share one salt, which no test can tell apart.
    Signing in still checks the password against this hash the production way.
    """
    return make_password(password)


def new_user(*roles: str, username: str | None = None, password: str = "correct-horse-9"):  # noqa: S107
    """A user with the given roles: new_user("risk"), new_user() for no role."""
    user = get_user_model().objects.create_user(username=username or f"user{next(_names)}")
    user.password = _password_hash(password)
    user.save(update_fields=["password"])
    if roles:
        account_services.set_roles(user, list(roles), by=None)
    return user
