"""Webhook signing secrets are stored sealed under WEBHOOK_SECRETS_KEY: the database never holds
one in clear, messages still verify with the secret the receiver was given, a key rotation keeps
them readable and `reseal_webhook_secrets` moves them to the new key, and a secret no key opens
stops the sending (a failed attempt saying why), never sends unsigned."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError
from django.db import connection
from standardwebhooks import Webhook

from audit.models import AuditEvent
from corrections import outbox, sealing, services
from corrections.models import Delivery, WebhookEndpoint
from reconciliation.models import Break
from tests.demo_runs import finished_position_run
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.django_db

OLD_KEY, NEW_KEY = "old-" + "o" * 40, "new-" + "n" * 40


@pytest.fixture
def receiver():
    started = Receiver().start()
    yield started
    started.stop()


def _stored_texts(endpoint) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT secret || previous_secrets::text FROM corrections_webhookendpoint "
            "WHERE id = %s", [endpoint.pk],
        )  # fmt: skip
        return cursor.fetchone()[0]


def _publish_one(make_user) -> None:
    run = finished_position_run()
    brk = Break.objects.filter(last_seen_run=run, suggested_value__isnull=False).first()
    correction = services.propose(brk, by=make_user("risk"), reason="sealed secrets")
    outbox.publish("correction.applied", correction, {"a": "1"})


def test_the_database_holds_no_secret_in_clear_and_messages_verify(
    settings, make_user, receiver, admin_user
):  # fmt: skip
    settings.WEBHOOK_SECRETS_KEY = OLD_KEY
    endpoint, first = outbox.create_endpoint(name="trading", url=receiver.url, by=admin_user)
    endpoint, second = outbox.rotate_secret(endpoint, by=admin_user)
    stored = _stored_texts(endpoint)
    assert first not in stored and second not in stored
    assert first[len("whsec_") :] not in stored and stored.count(sealing.PREFIX) == 2
    _publish_one(make_user)
    outbox.relay()
    request = receiver.requests[-1]
    # Signed with both while the first one's grace lasts: either verifies.
    for secret in (first, second):
        Webhook(secret).verify(request.body, request.headers)


def test_a_rotated_key_still_opens_and_resealing_moves_them_to_the_new_key(
    settings, make_user, admin_user
):  # fmt: skip
    settings.WEBHOOK_SECRETS_KEY = OLD_KEY
    endpoint, secret = outbox.create_endpoint(name="trading", url="https://t.example/h",
                                              by=admin_user)  # fmt: skip
    settings.WEBHOOK_SECRETS_KEY, settings.WEBHOOK_SECRETS_KEYS = NEW_KEY, [OLD_KEY]
    assert outbox.active_secrets(WebhookEndpoint.objects.get(pk=endpoint.pk)) == [secret]
    before = WebhookEndpoint.objects.get(pk=endpoint.pk).secret
    out = io.StringIO()
    call_command("reseal_webhook_secrets", "--as", admin_user.username, stdout=out)
    assert "1 endpoint" in out.getvalue()
    assert AuditEvent.objects.filter(action="webhook_endpoint.secrets_resealed").count() == 1
    settings.WEBHOOK_SECRETS_KEYS = []  # the old key dropped: the resealed secret still opens
    resealed = WebhookEndpoint.objects.get(pk=endpoint.pk)
    assert resealed.secret != before and outbox.active_secrets(resealed) == [secret]


def test_resealing_is_refused_whole_when_a_secret_cannot_be_opened(settings, admin_user):
    settings.WEBHOOK_SECRETS_KEY = OLD_KEY
    endpoint, _ = outbox.create_endpoint(name="trading", url="https://t.example/h",
                                         by=admin_user)  # fmt: skip
    before = WebhookEndpoint.objects.get(pk=endpoint.pk).secret
    settings.WEBHOOK_SECRETS_KEY = NEW_KEY  # the old key forgotten: nothing opens it
    with pytest.raises(CommandError, match="WEBHOOK_SECRETS_KEYS"):
        call_command("reseal_webhook_secrets", "--as", admin_user.username, stdout=io.StringIO())
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).secret == before
    assert not AuditEvent.objects.filter(action="webhook_endpoint.secrets_resealed").exists()


def test_resealing_takes_an_admin(make_user):
    with pytest.raises(CommandError, match="may not manage webhook endpoints"):
        call_command("reseal_webhook_secrets", "--as", make_user("risk").username)


def test_a_secret_no_key_opens_fails_the_attempt_and_sends_nothing(
    settings, make_user, receiver, admin_user
):  # fmt: skip
    settings.WEBHOOK_SECRETS_KEY = OLD_KEY
    endpoint, _ = outbox.create_endpoint(name="trading", url=receiver.url, by=admin_user)
    _publish_one(make_user)
    settings.WEBHOOK_SECRETS_KEY = NEW_KEY
    outbox.relay()
    assert receiver.requests == []
    delivery = Delivery.objects.get(endpoint=endpoint)
    assert delivery.status == "pending" and delivery.failures == 1
    assert "WEBHOOK_SECRETS_KEY" in delivery.last_error
    attempt = delivery.attempt_log.get()
    assert attempt.signatures == 0 and attempt.response_status is None


def test_a_stored_text_that_is_not_sealed_or_is_damaged_is_unreadable(settings):
    settings.WEBHOOK_SECRETS_KEY = OLD_KEY
    sealed = sealing.seal("whsec_abc")
    assert sealing.unseal(sealed) == "whsec_abc"
    for stored in ("whsec_abc", sealed[:-4] + "AAAA", sealing.PREFIX + "not a token"):
        with pytest.raises(sealing.SecretUnreadable):
            sealing.unseal(stored)
        with pytest.raises(sealing.SecretUnreadable):
            sealing.resealed(stored)


def test_resealing_drops_secrets_whose_grace_has_ended(settings, admin_user):
    settings.WEBHOOK_SECRETS_KEY = OLD_KEY
    endpoint, _ = outbox.create_endpoint(name="trading", url="https://t.example/h",
                                         by=admin_user)  # fmt: skip
    endpoint, current = outbox.rotate_secret(endpoint, by=admin_user)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        previous_secrets=[{**endpoint.previous_secrets[0], "until": "2000-01-01T00:00:00+00:00"}]
    )
    settings.WEBHOOK_SECRETS_KEY, settings.WEBHOOK_SECRETS_KEYS = NEW_KEY, [OLD_KEY]
    assert outbox.reseal_secrets(by=admin_user) == 1
    settings.WEBHOOK_SECRETS_KEYS = []
    resealed = WebhookEndpoint.objects.get(pk=endpoint.pk)
    assert resealed.previous_secrets == [] and outbox.active_secrets(resealed) == [current]


def test_check_deploy_refuses_the_development_sealing_key(settings, monkeypatch):
    # (The browser tests' conftest allows async-unsafe calls, which `check --deploy` reports.)
    monkeypatch.delenv("DJANGO_ALLOW_ASYNC_UNSAFE", raising=False)
    settings.AUDIT_HMAC_KEY = "a" * 40
    settings.WEBHOOK_SECRETS_KEY = ""
    with pytest.raises(SystemCheckError, match=r"corrections\.E001"):
        call_command("check", "--deploy", stdout=io.StringIO(), stderr=io.StringIO())
    settings.WEBHOOK_SECRETS_KEY, settings.WEBHOOK_SECRETS_KEYS = NEW_KEY, ["short"]
    out = io.StringIO()
    call_command("check", "--deploy", stdout=out, stderr=out)
    assert "corrections.W001" in out.getvalue() and "corrections.E001" not in out.getvalue()
    settings.WEBHOOK_SECRETS_KEYS = [OLD_KEY]
    out = io.StringIO()
    call_command("check", "--deploy", stdout=out, stderr=out)
    assert "corrections." not in out.getvalue()
