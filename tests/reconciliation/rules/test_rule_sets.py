"""Rule sets: validated drafts, immutable published versions, comparison, default set."""

import copy
from decimal import Decimal

import pytest
from django.db import DatabaseError, transaction

from audit.models import AuditEvent
from reconciliation import selectors
from reconciliation.engine import rule_definition
from reconciliation.models import RuleSet, RuleSetVersion
from reconciliation.rules import services as rule_sets

pytestmark = pytest.mark.django_db


def test_default_rule_set_holds_the_seed_defaults():
    version = selectors.latest_published(RuleSet.objects.get(name="default"))
    definition = rule_definition.validate(version.definition)
    assert definition.tolerances["valuation"].default.relative == Decimal("0.01")
    assert definition.tolerances["position"].default.relative == Decimal("0.001")
    assert definition.tolerances["cash"].default.relative == Decimal("0.01")
    assert definition.tolerances["trades"].default.time_window.total_seconds() == 5
    assert definition.auto_correct_max_value == Decimal("1000")
    assert definition.auto_correct_max_percent == Decimal("5")
    assert definition.one_approver_above == Decimal("5000")
    assert definition.severity_bands == (Decimal(100), Decimal(1000), Decimal(10000))


def test_most_specific_override_wins():
    raw = copy.deepcopy(rule_definition.DEFAULT)
    raw["types"]["position"]["overrides"] = [
        {"asset": "BTC", "absolute": "0.001", "relative": "0"},
        {"asset": "BTC", "account": "main", "absolute": "0.002", "relative": "0"},
        {"asset": "BTC", "field": "quantity", "absolute": "0.003", "relative": "0"},
    ]
    rules = rule_definition.validate(raw).tolerances["position"]
    assert rules.for_key("main", "BTC", "quantity").absolute == Decimal("0.003")
    assert rules.for_key("main", "BTC", "value").absolute == Decimal("0.002")
    assert rules.for_key("other", "BTC", "value").absolute == Decimal("0.001")
    assert rules.for_key("main", "ETH", "quantity").relative == Decimal("0.001")


def test_invalid_definition_lists_errors_by_field():
    raw = copy.deepcopy(rule_definition.DEFAULT)
    raw["types"]["position"]["relative"] = "lots"
    raw["types"]["cash"]["time_window_seconds"] = -1
    raw["severity_bands"] = ["1000", "100", "10000"]
    raw["approval"]["two_approvers_above"] = "1"
    del raw["types"]["margin"]
    with pytest.raises(rule_definition.DefinitionInvalid) as caught:
        rule_definition.validate(raw)
    assert set(caught.value.errors) >= {
        "types.position.relative",
        "types.cash.time_window_seconds",
        "severity_bands",
        "approval.two_approvers_above",
        "types.margin",
    }


def test_draft_edit_publish_and_audit(make_user):
    admin = make_user("admin")
    draft = rule_sets.create_rule_set(name="tight", by=admin)
    definition = copy.deepcopy(draft.definition)
    definition["types"]["position"]["relative"] = "0.0005"
    rule_sets.update_draft(draft, definition=definition, notes="tighter", by=admin)
    published = rule_sets.publish(draft, by=admin)
    assert published.status == "published" and published.published_by == admin
    edited = AuditEvent.objects.get(action="rule_set.draft_edited")
    assert edited.after["changes"] == [
        {"path": "types.position.relative", "old": "0.001", "new": "0.0005"}
    ]
    assert AuditEvent.objects.filter(action="rule_set.published").count() == 1


def test_invalid_edit_changes_nothing(make_user):
    admin = make_user("admin")
    draft = rule_sets.create_rule_set(name="x", by=admin)
    before = copy.deepcopy(draft.definition)
    broken = copy.deepcopy(before)
    broken["pnl_method"] = "lifo"
    with pytest.raises(rule_sets.RuleSetInvalid) as caught:
        rule_sets.update_draft(draft, definition=broken, by=admin)
    assert "pnl_method" in caught.value.fields
    draft.refresh_from_db()
    assert draft.definition == before


def test_published_versions_are_immutable_in_the_database():
    version = RuleSetVersion.objects.get(rule_set__name="default", number=1)
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        RuleSetVersion.objects.filter(pk=version.pk).update(notes="sneaky")
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        RuleSetVersion.objects.filter(pk=version.pk).delete()
    with pytest.raises(rule_sets.VersionNotDraft):
        rule_sets.update_draft(version, definition=version.definition, by=None)


