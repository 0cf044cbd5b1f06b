"""REST doors for runs and breaks, with role checks."""

import pytest
from rest_framework.test import APIClient

from audit.models import AuditEvent
from reconciliation.demo import data as demo_data
from reconciliation.models import Break, Run
from reconciliation.runs import execution as run_execution

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(make_user):
    def client_for(*roles):
        client = APIClient()
        client.force_authenticate(make_user(*roles))
        return client

    return client_for


@pytest.fixture
def finished_run(api):
    ids = demo_data.load()
    body = {"type": "position", "internal": ids["book balances"],
            "external": ids["kraken ledgers"], "prices": ids["prices"]}  # fmt: skip
    response = api("risk").post("/api/runs/", body, format="json")
    assert response.status_code == 201, response.json()
    run_execution.execute_run(response.json()["id"])
    return Run.objects.get(pk=response.json()["id"])


def test_start_and_read_a_run(api, finished_run):
    body = api("finance").get(f"/api/runs/{finished_run.pk}/").json()
    assert body["status"] == "succeeded" and body["break_count"] == finished_run.break_count
    assert api("finance").get("/api/runs/", {"type": "position"}).json()["results"][0]["id"] == (
        finished_run.pk
    )


def test_finance_cannot_start_runs(api):
    ids = demo_data.load()
    body = {"type": "position", "internal": ids["book balances"], "external": ids["kraken ledgers"]}
    assert api("finance").post("/api/runs/", body, format="json").status_code == 403
    assert not Run.objects.exists()


def test_refused_run_explains_by_field(api):
    ids = demo_data.load()
    body = {"type": "trades", "internal": ids["book balances"], "external": ids["kraken trades"]}
    response = api("risk").post("/api/runs/", body, format="json")
    assert response.status_code == 400
    assert "internal" in response.json()["fields"]


def test_breaks_filter_and_exact_values(api, finished_run):
    client = api("finance")
    rows = client.get("/api/breaks/", {"run": finished_run.pk, "asset": "eth"}).json()["results"]
    assert len(rows) == 1
    eth = rows[0]
    assert eth["internal_value"] == "487.22932238" and eth["external_value"] == "48.722932238"
    assert "decimal_shift" in eth["causes"]
    critical = client.get("/api/breaks/", {"severity": "critical,high"}).json()["results"]
    assert {b["severity"] for b in critical} <= {"critical", "high"}
    assert client.get("/api/breaks/999999/").status_code == 404


def test_break_actions_are_audited_and_need_a_reason_to_accept(api, finished_run):
    client = api("risk")
    ids = list(Break.objects.values_list("pk", flat=True)[:2])
    refused = client.post("/api/breaks/actions/", {"action": "accept", "ids": ids}, format="json")
    assert refused.status_code == 409 and "reason" in refused.json()["fields"]
    assert not Break.objects.filter(status="accepted").exists()
    accepted = client.post(
        "/api/breaks/actions/",
        {"action": "accept", "ids": ids, "reason": "known custody lag"},
        format="json",
    )
    assert accepted.json() == {"updated": 2}
    assert AuditEvent.objects.filter(action="break.accepted").count() == 2
    comment = client.post(f"/api/breaks/{ids[0]}/comments/", {"text": "checked"}, format="json")
    assert comment.status_code == 201
    assert api("finance").get(f"/api/breaks/{ids[0]}/comments/").json()[0]["text"] == "checked"
    denied = api("finance").post("/api/breaks/actions/", {"action": "investigate", "ids": ids},
                                 format="json")  # fmt: skip
    assert denied.status_code == 403


def test_assigning_only_to_people_who_may_work_breaks(api, finished_run, make_user):
    item = Break.objects.first()
    finance_user = make_user("finance")
    response = api("risk").post(
        "/api/breaks/actions/",
        {"action": "assign", "ids": [item.pk], "assignee": finance_user.pk},
        format="json",
    )
    assert response.status_code == 409
    risk_user = make_user("risk")
    api("risk").post("/api/breaks/actions/",
                     {"action": "assign", "ids": [item.pk], "assignee": risk_user.pk},
                     format="json")  # fmt: skip
    item.refresh_from_db()
    assert item.assignee == risk_user


def test_cancel_a_finished_run_is_a_conflict(api, finished_run):
    response = api("risk").post(f"/api/runs/{finished_run.pk}/cancel/")
    assert response.status_code == 409


def test_preview_a_version_through_the_api(api, finished_run):
    from reconciliation.models import RuleSetVersion

    version = RuleSetVersion.objects.get(rule_set__name="default", number=1)
    body = (
        api("risk")
        .get(f"/api/rule-sets/versions/{version.pk}/preview/", {"run": finished_run.pk})
        .json()
    )
    assert body["run"] == finished_run.pk
    assert body["appear"] == body["disappear"] == body["change"] == []
    assert body["unchanged"] == finished_run.break_count
