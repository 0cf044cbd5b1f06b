"""Comments on a break through the API: odd bodies are a 400 naming `text`, and Idempotency-Key
is honoured like the other POSTs (ten identical requests sent at once make one comment)."""

import threading

import pytest
import requests
from rest_framework.test import APIClient

from audit.models import AuditEvent
from config.models import IdempotentRequest
from reconciliation.models import Break, BreakComment
from tests.api_tokens import token_for
from tests.demo_runs import finished_position_run


def _breaks() -> list[Break]:
    run = finished_position_run()
    return list(Break.objects.filter(last_seen_run=run).order_by("pk"))


@pytest.fixture
def item(db):
    return _breaks()[0]


@pytest.fixture
def api(make_user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(make_user('risk'))}")
    client.raise_request_exception = False
    return client


def comments(item) -> list[str]:
    return list(BreakComment.objects.filter(break_record=item).values_list("text", flat=True))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("5", "non_field_errors"), ("null", "non_field_errors"), ("[]", "non_field_errors"),
        ("true", "non_field_errors"), ('"x"', "non_field_errors"), ("{}", "text"),
        ('{"text": 5}', "text"), ('{"text": 1.5}', "text"), ('{"text": true}', "text"),
        ('{"text": null}', "text"), ('{"text": ""}', "text"), ('{"text": "   "}', "text"),
        ('{"text": ["a"]}', "text"), ('{"text": {"a": 1}}', "text"),
        ('{"text": "a\\u0000b"}', "text"), ('{"text": "\\udfff"}', "text"),
        ('{"text": "' + "x" * 10_001 + '"}', "text"),
    ],
)  # fmt: skip
def test_a_body_without_usable_text_is_a_400_naming_it(api, item, body, field):
    response = api.post(f"/api/breaks/{item.pk}/comments/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert field in response.json()["fields"], response.json()
    assert comments(item) == []
    assert not AuditEvent.objects.filter(action="break.commented").exists()


def test_a_comment_is_stored_trimmed_and_its_longest_is_kept(api, item):
    url = f"/api/breaks/{item.pk}/comments/"
    assert api.post(url, {"text": "  checked  "}, format="json").status_code == 201
    assert api.post(url, {"text": "y" * 10_000}, format="json").status_code == 201
    assert comments(item) == ["checked", "y" * 10_000]


def test_the_same_key_and_body_replays_the_first_answer(api, item):
    url = f"/api/breaks/{item.pk}/comments/"
    first = api.post(url, {"text": "once"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = api.post(url, {"text": "once"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert comments(item) == ["once"]
    other = api.post(url, {"text": "other"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert comments(item) == ["once"]


def test_a_refused_comment_keeps_no_key_and_can_be_sent_again(api, item):
    url = f"/api/breaks/{item.pk}/comments/"
    refused = api.post(url, {"text": ""}, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert refused.status_code == 400
    assert not IdempotentRequest.objects.filter(key="k-2").exists()
    fixed = api.post(url, {"text": "now"}, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert fixed.status_code == 201 and comments(item) == ["now"]


def test_one_key_on_two_breaks_is_two_comments_not_a_replay(api, db):
    first, second = _breaks()[:2]
    for target in (first, second):
        response = api.post(f"/api/breaks/{target.pk}/comments/", {"text": "same"},
                            format="json", HTTP_IDEMPOTENCY_KEY="k-3")  # fmt: skip
        assert response.status_code == 201 and "Idempotent-Replayed" not in response
        assert response.json()["id"] == BreakComment.objects.get(break_record=target).pk
    assert comments(first) == comments(second) == ["same"]


@pytest.mark.django_db(transaction=True)
def test_ten_identical_comments_sent_at_once_make_one(live_server, make_user):
    item = _breaks()[0]
    token = token_for(make_user("risk"))
    url = f"{live_server.url}/api/breaks/{item.pk}/comments/"
    headers = {"Authorization": f"Token {token}", "Idempotency-Key": "at-once"}
    barrier, answers = threading.Barrier(10), []

    def post():
        return requests.post(url, json={"text": "seen twice?"}, headers=headers, timeout=60)

    def send():
        barrier.wait()
        answers.append(post())

    threads = [threading.Thread(target=send) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert comments(item) == ["seen twice?"]
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses.count(201) >= 1 and set(statuses) <= {201, 409}, statuses
    created = [a for a in answers if a.status_code == 201]
    assert len({a.json()["id"] for a in created}) == 1
    assert sum("Idempotent-Replayed" not in a.headers for a in created) == 1
    # Once the first has finished, the same request is its answer replayed.
    replay = post()
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == created[0].json()
    assert AuditEvent.objects.filter(action="break.commented").count() == 1


@pytest.mark.parametrize("text", ["", "   ", "a\x00b", "z" * 10_001])
def test_the_page_form_refuses_blank_nul_or_overlong_text_with_a_message(client_as, item, text):
    client = client_as("risk")
    client.raise_request_exception = False
    page = client.post(f"/breaks/{item.pk}/comments/", {"text": text}, follow=True)
    assert page.status_code == 200
    assert any(
        words in page.content.decode()
        for words in ("cannot be empty", "holds a NUL character", "at most 10,000 characters")
    )
    assert comments(item) == []
