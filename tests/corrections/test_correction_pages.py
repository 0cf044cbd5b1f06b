"""The correction pages: the approvals queue, one correction, proposing on the break's page.

Who may do what is checked at the door and again by the services; every refusal changes
nothing (approvals, adjustment sets and statuses compared before and after)."""

import re

import pytest
from django.test import Client

from corrections.models import Approval, Correction
from reconciliation.models import Break
from tests.corrections.proposed import propose_all, state

pytestmark = pytest.mark.django_db


@pytest.fixture
def proposed(make_user):
    return propose_all(make_user)


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _text(response) -> str:
    return response.content.decode()


def test_the_queue_shows_pending_corrections_with_their_impact(client_as, proposed):
    page = _text(client_as("risk").get("/corrections/"))
    rows = re.findall(r'data-correction="(\d+)"', page)
    pending = sorted([proposed.one.pk, *(c.pk for c in proposed.two)], reverse=True)
    assert [int(r) for r in rows] == pending  # newest first; the applied one is not waiting
    assert "11,172.66" in page and "USD" in page  # the impact, in the reporting currency
    assert 'src="/static/js/list_keys.js"' in page


def test_the_queue_filters_are_checked_and_applied(client_as, proposed):
    client = client_as("finance")
    response = client.get("/corrections/?min_impact=abc&age=-1&severity=nope")
    assert response.status_code == 400
    errors = _text(response)
    assert "impact at least" in errors and "older than (days)" in errors and "severity" in errors
    assert 'id="queue"' not in errors  # no list filtered otherwise than asked
    page = _text(client.get("/corrections/?min_impact=100000&max_impact=2000000"))
    rows = {int(r) for r in re.findall(r'data-correction="(\d+)"', page)}
    assert rows == {c.pk for c in proposed.two}
    page = _text(client.get("/corrections/?status=applied"))
    assert re.findall(r'data-correction="(\d+)"', page) == [str(proposed.automatic.pk)]
    page = _text(client.get("/corrections/?asset=ada.f&severity=critical"))
    assert re.findall(r'data-correction="(\d+)"', page) == [str(proposed.one.pk)]


def test_the_queue_pages_by_keyset(client_as, proposed, monkeypatch):
    from corrections import views

    monkeypatch.setattr(views, "PAGE", 2)
    client = client_as("risk")
    first = _text(client.get("/corrections/"))
    rows = [int(r) for r in re.findall(r'data-correction="(\d+)"', first)]
    assert len(rows) == 2
    after = re.search(r"after=(\d+)", first).group(1)
    second = _text(client.get(f"/corrections/?after={after}"))
    more = [int(r) for r in re.findall(r'data-correction="(\d+)"', second)]
    assert more and max(more) < min(rows) and "Next page" not in second


def test_only_those_who_may_approve_get_approve_buttons(client_as, proposed):
    for role in ("finance", "admin"):
        page = _text(client_as(role).get("/corrections/"))
        assert "approve-form" not in page and 'name="ids"' not in page, role
    creator = _text(_signed_in(proposed.proposer).get("/corrections/"))
    assert "approve-form" not in creator  # their own, every one of them


def test_anonymous_is_sent_to_sign_in_and_the_role_less_refused(client, make_user, proposed):
    pages = ["/corrections/", f"/corrections/{proposed.one.pk}/",
             f"/corrections/propose/{proposed.one.break_record_id}/"]  # fmt: skip
    for path in pages:
        response = client.get(path)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], path
    nobody = _signed_in(make_user())
    for path in pages:
        assert nobody.get(path).status_code == 403, path
    before = state()
    for path in (f"/corrections/{proposed.one.pk}/approve/", "/corrections/approve/"):
        assert client.post(path, {"ids": [proposed.one.pk]}).status_code == 302
        assert nobody.post(path, {"ids": [proposed.one.pk]}).status_code == 403
    assert state() == before


