"""The corrections API: lists and reads, proposals, approvals, rejections, applying and rolling
back one or a run's all; the same permissions as the pages, refusals in the one error shape
that change nothing, and Idempotency-Key replays that act once."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from corrections.models import Approval, Correction
from reconciliation.models import AdjustmentSet, Break
from tests.api_tokens import token_for
from tests.corrections.proposed import propose_all, state

pytestmark = pytest.mark.django_db


@pytest.fixture
def proposed(make_user):
    return propose_all(make_user)


def _api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    return client


@pytest.fixture
def api_as(make_user):
    return lambda *roles: _api(make_user(*roles))


def _refused(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code and body["message"] and set(body) == {"code", "message", "fields"}
    return body


def test_the_list_filters_and_pages_by_cursor(api_as, proposed):
    api = api_as("finance")
    everything = api.get("/api/corrections/").json()["results"]
    assert [c["id"] for c in everything] == sorted((c["id"] for c in everything), reverse=True)
    assert len(everything) == 4
    pending = api.get("/api/corrections/?status=pending&min_impact=100000").json()["results"]
    assert {c["id"] for c in pending} == {c.pk for c in proposed.two}
    first = pending[0]
    assert first["impact_rc"] == format(
        Correction.objects.get(pk=first["id"]).impact_rc.normalize(), "f"
    )
    assert first["reporting_currency"] == "USD" and first["break_severity"] == "critical"
    page = api.get("/api/corrections/?page_size=3").json()
    assert len(page["results"]) == 3 and page["next"]
    rest = api.get(page["next"]).json()["results"]
    assert [c["id"] for c in rest] == [min(c["id"] for c in everything)]
    body = _refused(api.get("/api/corrections/?age=x&severity=worst&max_impact=-1"), 400,
                    "invalid_filters")  # fmt: skip
    assert set(body["fields"]) == {"age", "severity", "max_impact"}


def test_a_list_page_costs_the_same_queries_for_one_correction_as_for_four(
    api_as, proposed, django_assert_num_queries
):
    """No query per listed correction (its break, run, creator and account come joined)."""
    api = api_as("finance")
    api.get("/api/corrections/?page_size=1")  # the token's first use writes its last-used time
    with CaptureQueriesContext(connection) as one:
        assert len(api.get("/api/corrections/?page_size=1").json()["results"]) == 1
    with django_assert_num_queries(len(one.captured_queries)):
        page = api.get("/api/corrections/?page_size=4").json()["results"]
    assert len(page) == 4 and {c["account"] for c in page} == {"book/main"}


def test_a_correction_is_read_with_its_approvals_history_and_what_you_may_do(
    api_as, make_user, proposed
):
    approver = make_user("risk")
    api = _api(approver)
    body = api.get(f"/api/corrections/{proposed.one.pk}/").json()
    assert body["allowed"] == {"approve": True, "reject": True, "apply": False,
                               "roll_back": False, "approve_refusal": ""}  # fmt: skip
    assert [e["action"] for e in body["history"]] == ["correction.proposed"]
    assert body["approvals"] == [] and body["adjustment_sets"] == []
    mine = _api(proposed.proposer).get(f"/api/corrections/{proposed.one.pk}/").json()
    assert mine["allowed"]["approve"] is False and "four eyes" in mine["allowed"]["approve_refusal"]
    finance = api_as("finance").get(f"/api/corrections/{proposed.one.pk}/").json()
    assert not any(finance["allowed"][k] for k in ("approve", "reject", "apply", "roll_back"))
    applied = api.get(f"/api/corrections/{proposed.automatic.pk}/").json()
    assert applied["adjustment_sets"][0]["role"] == "applied"
    assert applied["adjustment_sets"][0]["adjustments"][0]["delta"] == format(
        proposed.automatic.delta.normalize(), "f"
    )
    _refused(api.get("/api/corrections/999999/"), 404, "not_found")


def test_anonymous_is_401_and_the_role_less_403(client, make_user, proposed):
    nobody = _api(make_user())
    before = state()
    for path in ("/api/corrections/", f"/api/corrections/{proposed.one.pk}/"):
        assert client.get(path).status_code == 401
        assert nobody.get(path).status_code == 403
    for path in (f"/api/corrections/{proposed.one.pk}/approve/",
                 f"/api/runs/{proposed.run.pk}/corrections/apply/"):  # fmt: skip
        assert client.post(path).status_code == 401
        assert nobody.post(path).status_code == 403
    assert state() == before


@pytest.mark.parametrize("role", ["finance", "admin"])
def test_finance_and_admins_do_not_approve_apply_or_roll_back(api_as, proposed, role):
    api = api_as(role)
    before = state()
    one, run = proposed.one.pk, proposed.run.pk
    for path, body in [
        (f"/api/corrections/{one}/approve/", {}),
        (f"/api/corrections/{one}/reject/", {"reason": "no"}),
        (f"/api/corrections/{one}/apply/", {}),
        (f"/api/corrections/{proposed.automatic.pk}/roll-back/", {"reason": "no"}),
        ("/api/corrections/approve/", {"ids": [one]}),
        (f"/api/runs/{run}/corrections/apply/", {}),
        (f"/api/runs/{run}/corrections/roll-back/", {"reason": "no"}),
    ]:
        assert api.post(path, body, format="json").status_code == 403, path
    assert state() == before


def test_a_superuser_admin_is_refused_by_the_service(make_user, proposed):
    admin = make_user("admin")
    admin.is_superuser = True
    admin.save()
    before = state()
    response = _api(admin).post(f"/api/corrections/{proposed.one.pk}/approve/")
    assert response.status_code == 403
    assert state() == before


def test_the_creator_cannot_approve_their_own(proposed):
    before = state()
    body = _refused(_api(proposed.proposer).post(f"/api/corrections/{proposed.one.pk}/approve/"),
                    409, "correction_refused")  # fmt: skip
    assert "four eyes" in body["message"]
    assert state() == before


def test_approve_apply_and_roll_back_one_with_idempotency_keys(make_user, proposed):
    api = _api(make_user("risk"))
    url = f"/api/corrections/{proposed.one.pk}/"
    first = api.post(f"{url}approve/", HTTP_IDEMPOTENCY_KEY="approve-1")
    again = api.post(f"{url}approve/", HTTP_IDEMPOTENCY_KEY="approve-1")
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert first.json()["status"] == "approved"
    assert Approval.objects.filter(correction=proposed.one).count() == 1
    sets = AdjustmentSet.objects.count()
    applied = api.post(f"{url}apply/", HTTP_IDEMPOTENCY_KEY="apply-1")
    replay = api.post(f"{url}apply/", HTTP_IDEMPOTENCY_KEY="apply-1")
    assert applied.json()["status"] == "applied" and replay.json() == applied.json()
    assert AdjustmentSet.objects.count() == sets + 1
    _refused(api.post(f"{url}apply/"), 409, "correction_refused")  # a new request: applied
    before = state()
    body = _refused(api.post(f"{url}roll-back/", {}, format="json"), 400, "validation_error")
    assert "reason" in body["fields"]
    assert state() == before
    rolled = api.post(f"{url}roll-back/", {"reason": "reversed"}, format="json")
    assert rolled.status_code == 200 and rolled.json()["status"] == "rolled_back"
    assert [s["role"] for s in rolled.json()["adjustment_sets"]] == ["applied", "reversal"]
    reused = api.post(f"{url}approve/", HTTP_IDEMPOTENCY_KEY="apply-1")
    assert reused.status_code == 409  # another route: its own key space, and refused
    other_body = api.post(f"{url}reject/", {"reason": "a"}, format="json",
                          HTTP_IDEMPOTENCY_KEY="r")  # fmt: skip
    assert other_body.status_code == 409


def test_reject_needs_a_reason_and_is_final(make_user, proposed):
    api = _api(make_user("risk"))
    url = f"/api/corrections/{proposed.two[0].pk}/reject/"
    before = state()
    _refused(api.post(url, {"reason": 5}, format="json"), 400, "validation_error")
    _refused(api.post(url, {"reason": "  "}, format="json"), 400, "validation_error")
    assert state() == before
    response = api.post(url, {"reason": "wrong account"}, format="json", HTTP_IDEMPOTENCY_KEY="x")
    assert response.json()["status"] == "rejected"
    assert response.json()["rejection_reason"] == "wrong account"
    assert api.post(url, {"reason": "wrong account"}, format="json",
                    HTTP_IDEMPOTENCY_KEY="x").json() == response.json()  # fmt: skip
    _refused(api.post(url, {"reason": "again"}, format="json"), 409, "correction_refused")


def test_proposing_on_a_break(make_user, proposed):
    api = _api(make_user("risk"))
    brk = Break.objects.get(pk=proposed.one.break_record_id)
    url = f"/api/breaks/{brk.pk}/corrections/"
    before = state()
    body = _refused(api.post(url, {"reason": "again"}, format="json"), 409, "correction_refused")
    assert f"has correction {proposed.one.pk} (pending)" in body["message"]
    assert state() == before
    assert [c["id"] for c in api.get(url).json()] == [proposed.one.pk]
    api.post(f"/api/corrections/{proposed.one.pk}/reject/", {"reason": "redo"}, format="json")
    count = Correction.objects.count()
    made = api.post(url, {"reason": "redo", "corrected_value": "12.5"}, format="json",
                    HTTP_IDEMPOTENCY_KEY="p-1")  # fmt: skip
    replay = api.post(url, {"reason": "redo", "corrected_value": "12.5"}, format="json",
                      HTTP_IDEMPOTENCY_KEY="p-1")  # fmt: skip
    assert made.status_code == replay.status_code == 201 and replay.json() == made.json()
    assert Correction.objects.count() == count + 1
    new = Correction.objects.get(pk=made.json()["id"])
    assert new.corrected_value == Decimal("12.5") and new.origin == "system"
    assert made.json()["corrected_value"] == "12.5"
    _refused(api.post(url, {"reason": "redo", "corrected_value": "x"}, format="json",
                      HTTP_IDEMPOTENCY_KEY="p-1"), 422, "idempotency_key_reused")  # fmt: skip


def test_a_break_that_cannot_be_corrected_is_422(make_user, proposed):
    api = _api(make_user("risk"))
    brk = Break.objects.get(pk=proposed.one.break_record_id)
    api.post(f"/api/corrections/{proposed.one.pk}/reject/", {"reason": "redo"}, format="json")
    Break.objects.filter(pk=brk.pk).update(field="price")  # a stale price: not the book's
    before = state()
    response = api.post(f"/api/breaks/{brk.pk}/corrections/", {"reason": "fix"}, format="json",
                        HTTP_IDEMPOTENCY_KEY="nc")  # fmt: skip
    assert "Load fresh prices" in _refused(response, 422, "break_not_correctable")["message"]
    assert state() == before
    finance = _api(make_user("finance"))
    assert finance.post(f"/api/breaks/{brk.pk}/corrections/", {"reason": "f"}).status_code == 403


def test_bulk_approve_is_all_or_nothing(make_user, proposed):
    approver = make_user("risk")
    api = _api(approver)
    ids = [proposed.one.pk, *(c.pk for c in proposed.two)]
    before = state()
    body = _refused(api.post("/api/corrections/approve/", {"ids": [*ids, proposed.automatic.pk]},
                             format="json"), 409, "correction_refused")  # fmt: skip
    assert body["fields"]["ids"] == [str(proposed.automatic.pk)]
    _refused(api.post("/api/corrections/approve/", {"ids": [*ids, 999999]}, format="json"),
             409, "correction_refused")  # fmt: skip
    mine = _api(proposed.proposer).post("/api/corrections/approve/", {"ids": ids}, format="json")
    assert set(_refused(mine, 409, "correction_refused")["fields"]["ids"]) == set(map(str, ids))
    assert state() == before
    done = api.post("/api/corrections/approve/", {"ids": ids}, format="json",
                    HTTP_IDEMPOTENCY_KEY="bulk")  # fmt: skip
    again = api.post("/api/corrections/approve/", {"ids": ids}, format="json",
                     HTTP_IDEMPOTENCY_KEY="bulk")  # fmt: skip
    assert done.status_code == 200 and again.json() == done.json()
    assert done.json()["approved"] == [proposed.one.pk]  # the others need a second person
    assert Approval.objects.filter(approver=approver).count() == 3


def test_a_runs_corrections_are_applied_and_rolled_back_at_once(make_user, proposed):
    first, second = _api(make_user("risk")), _api(make_user("risk"))
    ids = [proposed.one.pk, *(c.pk for c in proposed.two)]
    first.post("/api/corrections/approve/", {"ids": ids}, format="json")
    second.post("/api/corrections/approve/", {"ids": ids[1:]}, format="json")
    run = proposed.run.pk
    applied = first.post(f"/api/runs/{run}/corrections/apply/", HTTP_IDEMPOTENCY_KEY="run-apply")
    replay = first.post(f"/api/runs/{run}/corrections/apply/", HTTP_IDEMPOTENCY_KEY="run-apply")
    assert applied.json() == replay.json() == {"applied": 3}
    assert Correction.objects.filter(status="applied").count() == 4
    before = state()
    _refused(first.post(f"/api/runs/{run}/corrections/roll-back/", {"reason": ""},
                        format="json"), 400, "validation_error")  # fmt: skip
    assert state() == before
    rolled = first.post(f"/api/runs/{run}/corrections/roll-back/", {"reason": "bad feed"},
                        format="json")  # fmt: skip
    assert rolled.json() == {"rolled_back": 4}
    assert Correction.objects.filter(status="rolled_back").count() == 4
    _refused(first.post("/api/runs/999999/corrections/apply/"), 404, "not_found")
