"""What the API schema says, and the answers it describes: errors, nulls, records, methods."""

from __future__ import annotations

import pytest
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from jsonschema import Draft4Validator
from rest_framework.test import APIClient

from audit.api import AuditEventSerializer
from corrections.api import AdjustmentSerializer, ApprovalSerializer, CorrectionSerializer
from reconciliation.breaks.api import BreakSerializer, CommentSerializer
from reconciliation.datasets.api import RECORD_SERIALIZERS
from reconciliation.datasets.serializers import DatasetSerializer, ImportJobSerializer
from reconciliation.models import Break, BreakComment, Dataset, RuleSetVersion, Run
from reconciliation.rules.api import RuleSetSerializer, VersionSerializer
from reconciliation.runs import execution as run_execution
from reconciliation.runs.api import RunSerializer
from tests.api_tokens import token_for

pytestmark = pytest.mark.django_db

METHODS = ("get", "post", "put", "patch", "delete")
SERIALIZERS = [
    DatasetSerializer, ImportJobSerializer, RunSerializer, BreakSerializer, CommentSerializer,
    VersionSerializer, RuleSetSerializer, AuditEventSerializer, *RECORD_SERIALIZERS.values(),
    CorrectionSerializer, ApprovalSerializer, AdjustmentSerializer,
]  # fmt: skip


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(public=True)


def operations(schema):
    for path, item in schema["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def component(schema, serializer) -> dict:
    name = serializer.__name__.removesuffix("Serializer")
    return schema["components"]["schemas"][name]


def _model_field(serializer_field, model):
    source = serializer_field.source.split(".")[0]
    try:
        return model._meta.get_field(source)
    except Exception:  # a method or a property: not a column
        return None


@pytest.mark.parametrize("serializer", SERIALIZERS, ids=lambda s: s.__name__)
def test_every_column_that_may_be_null_is_nullable_in_the_schema(schema, serializer):
    model = serializer.Meta.model
    properties = component(schema, serializer)["properties"]
    nullable = {
        name
        for name, field in serializer().fields.items()
        if (column := _model_field(field, model)) is not None and column.concrete and column.null
    }
    undeclared = sorted(name for name in nullable if not properties[name].get("nullable"))
    assert undeclared == []


def test_the_fields_the_issue_names_are_nullable(schema):
    named = {
        "Break": ["assignee", "internal_value", "external_value", "difference_pct", "value_rc"],
        "Dataset": ["account", "loaded_by"],
        "Run": ["created_by"],
        "Version": ["created_by", "published_by"],
        "TradeRecord": ["cost"],
    }
    components = schema["components"]["schemas"]
    for name, fields in named.items():
        assert [f for f in fields if not components[name]["properties"][f].get("nullable")] == []


def test_records_are_documented_per_dataset_kind(schema):
    page = schema["paths"]["/api/datasets/{dataset_id}/records/"]["get"]["responses"]["200"]
    ref = page["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    items = schema["components"]["schemas"][ref]["properties"]["results"]["items"]
    record = schema["components"]["schemas"][items["$ref"].split("/")[-1]]
    kinds = {option["$ref"].split("/")[-1] for option in record["oneOf"]}
    assert kinds == {
        "BalanceRecord", "TradeRecord", "LedgerEntryRecord", "PriceRecord", "MarginRecord",
        "PnlRecord",
    }  # fmt: skip


def test_every_operation_documents_the_errors_it_can_give(schema):
    missing = []
    for path, method, operation in operations(schema):
        expected = {"401", "403", "406"}
        if "{" in path:
            expected.add("404")
        if operation.get("requestBody"):
            expected |= {"400", "415"}
        if any(p["in"] == "query" for p in operation.get("parameters", [])):
            expected.add("400")
        if any(p["name"] == "Idempotency-Key" for p in operation.get("parameters", [])):
            expected |= {"409", "422"}
        responses = operation["responses"]
        missing += [f"{method} {path} {code}" for code in sorted(expected - set(responses))]
        for code, response in responses.items():
            if code >= "400":
                body = response["content"]["application/json"]["schema"]["$ref"]
                assert body == "#/components/schemas/Error", (method, path, code)
    assert missing == []


def test_posts_that_create_data_document_idempotency_key(schema):
    for path in ("/api/datasets/", "/api/runs/"):
        parameters = schema["paths"][path]["post"]["parameters"]
        key = next(p for p in parameters if p["name"] == "Idempotency-Key")
        assert key["in"] == "header" and key["schema"]["maxLength"] == 200


@pytest.fixture
def token_client(make_user):
    def client_for(*roles) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(make_user(*roles))}")
        return client

    return client_for


@pytest.mark.parametrize("role", ["risk", "finance", "admin", None])
def test_a_method_an_address_does_not_have_is_405_with_allow(token_client, role):
    client = token_client(*([role] if role else []))
    for method, path in (("delete", "/api/runs/"), ("put", "/api/me/"), ("patch", "/api/breaks/")):
        response = getattr(client, method)(path)
        assert response.status_code == 405, (method, path)
        assert response.json()["code"] == "method_not_allowed"
        assert method.upper() not in response["Allow"] and "GET" in response["Allow"]


def test_a_method_not_had_is_401_without_a_token():
    response = APIClient().delete("/api/runs/")
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Token"


def test_head_is_answered_as_get_is(token_client):
    finance = token_client("finance")
    assert finance.head("/api/runs/").status_code == 200  # the view lists GET by capability
    assert finance.head("/api/audit/events/").status_code == 403  # GET needs view_audit too


def test_a_method_the_view_has_is_still_refused_without_its_capability(token_client):
    response = token_client("finance").post("/api/runs/", {}, format="json")
    assert response.status_code == 403
    assert not Run.objects.exists()


def test_an_unknown_api_address_is_a_404_in_the_error_shape(token_client, client_as):
    for client in (token_client("risk"), APIClient()):
        response = client.get("/api/runs/not-a-number/")
        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"
        assert response.json() == {
            "code": "not_found", "message": "No such address in the API.", "fields": {}
        }  # fmt: skip
    page = client_as("risk").get("/runs/not-a-number/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")


def test_a_missing_object_is_a_404_in_the_error_shape(token_client):
    response = token_client("risk").get("/api/runs/999999/")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "No run 999999.", "fields": {}}


