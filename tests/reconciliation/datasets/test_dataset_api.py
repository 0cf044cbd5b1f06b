"""REST doors for data in: upload, JSON rows, Idempotency-Key, list, records."""

import json
import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from config.models import IdempotentRequest
from reconciliation.models import Dataset
from tests.reconciliation.ingest_samples import BALANCES, HUGE, TINY

pytestmark = pytest.mark.django_db

ROWS = [
    {"account": "main", "asset": "BTC", "quantity": "1.5", "as_of": "2026-01-01T00:00:00Z"},
    {"account": "main", "asset": "ETH", "quantity": "2", "as_of": "2026-01-01T00:00:00Z"},
]


@pytest.fixture
def api(make_user):
    def client_for(*roles):
        client = APIClient()
        client.force_authenticate(make_user(*roles))
        return client

    return client_for


def upload(client, text=BALANCES, key=None, name="book.csv"):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(
        "/api/datasets/",
        {
            "source": "book",
            "account": "main",
            "format": "generic-balances",
            "file": SimpleUploadedFile(name, text.encode()),
        },
        format="multipart",
        **headers,
    )


def test_upload_creates_then_returns_the_same_dataset(api, book):
    client = api("risk")
    first = upload(client)
    second = upload(client)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["created"] is True and second.json()["created"] is False
    assert first.json()["dataset"]["id"] == second.json()["dataset"]["id"]
    assert first.json()["dataset"]["row_count"] == 2


