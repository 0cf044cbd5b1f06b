"""The outbox in Django admin: endpoints through the audited services (a secret shown once), the
delivery log read-only with its attempts, and replay; only for those who manage integrations."""

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from audit.models import AuditEvent
from corrections import outbox, sealing, services
from corrections.models import Delivery, WebhookEndpoint
from reconciliation.models import Break
from tests.demo_runs import finished_position_run
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    started = Receiver(answer=lambda number: (500, False)).start()
    yield started
    started.stop()


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _failed_delivery(make_user, receiver, admin) -> Delivery:
    endpoint, _ = outbox.create_endpoint(name="trading", url=receiver.url, by=admin)
    run = finished_position_run()
    brk = Break.objects.filter(last_seen_run=run, suggested_value__isnull=False).first()
    correction = services.propose(brk, by=make_user("risk"), reason="for the log")
    outbox.publish("correction.applied", correction, {"a": "1"})
    outbox.relay()
    return Delivery.objects.get(endpoint=endpoint, event__correction=correction)


def test_an_endpoint_made_in_admin_shows_its_secret_once(make_user):
    admin = make_user("admin")
    client = _signed_in(admin)
    response = client.post(
        "/admin/corrections/webhookendpoint/add/",
        {"name": "trading", "url": "https://trading.example/hooks", "enabled": "on"},
        follow=True,
    )
    assert response.status_code == 200
    endpoint = WebhookEndpoint.objects.get(name="trading")
    secret = sealing.unseal(endpoint.secret)
    shown = _messages(response)
    assert any(secret in m for m in shown)
    assert AuditEvent.objects.filter(action="webhook_endpoint.created", actor=admin).exists()
    page = client.get(f"/admin/corrections/webhookendpoint/{endpoint.pk}/change/")
    assert page.status_code == 200
    assert secret not in page.content.decode() and endpoint.secret not in page.content.decode()

    response = client.post(
        "/admin/corrections/webhookendpoint/",
        {"action": "rotate_secrets", "_selected_action": [endpoint.pk]},
        follow=True,
    )
    endpoint.refresh_from_db()
    new = sealing.unseal(endpoint.secret)
    assert new != secret
    assert any(new in m for m in _messages(response))
    assert outbox.active_secrets(endpoint) == [new, secret]


def test_a_refused_url_is_a_form_error(make_user):
    client = _signed_in(make_user("admin"))
    response = client.post(
        "/admin/corrections/webhookendpoint/add/",
        {"name": "trading", "url": "ftp://trading.example/hooks", "enabled": "on"},
    )
    assert response.status_code == 200
    assert "http(s)" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_the_delivery_log_shows_attempts_and_replays(make_user, receiver):
    admin = make_user("admin")
    delivery = _failed_delivery(make_user, receiver, admin)
    client = _signed_in(admin)

    page = client.get(f"/admin/corrections/delivery/{delivery.pk}/change/")
    assert page.status_code == 200
    assert "500" in page.content.decode()  # the attempt's answer
    assert client.get("/admin/corrections/outboxevent/").status_code == 200
    assert (
        client.get(f"/admin/corrections/outboxevent/{delivery.event_id}/change/").status_code == 200
    )
    # Read-only: no change is saved through the form.
    client.post(f"/admin/corrections/delivery/{delivery.pk}/change/", {"status": "delivered"})
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.failures == 1

    response = client.post(
        "/admin/corrections/delivery/",
        {"action": "replay_deliveries", "_selected_action": [delivery.pk]},
        follow=True,
    )
    assert response.status_code == 200
    delivery.refresh_from_db()
    assert delivery.failures == 0
    assert AuditEvent.objects.filter(action="webhook_delivery.replayed", actor=admin).exists()


def test_others_do_not_see_the_outbox(make_user, receiver):
    delivery = _failed_delivery(make_user, receiver, make_user("admin"))
    client = _signed_in(make_user("risk"))
    for url in (
        "/admin/corrections/delivery/",
        f"/admin/corrections/delivery/{delivery.pk}/change/",
        "/admin/corrections/webhookendpoint/add/",
    ):
        response = client.get(url)
        assert response.status_code in (302, 403), url
    client.post(
        "/admin/corrections/delivery/",
        {"action": "replay_deliveries", "_selected_action": [delivery.pk]},
    )
    assert not AuditEvent.objects.filter(action="webhook_delivery.replayed").exists()
