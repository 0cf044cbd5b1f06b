"""Trade matches stored as chunks: every match once, pages in match id order, the API."""

from decimal import Decimal

import polars as pl
import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciliation import demo_data, match_store, runs
from reconciliation.models import Dataset, Run

pytestmark = pytest.mark.django_db


def _matches(ids: list[str]) -> pl.DataFrame:
    n = len(ids)
    amount = pl.Series([Decimal("0.000000000000000001") * (i + 1) for i in range(n)],
                       dtype=pl.Decimal(38, 18))  # fmt: skip
    return pl.DataFrame({
        "match_id": ids, "rule": ["id"] * n, "account": ["main"] * n, "pair": ["BTC/USD"] * n,
        "side": ["buy"] * n, "internal_ids": [[f"i{x}", "ü,\"q"] for x in ids],
        "external_ids": [[f"e{x}"] for x in ids], "internal_quantity": amount,
        "external_quantity": amount, "internal_price": amount, "external_price": amount,
        "internal_fee": amount, "external_fee": amount, "internal_fee_asset": ["USD"] * n,
        "external_fee_asset": ["USD"] * n,
    })  # fmt: skip


def _walk(run_id: int, size: int) -> list[str]:
    seen, after = [], ""
    with connection.cursor() as cursor:
        while True:
            page = match_store.page(cursor, run_id, after=after, size=size)
            seen += [m["match_id"] for m in page.matches]
            assert len(page.matches) <= size
            if page.next_after is None:
                return seen
            assert page.next_after == seen[-1]
            after = page.next_after


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ids=st.lists(st.text("abcZ9é-:", min_size=1, max_size=6), min_size=0, max_size=60, unique=True),
    parts=st.integers(1, 4),
    size=st.integers(1, 25),
)
def test_pages_walk_every_match_once_in_byte_order_however_it_was_split(
    monkeypatch, ids, parts, size
):
    monkeypatch.setattr(match_store, "CHUNK_ROWS", 4)
    run_id = 10**9 + len(ids) * 10 + parts
    with connection.cursor() as cursor:
        match_store.delete(cursor, run_id)
        for part in range(parts):
            mine = [x for n, x in enumerate(ids) if n % parts == part]
            assert match_store.store(cursor, run_id, part, _matches(mine)) == len(mine)
        assert _walk(run_id, size) == sorted(ids, key=lambda x: x.encode())
        assert match_store.all_matches(cursor, run_id).get_column("match_id").to_list() == sorted(
            ids, key=lambda x: x.encode()
        )
        match_store.delete(cursor, run_id)


def test_a_match_keeps_its_values_exactly():
    with connection.cursor() as cursor:
        match_store.store(cursor, 7, 0, _matches(["m1"]))
        (match,) = match_store.page(cursor, 7).matches
    assert match["internal_ids"] == ["im1", 'ü,"q'] and match["external_ids"] == ["em1"]
    assert match["internal_price"] == Decimal("0.000000000000000001")


@pytest.fixture
def trades_run():
    demo = {name: Dataset.objects.get(pk=pk) for name, pk in demo_data.load().items()}
    run = runs.start_run(type="trades", internal=demo["book trades"],
                         external=demo["kraken trades"])  # fmt: skip
    runs.execute_run(run.pk)
    return Run.objects.get(pk=run.pk)


def test_the_api_pages_through_a_runs_matches(trades_run, client_as):
    client = client_as("finance")
    url = f"/api/runs/{trades_run.pk}/matches/?page_size=7"
    ids, pages = [], 0
    while url:
        body = client.get(url).json()
        assert body["count"] == trades_run.match_count
        ids += [m["match_id"] for m in body["results"]]
        url, pages = body["next"], pages + 1
    assert len(ids) == len(set(ids)) == trades_run.match_count > 7
    assert ids == sorted(ids, key=lambda x: x.encode()) and pages > 1
    first = client.get(f"/api/runs/{trades_run.pk}/matches/?page_size=1").json()["results"][0]
    assert isinstance(first["internal_quantity"], str) and "E" not in first["internal_quantity"]
    assert {"rule", "internal_ids", "external_ids", "internal_fee"} <= set(first)


@pytest.mark.parametrize("size", ["0", "1001", "ten", "-5"])
def test_the_api_refuses_a_page_size_it_cannot_serve(trades_run, client_as, size):
    response = client_as("finance").get(f"/api/runs/{trades_run.pk}/matches/?page_size={size}")
    assert response.status_code == 400 and "page_size" in response.json()["fields"]


def test_the_run_page_offers_every_match_as_csv(trades_run, client_as):
    import csv
    import io
    import json

    client = client_as("finance")
    assert "download as CSV" in client.get(f"/runs/{trades_run.pk}/").content.decode()
    response = client.get(f"/runs/{trades_run.pk}/matches.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == trades_run.match_count
    assert [r["match_id"] for r in rows] == sorted((r["match_id"] for r in rows), key=str.encode)
    assert all(isinstance(json.loads(r["internal_ids"]), list) for r in rows)
    assert {r["rule"] for r in rows} >= {"id"}


def test_matches_of_a_run_are_not_shown_to_a_user_without_access(trades_run, client_as):
    response = client_as().get(f"/runs/{trades_run.pk}/matches.csv")
    assert response.status_code == 403