def test_an_accept_header_the_api_cannot_answer_is_406_in_the_error_shape(token_client):
    response = token_client("risk").get("/api/me/", HTTP_ACCEPT="application/xml")
    assert response.status_code == 406
    assert response["Content-Type"] == "application/json"
    assert set(response.json()) == {"code", "message", "fields"}
    assert response.json()["code"] == "not_acceptable"


def test_too_many_form_fields_is_a_400_not_a_500(token_client, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    body = {"action": "investigate", "ids": [str(n) for n in range(20)]}
    response = token_client("risk").post("/api/breaks/actions/", body)  # multipart
    assert response.status_code == 400
    assert response.json()["code"] == "request_refused"
    assert "more than 10 fields" in response.json()["message"]


def test_a_body_too_large_is_a_400_not_a_500(token_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = token_client("risk").post(
        "/api/breaks/actions/", {"action": "investigate", "ids": list(range(100))}, format="json"
    )
    assert response.status_code == 400
    assert "larger than 100 bytes" in response.json()["message"]


def test_served_schema_is_the_generated_one(client_as, schema):
    served = client_as("finance").get("/api/schema/", {"format": "json"}).json()
    assert set(served["paths"]) == set(schema["paths"])
    assert served["components"]["schemas"]["Error"]["required"] == ["code", "fields", "message"]


def test_answers_with_nulls_match_their_schema(schema, make_user):
    """A dataset without account or loader, a run without a person, a draft without publisher,
    a break without assignee or values: each answer validates against its component."""
    from reconciliation.breaks import workflow as break_workflow
    from reconciliation.demo import data as demo_data
    from reconciliation.rules import services as rule_sets
    from reconciliation.runs import services as runs

    ids = demo_data.load()
    run = runs.start_run(
        type="trades", internal=Dataset.objects.get(pk=ids["book trades"]),
        external=Dataset.objects.get(pk=ids["kraken trades"]),
    )  # fmt: skip
    run_execution.execute_run(run.pk)
    version = RuleSetVersion.objects.get()
    draft = rule_sets.start_draft(version.rule_set, by=None)
    item = Break.objects.filter(internal_value__isnull=True).first() or Break.objects.first()
    break_workflow.comment(item.pk, text="seen", by=make_user("risk"))
    client = Client()
    client.force_login(make_user("admin"))
    answers = {
        "Dataset": client.get(f"/api/datasets/{ids['prices']}/").json(),
        "Run": client.get(f"/api/runs/{run.pk}/").json(),
        "Version": client.get(f"/api/rule-sets/versions/{draft.pk}/").json(),
        "Break": client.get(f"/api/breaks/{item.pk}/").json(),
        "Comment": client.get(f"/api/breaks/{item.pk}/comments/").json()[0],
    }
    assert answers["Dataset"]["account"] is None and answers["Dataset"]["loaded_by"] is None
    assert answers["Run"]["created_by"] is None
    assert answers["Version"]["created_by"] is None and answers["Version"]["published_by"] is None
    assert answers["Break"]["assignee"] is None
    components = _openapi_to_jsonschema(schema["components"]["schemas"])
    for name, body in answers.items():
        validator = Draft4Validator({**components[name], "definitions": components})
        assert list(validator.iter_errors(body)) == [], name
    assert BreakComment.objects.count() == 1


def _openapi_to_jsonschema(components: dict) -> dict:
    """OpenAPI 3.0's `nullable` and `#/components/schemas/` refs, as plain JSON Schema."""

    def convert(node):
        if isinstance(node, list):
            return [convert(item) for item in node]
        if not isinstance(node, dict):
            return node
        node = {key: convert(value) for key, value in node.items()}
        if "$ref" in node:
            node["$ref"] = node["$ref"].replace("#/components/schemas/", "#/definitions/")
        if node.pop("nullable", False):
            return {"anyOf": [node, {"type": "null"}]}
        return node

    return {name: convert(body) for name, body in components.items()}
