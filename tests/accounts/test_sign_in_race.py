"""Concurrent wrong passwords for one user name: no more passwords checked than the limit."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth.backends import ModelBackend
from django.db import connection
from django.test import Client

from audit.models import AuditEvent

ATTEMPTS = 30


class CountingBackend(ModelBackend):
    """Django's own backend, counting the passwords it is asked to check."""

    checks = 0
    _lock = threading.Lock()

    def authenticate(self, request, username=None, password=None, **kwargs):
        with CountingBackend._lock:
            CountingBackend.checks += 1
        return super().authenticate(request, username=username, password=password, **kwargs)


@pytest.mark.django_db(transaction=True)
def test_concurrent_wrong_passwords_are_checked_at_most_limit_times(make_user, settings):
    settings.LOGIN_FAILURES_PER_USER = 5
    settings.AUTHENTICATION_BACKENDS = [f"{__name__}.CountingBackend"]
    CountingBackend.checks = 0
    make_user("risk", username="rita")
    start = threading.Barrier(ATTEMPTS)

    def attempt(n: int) -> bytes:
        try:
            browser = Client()
            start.wait(timeout=30)
            response = browser.post(
                "/accounts/login/",
                {"username": "rita", "password": f"wrong-{n}"},
                REMOTE_ADDR=f"10.3.0.{n}",  # one address each: only the user name's limit counts
            )
            return response.content
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=ATTEMPTS) as pool:
        answers = list(pool.map(attempt, range(ATTEMPTS)))

    assert CountingBackend.checks == 5
    assert sum(b"not correct" in answer for answer in answers) == 5
    assert sum(b"Too many failed sign-in attempts" in answer for answer in answers) == 25
    assert AuditEvent.objects.filter(action="auth.login_failed").count() == 5
    assert AuditEvent.objects.filter(action="auth.login_blocked").count() == 25
