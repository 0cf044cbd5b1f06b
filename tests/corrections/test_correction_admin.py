"""Corrections in the Django admin: read only; the one action applies approved corrections
through the service, offered only to someone the service lets apply them."""

import pytest
from django.test import Client

from audit.models import AuditEvent
from corrections import services
from corrections.models import Correction
from tests.corrections.proposed import propose_all, state

pytestmark = pytest.mark.django_db
LIST = "/admin/corrections/correction/"


@pytest.fixture
def proposed(make_user):
    return propose_all(make_user)


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_an_admin_sees_corrections_but_changes_none_and_is_offered_no_action(make_user, proposed):
    client = _signed_in(make_user("admin"))
    page = client.get(LIST)
    assert page.status_code == 200 and f"{LIST}{proposed.one.pk}/change/" in page.content.decode()
    assert "apply_approved" not in page.content.decode()
    before = state()
    response = client.post(
        LIST, {"action": "apply_approved", "_selected_action": [proposed.one.pk]}
    )
    assert response.status_code in (200, 302)
    assert client.get(f"{LIST}add/").status_code == 403
    change = client.post(f"{LIST}{proposed.one.pk}/change/", {"status": "applied"})
    assert change.status_code == 403
    assert client.post(f"{LIST}{proposed.one.pk}/delete/", {"post": "yes"}).status_code == 403
    assert state() == before


def test_someone_who_may_apply_applies_approved_ones_from_the_admin(make_user, proposed):
    both = make_user("risk", "admin")
    services.approve(proposed.one, by=both)
    client = _signed_in(both)
    assert "apply_approved" in client.get(LIST).content.decode()
    chosen = [proposed.one.pk, proposed.two[0].pk]  # the second is pending: left as it is
    response = client.post(LIST, {"action": "apply_approved", "_selected_action": chosen},
                           follow=True)  # fmt: skip
    assert "1 correction applied." in response.content.decode()
    statuses = dict(Correction.objects.filter(pk__in=chosen).values_list("pk", "status"))
    assert statuses == {proposed.one.pk: "applied", proposed.two[0].pk: "pending"}
    assert AuditEvent.objects.filter(action="correction.applied",
                                     object_id=str(proposed.one.pk)).exists()  # fmt: skip