@pytest.mark.parametrize("role", ["finance", "admin"])
def test_finance_and_admins_do_not_approve_reject_apply_or_roll_back(client_as, proposed, role):
    client = client_as(role)
    before = state()
    one = proposed.one.pk
    for path, body in [
        (f"/corrections/{one}/approve/", {}),
        (f"/corrections/{one}/reject/", {"reason": "no"}),
        (f"/corrections/{proposed.automatic.pk}/roll-back/", {"reason": "no"}),
        ("/corrections/approve/", {"ids": [one]}),
    ]:
        assert client.post(path, body).status_code == 403, path
    assert state() == before


def test_the_creator_cannot_approve_their_own_and_nothing_changes(proposed):
    client = _signed_in(proposed.proposer)
    before = state()
    response = client.post(f"/corrections/{proposed.one.pk}/approve/", follow=True)
    assert "someone else must approve it" in _text(response)
    assert state() == before


def test_a_correction_is_approved_applied_and_rolled_back_from_its_page(make_user, proposed):
    client = _signed_in(make_user("risk"))
    path = f"/corrections/{proposed.one.pk}/"
    page = _text(client.get(path))
    for part in ('id="impact"', 'id="policy-note"', 'id="validation"', 'id="rollback-plan"',
                 'id="approvals"', 'id="no-adjustments"', "correction.proposed"):  # fmt: skip
        assert part in page, part
    assert f'action="/corrections/{proposed.one.pk}/approve/"' in page
    assert "data-confirm=" in page
    page = _text(client.post(f"{path}approve/", follow=True))
    assert "now approved" in page and "Apply to the book" in page
    page = _text(client.post(f"{path}apply/", follow=True))
    assert "now applied" in page and "Applied: set" in page
    before = state()
    page = _text(client.post(f"{path}roll-back/", {"reason": " "}, follow=True))
    assert "Say why it is rolled back" in page
    assert state() == before
    page = _text(client.post(f"{path}roll-back/", {"reason": "the fill was reversed"}, follow=True))
    assert "now rolled back" in page and "Reversed: set" in page
    assert "correction.rolled_back" in page
    proposed.one.refresh_from_db()
    assert proposed.one.status == "rolled_back"


def test_rejecting_needs_a_reason(client_as, proposed):
    client = client_as("risk")
    path = f"/corrections/{proposed.one.pk}/reject/"
    before = state()
    assert "Say why it is rejected" in _text(client.post(path, {"reason": ""}, follow=True))
    assert state() == before
    assert "now rejected" in _text(client.post(path, {"reason": "wrong asset"}, follow=True))
    proposed.one.refresh_from_db()
    assert proposed.one.status == "rejected" and proposed.one.rejection_reason == "wrong asset"


def test_bulk_approve_is_all_or_nothing(make_user, proposed):
    approver = make_user("risk")
    client = _signed_in(approver)
    ids = [proposed.one.pk, *(c.pk for c in proposed.two)]
    client.post(f"/corrections/{proposed.one.pk}/approve/")  # now approved: not approvable
    before = state()
    page = _text(client.post("/corrections/approve/", {"ids": ids}, follow=True))
    assert "Nothing was approved" in page and f"{proposed.one.pk}: It is approved" in page
    assert state() == before
    page = _text(client.post("/corrections/approve/", {"ids": ids[1:]}, follow=True))
    assert "2 approvals recorded" in page
    assert Approval.objects.filter(approver=approver).count() == 3
    statuses = set(Correction.objects.filter(pk__in=ids[1:]).values_list("status", flat=True))
    assert statuses == {"pending"}  # each needs a second person


def test_a_form_sent_twice_approves_once(make_user, proposed):
    client = _signed_in(make_user("risk"))
    body = {"form_token": "one-click-only"}
    for _ in range(2):
        assert client.post(f"/corrections/{proposed.two[0].pk}/approve/", body).status_code == 302
    assert Approval.objects.filter(correction=proposed.two[0]).count() == 1


