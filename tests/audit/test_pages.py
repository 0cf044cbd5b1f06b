import pytest

from audit import services

pytestmark = pytest.mark.django_db


def test_audit_log_page_lists_entries_with_filters(client_as):
    client = client_as("admin")
    services.record(action="rule_set.published", object_type="rule_set", object_id=1)
    services.record(action="break.accepted", object_type="break", object_id=9)
    page = client.get("/audit/", {"action": "break.accepted"}).content.decode()
    assert "break.accepted" in page
    assert "rule_set.published" not in page


def test_audit_log_escapes_user_text(client_as):
    client = client_as("admin")
    services.record(action="x", after={"comment": "<script>alert(1)</script>"})
    page = client.get("/audit/").content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page


def test_verify_page_reports_ok(client_as):
    client = client_as("admin")
    response = client.get("/audit/verify/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "Chain intact" in response.content.decode()
    assert "<html" not in response.content.decode()


def test_verify_page_names_the_first_bad_entry(client_as):
    from tests.audit.tampering import tamper

    client = client_as("admin")
    for n in range(3):
        services.record(action="x", object_id=n)
    tamper("UPDATE audit_auditevent SET action = 'y' WHERE sequence = 4")
    response = client.get("/audit/verify/")
    assert response.status_code == 409
    assert "Chain broken at entry #4" in response.content.decode()


def test_api_verify_and_events(client_as):
    client = client_as("admin")
    body = client.get("/api/audit/verify/").json()
    assert body["ok"] is True and body["head_sequence"] >= 1
    events = client.get("/api/audit/events/", {"action": "user.roles_changed"}).json()
    assert events["results"][0]["action"] == "user.roles_changed"
    assert "next" in events
