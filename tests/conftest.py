"""Shared fixtures. Tests run against real PostgreSQL and Redis (embedded or from the URLs)."""

from __future__ import annotations

import atexit
import shutil
import tempfile

import pytest
import redis
from django.conf import settings as django_settings
from django.test import Client, TestCase, override_settings

from config import metrics
from tests.users import new_user

# The suite empties its own test database between transactional tests with TRUNCATE, which the
# audit table refuses unless the session allows it (audit/migrations/0002_append_only.py).
django_settings.DATABASES["default"].setdefault("OPTIONS", {})["options"] = (
    "-c recondesk.allow_audit_truncate=on"
)

# Metric files of this session's processes (it, its workers and servers) in a folder of its own:
# CI runs two sessions at once in one checkout, and the tests count exactly. Set before any
# metric is first written (values are made on first use, after this module is imported).
_metric_files = tempfile.mkdtemp(prefix="recondesk-metrics-")
atexit.register(shutil.rmtree, _metric_files, ignore_errors=True)
django_settings.PROMETHEUS_MULTIPROC_DIR = metrics.use_directory(_metric_files)


@pytest.fixture(autouse=True)
def _isolated_outside_state(settings, tmp_path):
    """Keep what lives outside the test database out of other tests' way."""
    settings.AUDIT_HEAD_EXPORT_PATH = tmp_path / "audit-heads.jsonl"
    settings.REPORTS_DIR = tmp_path / "reports"
    # Runs propose no corrections unless a test asks: other tests' books stay as loaded.
    settings.CORRECTIONS_PROPOSE_AFTER_RUNS = False
    # Nobody is notified unless a test asks (tests/notifications): no stray mail or audit entry.
    settings.NOTIFICATIONS_ENABLED = False
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
    return new_user


@pytest.fixture
def client_as(make_user):
    """A browser-like client signed in as a new user with these roles."""

    def signed_in(*roles: str) -> Client:
        client = Client()
        client.force_login(make_user(*roles))
        return client

    return signed_in


@pytest.fixture(scope="module")
def module_db(django_db_setup, django_db_blocker, tmp_path_factory):
    """Database access for a module's shared fixtures: what they make is rolled back at the end.

    Like Django's `TestCase.setUpTestData`: the rows are made once, inside a transaction that
    every test of the module then runs in (each test in a savepoint of its own, rolled back after
    it as always), so each test still starts from exactly those rows. Only for tests that use
    plain `django_db` (a transactional test would commit, and empty the tables).
    """
    export = tmp_path_factory.mktemp("audit") / "audit-heads.jsonl"
    with (
        django_db_blocker.unblock(),
        override_settings(CORRECTIONS_PROPOSE_AFTER_RUNS=False, AUDIT_HEAD_EXPORT_PATH=export),
    ):
        atomics = TestCase._enter_atomics()
        try:
            yield
        finally:
            TestCase._rollback_atomics(atomics)