def test_the_break_page_proposes_with_the_suggested_value_and_lists_corrections(
    client_as, proposed
):
    client = client_as("risk")
    live = Break.objects.get(pk=proposed.one.break_record_id)
    page = _text(client.get(f"/breaks/{live.pk}/"))
    assert f'href="/corrections/{proposed.one.pk}/"' in page
    assert "is pending" in page  # no second live correction can be proposed
    # Rejected: the break may be proposed again, with the suggested value filled in.
    client.post(f"/corrections/{proposed.one.pk}/reject/", {"reason": "redo"})
    page = _text(client.get(f"/breaks/{live.pk}/"))
    suggested = format(live.suggested_value.normalize(), "f")
    assert f'name="corrected_value" id="id_corrected_value" value="{suggested}"' in page
    response = client.post(f"/corrections/propose/{live.pk}/",
                           {"corrected_value": suggested, "reason": "again"})  # fmt: skip
    new = Correction.objects.get(break_record=live, status="pending")
    assert response.status_code == 302 and response["Location"] == f"/corrections/{new.pk}/"
    assert new.reason == "again" and new.corrected_value == live.suggested_value
    finance = _text(client_as("finance").get(f"/breaks/{live.pk}/"))
    assert f'href="/corrections/{new.pk}/"' in finance and "Propose a correction" not in finance


def test_a_break_that_cannot_be_corrected_says_why_on_the_form(client_as, proposed):
    client = client_as("risk")
    brk = Break.objects.get(pk=proposed.one.break_record_id)
    client.post(f"/corrections/{proposed.one.pk}/reject/", {"reason": "redo"})
    Break.objects.filter(pk=brk.pk).update(field="price")  # a stale price: not the book's
    before = state()
    response = client.post(f"/corrections/propose/{brk.pk}/", {"reason": "fix it"})
    assert response.status_code == 422
    assert "Load fresh prices" in _text(response) and 'id="propose-errors"' in _text(response)
    response = client.post(f"/corrections/propose/{brk.pk}/", {"reason": ""})
    assert response.status_code == 400 and "This field is required" in _text(response)
    assert state() == before


def test_the_navigation_links_corrections_for_those_who_see_them(client_as, make_user):
    for role in ("risk", "finance", "admin"):
        assert 'href="/corrections/"' in _text(client_as(role).get("/")), role


def test_a_runs_corrections_are_applied_and_rolled_back_from_the_run_page(make_user, proposed):
    first, second = make_user("risk"), make_user("risk")
    client = _signed_in(first)
    ids = [proposed.one.pk, *(c.pk for c in proposed.two)]
    client.post("/corrections/approve/", {"ids": ids})
    _signed_in(second).post("/corrections/approve/", {"ids": ids[1:]})
    run = f"/runs/{proposed.run.pk}/"
    page = _text(client.get(run))
    assert "3 approved" in page and "1 applied" in page and "Apply 3 approved" in page
    finance = _text(_signed_in(make_user("finance")).get(run))
    assert "3 approved" in finance and "Apply 3 approved" not in finance
    before = state()
    assert _signed_in(make_user("finance")).post(f"/corrections/runs/{proposed.run.pk}/apply/"
                                                 ).status_code == 403  # fmt: skip
    assert state() == before
    page = _text(client.post(f"/corrections/runs/{proposed.run.pk}/apply/", follow=True))
    assert f"3 corrections of run {proposed.run.pk} applied." in page and "4 applied" in page
    before = state()
    page = _text(client.post(f"/corrections/runs/{proposed.run.pk}/roll-back/", follow=True))
    assert "Say why it is rolled back" in page
    assert state() == before
    page = _text(client.post(f"/corrections/runs/{proposed.run.pk}/roll-back/",
                             {"reason": "bad feed"}, follow=True))  # fmt: skip
    assert f"4 corrections of run {proposed.run.pk} rolled back." in page
    assert "4 rolled back</a>" in page
