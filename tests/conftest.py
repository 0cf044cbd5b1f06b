"""Shared fixtures. Tests run against real PostgreSQL and Redis (embedded or from the URLs)."""

from __future__ import annotations

import itertools

import pytest
import redis
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.test import Client

from accounts import services as account_services

# The suite empties its own test database between transactional tests with TRUNCATE, which the
# audit table refuses unless the session allows it (audit/migrations/0002_append_only.py).
django_settings.DATABASES["default"].setdefault("OPTIONS", {})["options"] = (
    "-c recondesk.allow_audit_truncate=on"
)

_names = itertools.count(1)


@pytest.fixture(autouse=True)
def _isolated_outside_state(settings, tmp_path):
    """Keep what lives outside the test database out of other tests' way."""
    settings.AUDIT_HEAD_EXPORT_PATH = tmp_path / "audit-heads.jsonl"
    # Runs propose no corrections unless a test asks: other tests' books stay as loaded.
    settings.CORRECTIONS_PROPOSE_AFTER_RUNS = False
    client = redis.Redis.from_url(settings.REDIS_URL)
    for pattern in (
        "recondesk:login-failures:*",
        "recondesk:form-sent:*",
        "recondesk:worker-heartbeats",
        "recondesk:worker-instance-heartbeats",
        "recondesk:claim-sweep",
    ):
        for key in client.scan_iter(pattern):
            client.delete(key)
    yield


@pytest.fixture
def make_user(db):
    """Create a user with the given roles: make_user("risk"), make_user() for no role."""

    def make(*roles: str, username: str | None = None, password: str = "correct-horse-9"):  # noqa: S107
        user = get_user_model().objects.create_user(
            username=username or f"user{next(_names)}", password=password
        )
        if roles:
            account_services.set_roles(user, list(roles), by=None)
        return user

    return make


@pytest.fixture
def client_as(make_user):
    """A browser-like client signed in as a new user with these roles."""

    def signed_in(*roles: str) -> Client:
        client = Client()
        client.force_login(make_user(*roles))
        return client

    return signed_in
