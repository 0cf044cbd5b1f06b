"""The client's address and the request id behind a configured number of trusted proxies.

One function (`audit.context.client_address`) answers for the audit log and the sign-in limits.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from accounts import checks
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.5"  # REMOTE_ADDR of every request that came through the proxy
CLIENT = "203.0.113.7"  # what the proxy appended: the address it received the request from


def fail_sign_in(username: str = "rita", **headers):
    headers.setdefault("REMOTE_ADDR", PROXY)
    return Client().post(
        "/accounts/login/", {"username": username, "password": "x-wrong-1"}, **headers
    )


def last_failure() -> AuditEvent:
    return AuditEvent.objects.filter(action="auth.login_failed").order_by("-sequence").first()


def test_without_a_trusted_proxy_forwarded_for_is_the_clients_own_text(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    fail_sign_in(REMOTE_ADDR="10.2.2.2", HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert last_failure().ip == "10.2.2.2"


def test_behind_one_proxy_a_forged_leftmost_entry_is_ignored(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    fail_sign_in(HTTP_X_FORWARDED_FOR=f"6.6.6.6, {CLIENT}")
    assert last_failure().ip == CLIENT
    fail_sign_in(HTTP_X_FORWARDED_FOR=f"junk, [2001:db8::1], {CLIENT}")
    assert last_failure().ip == CLIENT
    fail_sign_in(HTTP_X_FORWARDED_FOR=CLIENT)
    assert last_failure().ip == CLIENT


def test_behind_two_proxies_the_second_entry_from_the_right_is_the_client(settings):
    settings.TRUSTED_PROXY_COUNT = 2
    fail_sign_in(HTTP_X_FORWARDED_FOR=f"6.6.6.6, {CLIENT}, 198.51.100.2")
    assert last_failure().ip == CLIENT


def test_addresses_are_read_in_every_form_a_proxy_writes_them(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    fail_sign_in(HTTP_X_FORWARDED_FOR="6.6.6.6, 2001:DB8::7")
    assert last_failure().ip == "2001:db8::7"
    fail_sign_in(HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7:51234")  # with the client's port
    assert last_failure().ip == CLIENT
    settings.TRUSTED_PROXY_COUNT = 0
    fail_sign_in(REMOTE_ADDR="::ffff:10.2.2.2")  # an IPv4 client on a dual-stack socket
    assert last_failure().ip == "10.2.2.2"


def test_a_chain_shorter_than_the_proxies_falls_back_to_the_connection(settings):
    settings.TRUSTED_PROXY_COUNT = 2
    fail_sign_in(HTTP_X_FORWARDED_FOR=CLIENT)  # did not pass both proxies
    assert last_failure().ip == PROXY
    settings.TRUSTED_PROXY_COUNT = 1
    fail_sign_in(HTTP_X_FORWARDED_FOR="not an address")
    assert last_failure().ip == PROXY


def test_rotating_forged_entries_does_not_escape_the_address_slowdown(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.LOGIN_FAILURES_PER_IP = 3
    answers = [
        fail_sign_in(f"invented{n}", HTTP_X_FORWARDED_FOR=f"198.18.0.{n}, {CLIENT}").content
        for n in range(6)
    ]
    assert [b"not correct" in answer for answer in answers] == [True] * 4 + [False] * 2
    assert all(b"from your network" in answer for answer in answers[4:])
    assert set(AuditEvent.objects.values_list("ip", flat=True)) == {CLIENT}
    # Another client behind the same proxy is a different address, and is not slowed.
    other = fail_sign_in("invented9", HTTP_X_FORWARDED_FOR="198.51.100.77")
    assert b"not correct" in other.content


def test_a_direct_clients_request_id_does_not_reach_the_audit_log(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    response = fail_sign_in(HTTP_X_REQUEST_ID="forged-request-1")
    stored = last_failure().request_id
    assert stored != "forged-request-1" and len(stored) == 32
    assert response["X-Request-ID"] == stored


def test_a_trusted_proxys_request_id_is_kept_when_it_is_a_plain_token(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    response = fail_sign_in(HTTP_X_FORWARDED_FOR=CLIENT, HTTP_X_REQUEST_ID="0f6c2a9e-edge-42")
    assert last_failure().request_id == "0f6c2a9e-edge-42" == response["X-Request-ID"]
    for n, bad in enumerate(("short", "x" * 65, "id with spaces", "<b>ten chars</b>", "é" * 10)):
        response = fail_sign_in(f"user{n}", HTTP_X_FORWARDED_FOR=CLIENT, HTTP_X_REQUEST_ID=bad)
        assert last_failure().request_id != bad and len(last_failure().request_id) == 32
        assert response["X-Request-ID"] == last_failure().request_id


def test_the_former_switch_warns_in_the_system_checks(settings):
    settings.TRUST_X_FORWARDED_FOR_GIVEN = False
    assert checks.forwarded_for_switch_is_deprecated(None) == []
    settings.TRUST_X_FORWARDED_FOR_GIVEN = True
    settings.TRUSTED_PROXY_COUNT = 1
    (warning,) = checks.forwarded_for_switch_is_deprecated(None)
    assert warning.id == "accounts.W010" and "TRUSTED_PROXY_COUNT=1" in warning.msg


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if "PROXY" not in key}
    environment.pop("TRUST_X_FORWARDED_FOR", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args, "--no-color"],
        cwd=Path(__file__).resolve().parents[2],
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_former_switch_means_one_proxy_and_a_negative_count_refuses_to_start():
    code = "from django.conf import settings; print(settings.TRUSTED_PROXY_COUNT)"
    shell = _manage("shell", "--no-imports", "-c", code, TRUST_X_FORWARDED_FOR="true")
    assert shell.stdout.strip() == "1", shell.stderr
    checked = _manage("check", TRUST_X_FORWARDED_FOR="true")
    assert "accounts.W010" in checked.stderr + checked.stdout
    assert _manage("shell", "--no-imports", "-c", code).stdout.strip() == "0"
    refused = _manage("check", TRUSTED_PROXY_COUNT="-1")
    assert refused.returncode != 0
    assert "TRUSTED_PROXY_COUNT must be 0 (no proxy)" in refused.stderr
