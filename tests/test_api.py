import pytest

pytestmark = pytest.mark.django_db


def test_schema_is_openapi_3_and_lists_the_endpoints(client_as):
    response = client_as("risk").get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert {"/api/me/", "/api/audit/events/", "/api/audit/verify/"} <= set(schema["paths"])


def test_docs_load_their_assets_from_this_server(client_as):
    page = client_as("finance").get("/api/docs/").content.decode()
    assert "swagger-ui" in page
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
    assert "cdn" not in page.lower()
    assert "https://" not in page


def test_api_errors_have_code_message_and_fields(client_as):
    response = client_as("risk").get("/api/audit/events/")
    assert response.status_code == 403
    assert set(response.json()) == {"code", "message", "fields"}


def test_every_response_carries_a_request_id(client, settings):
    settings.TRUSTED_PROXY_COUNT = 1  # a request id is taken from a trusted proxy only
    response = client.get("/healthz", HTTP_X_REQUEST_ID="trace-123")
    assert response["X-Request-ID"] == "trace-123"
    generated = client.get("/healthz", HTTP_X_REQUEST_ID="bad id with spaces")["X-Request-ID"]
    assert len(generated) == 32 and " " not in generated