def test_one_draft_at_a_time_and_compare(make_user):
    admin = make_user("admin")
    default = RuleSet.objects.get(name="default")
    draft = rule_sets.start_draft(default, by=admin)
    assert draft.number == 2
    with pytest.raises(rule_sets.DraftExists):
        rule_sets.start_draft(default, by=admin)
    definition = copy.deepcopy(draft.definition)
    definition["severity_bands"] = ["50", "1000", "10000"]
    rule_sets.update_draft(draft, definition=definition, by=admin)
    first = RuleSetVersion.objects.get(rule_set=default, number=1)
    assert rule_sets.compare(first, draft) == [
        {"path": "severity_bands", "old": ["100", "1000", "10000"], "new": ["50", "1000", "10000"]}
    ]


def test_discarding_a_draft(make_user):
    default = RuleSet.objects.get(name="default")
    draft = rule_sets.start_draft(default, by=None)
    rule_sets.discard_draft(draft, by=None)
    assert not default.versions.filter(status="draft").exists()


def test_admin_edits_a_draft_in_the_browser_with_field_errors(client_as):
    client = client_as("admin")
    default = RuleSet.objects.get(name="default")
    client.post(f"/rules/{default.pk}/draft/")
    draft = default.versions.get(status="draft")
    broken = copy.deepcopy(draft.definition)
    broken["types"]["position"]["relative"] = "2"
    response = client.post(
        f"/rules/versions/{draft.pk}/", {"definition": __import__("json").dumps(broken)}
    )
    assert response.status_code == 422
    assert "types.position.relative" in response.content.decode()
    assert (
        client.post(f"/rules/versions/{draft.pk}/", {"definition": "{not json"}).status_code == 422
    )
    good = copy.deepcopy(draft.definition)
    good["types"]["position"]["relative"] = "0.002"
    client.post(f"/rules/versions/{draft.pk}/", {"definition": __import__("json").dumps(good)})
    client.post(f"/rules/versions/{draft.pk}/publish/")
    draft.refresh_from_db()
    assert (
        draft.status == "published" and draft.definition["types"]["position"]["relative"] == "0.002"
    )
    page = client.get(
        "/rules/compare/", {"old": default.versions.get(number=1).pk, "new": draft.pk}
    )
    assert "types.position.relative" in page.content.decode()


def test_risk_sees_rule_sets_but_cannot_change_them(client_as):
    client = client_as("risk")
    version = RuleSetVersion.objects.get(rule_set__name="default")
    assert client.get("/rules/").status_code == 200
    assert client.get(f"/rules/versions/{version.pk}/").status_code == 200
    default = RuleSet.objects.get(name="default")
    assert client.post(f"/rules/{default.pk}/draft/").status_code == 403
    assert not default.versions.filter(status="draft").exists()


def test_rule_set_api(client_as):
    import json

    client = client_as("admin")
    created = client.post("/api/rule-sets/", {"name": "api-set"}, content_type="application/json")
    assert created.status_code == 201
    draft = created.json()
    definition = draft["definition"]
    definition["types"]["fees"]["absolute"] = "0.5"
    edited = client.put(
        f"/api/rule-sets/versions/{draft['id']}/",
        json.dumps({"definition": definition, "notes": "fees"}),
        content_type="application/json",
    )
    assert edited.status_code == 200
    bad = copy.deepcopy(definition)
    bad["severity_bands"] = ["1"]
    refused = client.put(
        f"/api/rule-sets/versions/{draft['id']}/",
        json.dumps({"definition": bad}),
        content_type="application/json",
    )
    assert refused.status_code == 400 and "severity_bands" in refused.json()["fields"]
    assert (
        client.post(f"/api/rule-sets/versions/{draft['id']}/publish/").json()["status"]
        == "published"
    )
    again = client.post(f"/api/rule-sets/versions/{draft['id']}/publish/")
    assert again.status_code == 409
    first = RuleSetVersion.objects.get(rule_set__name="default", number=1)
    diff = client.get("/api/rule-sets/compare/", {"old": first.pk, "new": draft["id"]}).json()
    assert {"path": "types.fees.absolute", "old": "0.00001", "new": "0.5"} in diff
    assert client_as("finance").post("/api/rule-sets/", {"name": "x"}).status_code == 403