def test_bad_upload_answers_422_with_row_errors_and_stores_nothing(api, book):
    response = upload(
        api("risk"), "account,asset,quantity,as_of\nmain,BTC,x,2026-01-01T00:00:00Z\n"
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "dataset_rejected"
    assert body["fields"]["errors"] == [
        {
            "row": 2,
            "column": "quantity",
            "value": "x",
            "reason": body["fields"]["errors"][0]["reason"],
        }
    ]
    assert body["fields"]["error_count"] == 1
    assert Dataset.objects.count() == 0


def test_finance_cannot_upload(api, book):
    assert upload(api("finance")).status_code == 403
    assert Dataset.objects.count() == 0


def test_json_rows_with_exact_numbers(api, book):
    body = (
        json.dumps(
            {"source": "book", "account": "main", "format": "generic-balances", "rows": ROWS}
        )
        .replace('"1.5"', TINY)
        .replace('"2"', HUGE)
    )
    response = api("admin").post("/api/datasets/", body, content_type="application/json")
    assert response.status_code == 201, response.json()
    dataset_id = response.json()["dataset"]["id"]
    records = api("finance").get(f"/api/datasets/{dataset_id}/records/").json()["results"]
    assert [r["quantity"] for r in records] == [TINY, HUGE]


def test_json_rows_cannot_use_a_file_format(api, kraken):
    body = {"source": "kraken", "account": "main", "format": "kraken-ledgers", "rows": ROWS}
    response = api("risk").post("/api/datasets/", body, format="json")
    assert response.status_code == 422
    assert "upload the file instead" in response.json()["message"]


def test_neither_file_nor_rows_is_a_validation_error(api, book):
    response = api("risk").post(
        "/api/datasets/", {"source": "book", "account": "main", "format": "prices"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"


def test_unknown_source_is_404_with_a_clear_message(api, db):
    response = upload(api("risk"))
    assert response.status_code == 404
    assert "No source 'book'" in response.json()["message"]


def test_idempotency_key_replays_the_stored_response(api, book):
    client = api("risk")
    first = upload(client, key="k-1")
    replay = upload(client, key="k-1")
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert replay["Idempotent-Replayed"] == "true"
    assert Dataset.objects.count() == 1


def test_idempotency_key_with_another_body_is_422(api, book):
    client = api("risk")
    upload(client, key="k-2")
    other = upload(client, BALANCES.replace("BTC", "SOL"), key="k-2")
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert Dataset.objects.count() == 1


def test_idempotency_key_still_in_flight_is_409(api, book, make_user):
    user = make_user("risk")
    client = APIClient()
    client.force_authenticate(user)
    from config.idempotency import request_fingerprint  # noqa: F401 - the same hashing path

    first = upload(client, key="k-3")
    IdempotentRequest.objects.filter(key="k-3").delete()
    IdempotentRequest.objects.create(
        user=user, route="api-datasets", key="k-3", request_hash=_fingerprint_of(client)
    )
    response = upload(client, key="k-3")
    assert first.status_code == 201
    assert response.status_code == 409
    assert response.json()["code"] == "idempotent_request_in_flight"


def _fingerprint_of(client):
    """The fingerprint the server computes for `upload(client)` (captured from a real request)."""
    captured = {}
    from config import idempotency

    original = idempotency.request_fingerprint

    def capture(request):
        captured["hash"] = original(request)
        return captured["hash"]

    idempotency.request_fingerprint = capture
    try:
        upload(client, key="probe")
    finally:
        idempotency.request_fingerprint = original
    IdempotentRequest.objects.filter(key="probe").delete()
    return captured["hash"]


def test_failed_validation_stores_no_idempotency_record(api, book):
    client = api("risk")
    bad = upload(client, "account,asset,quantity,as_of\nmain,BTC,x,2026-01-01T00:00:00Z\n", "k-4")
    assert bad.status_code == 422
    assert not IdempotentRequest.objects.filter(key="k-4").exists()
    assert upload(client, key="k-4").status_code == 201


@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_uploads_make_one_dataset(book, make_user):
    from django.db import connections

    user = make_user("risk")
    results, barrier = [], threading.Barrier(4)

    def post():
        client = APIClient()
        client.force_authenticate(user)
        barrier.wait()
        results.append(upload(client).status_code)
        connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200, 200, 200, 201]
    assert Dataset.objects.count() == 1


def test_list_filters_and_detail(api, book, kraken):
    client = api("risk")
    upload(client)
    listing = api("finance").get("/api/datasets/", {"kind": "balances", "source": "book"}).json()
    assert [d["kind"] for d in listing["results"]] == ["balances"]
    assert api("finance").get("/api/datasets/", {"source": "kraken"}).json()["results"] == []
    dataset_id = listing["results"][0]["id"]
    assert api("finance").get(f"/api/datasets/{dataset_id}/").json()["source"] == "book"
    assert api("finance").get("/api/datasets/999999/").status_code == 404


def test_records_filter_by_asset(api, book):
    dataset_id = upload(api("risk")).json()["dataset"]["id"]
    rows = api("risk").get(f"/api/datasets/{dataset_id}/records/", {"asset": "eth"}).json()
    assert [r["asset"] for r in rows["results"]] == ["ETH"]


def test_formats_are_listed(api, db):
    codes = {f["code"] for f in api("finance").get("/api/formats/").json()}
    assert {"kraken-ledgers", "kraken-trades", "coinbase", "binance", "prices"} <= codes


def test_records_of_rows_with_two_legs_page_through_once_each(api, make_user):
    from reconciliation.datasets import ingest
    from reconciliation.models import Account, Source
    from tests.reconciliation.format_samples import SAMPLES

    source = Source.objects.create(code="coinbase", name="Coinbase", kind="exchange",
                                   exchange="coinbase")  # fmt: skip
    account = Account.objects.create(source=source, code="main")
    sample = SAMPLES["coinbase"]
    dataset = ingest.import_file(
        source=source, account=account, format_code="coinbase",
        data=sample.path.read_bytes(), filename=sample.path.name,
    ).dataset  # fmt: skip
    client, seen = api("finance"), []
    url = f"/api/datasets/{dataset.pk}/records/?page_size=7"  # pages end between two legs
    while url:
        page = client.get(url).json()
        seen.extend((row["row_number"], row["leg"]) for row in page["results"])
        url = page["next"]
    assert len(seen) == len(set(seen)) == sample.records
    assert seen == sorted(seen)
