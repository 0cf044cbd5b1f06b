"""Concurrent wrong passwords for one user name: no more passwords checked than the limit."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from django.contrib.auth.backends import ModelBackend
from django.db import connection
from django.test import Client

from accounts import login_throttle
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


def all_at_once(attempt) -> list[bytes]:
    """Send ATTEMPTS sign-ins at the same moment, each from its own thread and connection."""
    start = threading.Barrier(ATTEMPTS)

    def send(n: int) -> bytes:
        try:
            browser = Client()
            start.wait(timeout=30)
            return browser.post("/accounts/login/", **attempt(n)).content
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=ATTEMPTS) as pool:
        return list(pool.map(send, range(ATTEMPTS)))


@pytest.fixture
def counted_checks(settings):
    settings.AUTHENTICATION_BACKENDS = [f"{__name__}.CountingBackend"]
    CountingBackend.checks = 0
    return CountingBackend


@pytest.mark.django_db(transaction=True)
def test_concurrent_wrong_passwords_are_checked_at_most_limit_times(
    make_user, settings, counted_checks
):
    settings.LOGIN_FAILURES_PER_USER = 5
    make_user("risk", username="rita")
    answers = all_at_once(
        lambda n: {
            "data": {"username": "rita", "password": f"wrong-{n}"},
            "REMOTE_ADDR": f"10.3.0.{n}",  # one address each: only the user name's limit counts
        }
    )
    assert counted_checks.checks == 5
    assert sum(b"not correct" in answer for answer in answers) == 5
    assert sum(b"Too many failed sign-in attempts" in answer for answer in answers) == 25
    assert AuditEvent.objects.filter(action="auth.login_failed").count() == 5
    assert AuditEvent.objects.filter(action="auth.login_blocked").count() == 25


@pytest.mark.django_db(transaction=True)
def test_an_already_slowed_address_gets_one_check_for_concurrent_guesses(settings, counted_checks):
    settings.LOGIN_FAILURES_PER_IP = 5
    settings.LOGIN_SLOWDOWN_MAX_SECONDS = 30
    # Ten failures so far: the next attempt goes through and starts a 30-second wait (2^5 s,
    # capped), longer than the threads take, so exactly one password is checked.
    _user, address_count, _wait = login_throttle._keys("", "10.9.9.9")
    redis.Redis.from_url(settings.REDIS_URL).set(address_count, 10, ex=60)
    answers = all_at_once(
        lambda n: {
            "data": {"username": f"invented{n}", "password": "nope-nope-1"},
            "REMOTE_ADDR": "10.9.9.9",
        }
    )
    assert counted_checks.checks == 1
    assert sum(b"not correct" in answer for answer in answers) == 1
    assert sum(b"from your network. Try again in" in answer for answer in answers) == 29
