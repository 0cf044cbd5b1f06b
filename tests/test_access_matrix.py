"""Every page and API endpoint, for every role: who may read, who may change (SPEC 6, DESIGN)."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from accounts import services as account_services
from corrections import services as corrections
from corrections.models import Approval, Correction
from reconciliation.demo import data as demo_data
from reconciliation.models import Break, Dataset, RuleSetVersion, Run
from tests.demo_runs import finished_position_run

pytestmark = pytest.mark.django_db

READ_PAGES = [
    "/", "/breaks/", "/runs/", "/datasets/", "/rules/", "/schedules/", "/breaks/export.csv",
    "/corrections/",
]  # fmt: skip
READ_API = ["/api/me/", "/api/breaks/", "/api/runs/", "/api/datasets/", "/api/rule-sets/",
            "/api/formats/", "/api/corrections/"]  # fmt: skip


@pytest.fixture
def world():
    ids = demo_data.load()
    run = finished_position_run(ids)
    item = Break.objects.order_by("-value_rc").first()  # needs approvers: stays pending
    proposer = get_user_model().objects.create_user(username="proposer")
    account_services.set_roles(proposer, ["risk"], by=None)
    correction = corrections.propose(item, by=proposer, reason="the book missed a fill")
    return {"run": run, "break": item, "ids": ids, "correction": correction}


@pytest.mark.parametrize("role", ["risk", "finance", "admin"])
def test_every_role_reads_every_reading_page_and_endpoint(client_as, world, role):
    client = client_as(role)
    item, run = world["break"], world["run"]
    version = RuleSetVersion.objects.first()
    paths = [
        *READ_PAGES, *READ_API, f"/breaks/{item.pk}/", f"/runs/{run.pk}/",
        f"/datasets/{world['ids']['prices']}/", f"/rules/versions/{version.pk}/",
        f"/api/breaks/{item.pk}/", f"/api/runs/{run.pk}/", f"/api/runs/{run.pk}/matches/",
        f"/runs/{run.pk}/matches.csv", f"/corrections/{world['correction'].pk}/",
        f"/api/corrections/{world['correction'].pk}/", f"/api/breaks/{item.pk}/corrections/",
    ]  # fmt: skip
    for path in paths:
        assert client.get(path).status_code == 200, path


def test_nobody_without_a_role_reads_anything(make_user, world):
    client = Client()
    client.force_login(make_user())
    pages = [*READ_PAGES, f"/breaks/{world['break'].pk}/", f"/runs/{world['run'].pk}/matches.csv",
             f"/corrections/{world['correction'].pk}/"]  # fmt: skip
    for path in pages:
        assert client.get(path).status_code == 403, path
    for path in READ_API[1:]:
        assert client.get(path).status_code == 403, path


def _counts() -> tuple:
    corrections = list(Correction.objects.values_list("pk", "status"))
    return (Run.objects.count(), Break.objects.exclude(status="open").count(),
            Dataset.objects.count(), RuleSetVersion.objects.count(), corrections,
            Approval.objects.count())  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/runs/", {"type": "position"}),
        ("post", "/api/breaks/actions/", {"action": "investigate", "ids": [1]}),
        ("post", "/api/datasets/", {"source": "book", "format": "prices", "rows": [{}]}),
        ("post", "/api/rule-sets/", {"name": "x"}),
        ("post", "/breaks/bulk/", {"action": "investigate", "ids": ["1"]}),
        ("post", "/datasets/upload/", {}),
        ("post", "/rules/new/", {"name": "x"}),
        ("post", "/corrections/approve/", {"ids": ["1"]}),
        ("post", "/api/corrections/approve/", {"ids": [1]}),
        ("post", "/api/corrections/1/approve/", {}),
        ("post", "/api/corrections/1/reject/", {"reason": "x"}),
        ("post", "/api/breaks/1/corrections/", {"reason": "x"}),
        ("post", "/api/runs/1/corrections/apply/", {}),
    ],
)
def test_finance_changes_nothing(client_as, world, method, path, body):
    before = _counts()
    response = getattr(client_as("finance"), method)(path, body, content_type="application/json")
    assert response.status_code == 403, path
    after = _counts()
    assert before == after


def test_risk_cannot_configure_rules_schedules_or_asset_codes(client_as, world):
    client = client_as("risk")
    assert client.post("/rules/new/", {"name": "x"}).status_code == 403
    assert client.get("/datasets/aliases/").status_code == 403
    assert client.get("/audit/").status_code == 403
    assert RuleSetVersion.objects.count() == 1


def test_anonymous_is_sent_to_sign_in_or_refused(client, world):
    for path in READ_PAGES:
        assert client.get(path).status_code == 302, path
    for path in READ_API:
        assert client.get(path).status_code in (401, 403), path
