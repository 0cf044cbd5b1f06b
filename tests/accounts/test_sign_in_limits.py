"""The per-address sign-in limit slows an address down; it never locks its regular users out."""

import time

import pytest
import redis
from django.test import Client

from accounts import known_browser, login_throttle
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-9"
SHARED = "10.9.9.9"  # every client behind one proxy or NAT


def sign_in(client: Client, username: str, password: str, ip: str = SHARED):
    return client.post(
        "/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=ip
    )


def guess(count: int, ip: str = SHARED, start: int = 0) -> None:
    for n in range(start, start + count):
        response = sign_in(Client(), f"invented{n}", "nope-nope-1", ip=ip)
        assert b"not correct" in response.content


def signed_in(response) -> bool:
    return response.status_code == 302


def hold_wait(settings, seconds: int = 30, ip: str = SHARED) -> None:
    """Make the address wait `seconds` from now (as after a long run of guesses), however long
    the test's own password checks took."""
    _user, _count, wait = login_throttle._keys("", ip)
    redis.Redis.from_url(settings.REDIS_URL).set(wait, 1, px=seconds * 1000)


def address_count(settings, ip: str = SHARED) -> int:
    _user, count, _wait = login_throttle._keys("", ip)
    return int(redis.Redis.from_url(settings.REDIS_URL).get(count) or 0)


def test_invented_names_from_one_address_do_not_lock_out_a_real_user(make_user):
    make_user("risk", username="rita")
    guess(20)  # LOGIN_FAILURES_PER_IP's default
    assert signed_in(sign_in(Client(), "rita", PASSWORD))
    assert AuditEvent.objects.filter(action="auth.login", actor__username="rita").count() == 1


def test_an_address_over_its_limit_waits_and_then_gets_in(make_user, settings):
    settings.LOGIN_FAILURES_PER_IP = 3
    make_user("risk", username="rita")
    guess(4)  # three free failures, then one let through, which starts a wait
    hold_wait(settings, 2)
    browser = Client()
    response = sign_in(browser, "rita", PASSWORD)
    assert not signed_in(response)
    assert b"from your network. Try again in 2 seconds." in response.content
    # The slowed attempt was not checked and does not count against rita's own limit.
    assert AuditEvent.objects.filter(action="auth.login_slowed", object_id="rita").count() == 1
    assert not AuditEvent.objects.filter(action="auth.login_failed", object_id="rita").exists()
    time.sleep(2.1)
    assert signed_in(sign_in(browser, "rita", PASSWORD))


def test_the_wait_doubles_with_each_failure_and_has_a_ceiling(settings):
    settings.LOGIN_FAILURES_PER_IP = 2
    settings.LOGIN_SLOWDOWN_MAX_SECONDS = 30
    begin = login_throttle.begin_attempt
    assert begin("invented1", SHARED).allowed and begin("invented2", SHARED).allowed  # free
    client = redis.Redis.from_url(settings.REDIS_URL)
    _user, count, wait = login_throttle._keys("", SHARED)
    for expected in (1, 2, 4, 8):
        assert begin(f"invented{10 + expected}", SHARED).allowed  # let through; the next waits
        slowed = begin("invented4", SHARED)
        assert (slowed.outcome, slowed.wait_seconds) == (login_throttle.ADDRESS_SLOWED, expected)
        client.delete(wait)  # the wait has passed
    client.set(count, 500, ex=60)
    assert begin("invented3", SHARED).allowed
    assert begin("invented4", SHARED).wait_seconds == 30
    # A slowed attempt is not counted, against the address nor against its user name.
    assert int(client.get(count)) == 501
    assert not client.exists(login_throttle._keys("invented4", SHARED)[0])


def test_other_addresses_are_not_slowed(make_user, settings):
    settings.LOGIN_FAILURES_PER_IP = 2
    make_user("risk", username="rita")
    guess(3)  # the address 10.9.9.9 now waits
    hold_wait(settings)
    assert signed_in(sign_in(Client(), "rita", PASSWORD, ip="10.9.9.10"))


def test_a_browser_that_signed_in_before_skips_its_address_slowdown(make_user, settings):
    settings.LOGIN_FAILURES_PER_IP = 3
    make_user("risk", username="rita")
    make_user("risk", username="bob")
    regular = Client()
    assert signed_in(sign_in(regular, "rita", PASSWORD))
    assert known_browser.COOKIE in regular.cookies
    regular.post("/accounts/logout/")
    guess(4)  # the address now waits
    hold_wait(settings)
    assert signed_in(sign_in(regular, "rita", PASSWORD))
    # The cookie vouches for the name it was given for only, and cannot be made up.
    regular.post("/accounts/logout/")
    assert b"from your network" in sign_in(regular, "bob", PASSWORD).content
    forged = Client()
    forged.cookies[known_browser.COOKIE] = regular.cookies[known_browser.COOKIE].value + "x"
    assert b"from your network" in sign_in(forged, "rita", PASSWORD).content


def test_a_known_browser_still_meets_the_user_name_lock(make_user, settings):
    settings.LOGIN_FAILURES_PER_USER = 3
    make_user("risk", username="rita")
    regular = Client()
    assert signed_in(sign_in(regular, "rita", PASSWORD))
    regular.post("/accounts/logout/")
    for attempt in range(3):
        sign_in(Client(), "rita", f"wrong-{attempt}", ip=f"10.0.0.{attempt}")
    response = sign_in(regular, "rita", PASSWORD)
    assert b"Too many failed sign-in attempts. Try again in about 15 minutes." in response.content


def test_a_success_does_not_unlock_guessing_from_its_address(make_user, settings):
    settings.LOGIN_FAILURES_PER_IP = 3
    make_user("risk", username="rita")
    guess(3)
    assert signed_in(sign_in(Client(), "rita", PASSWORD))
    assert address_count(settings) == 3  # the success took back its own attempt, no more
    hold_wait(settings)
    assert b"from your network" in sign_in(Client(), "invented99", "nope-nope-1").content


def test_without_redis_sign_in_is_refused_clearly_and_no_password_is_checked(make_user, settings):
    make_user("risk", username="rita")
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    response = sign_in(Client(), "rita", PASSWORD)
    assert response.status_code == 200 and not signed_in(response)
    assert b"Sign-in is unavailable for a moment." in response.content
    assert not AuditEvent.objects.filter(action__startswith="auth.login").exists()
