"""Trade matches stored as chunks: every match once, pages in match id order, the API."""

import time
from decimal import Decimal

import polars as pl
import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciliation.demo import data as demo_data
from reconciliation.models import Break, BreakObservation, Dataset, Run
from reconciliation.runs import execution as run_execution
from reconciliation.runs import match_store
from reconciliation.runs import services as runs

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
    run_execution.execute_run(run.pk)
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


@pytest.mark.parametrize("after", ["a\x00b", "x" * 201])
def test_the_api_refuses_an_after_it_cannot_look_up(trades_run, client_as, after):
    response = client_as("finance").get(f"/api/runs/{trades_run.pk}/matches/", {"after": after})
    assert response.status_code == 400 and list(response.json()["fields"]) == ["after"]


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


# A whole run outside any caller's transaction stores its matches on a second connection while
# the breaks are merged: these see both connections' commits, as a worker's run does.


def _trades_run_started() -> Run:
    ids = demo_data.load()
    return runs.start_run(
        type="trades",
        internal=Dataset.objects.get(pk=ids["book trades"]),
        external=Dataset.objects.get(pk=ids["kraken trades"]),
    )


def _executed(run: Run) -> Run:
    run_execution.execute_run(run.pk)
    run.refresh_from_db()
    return run


def _chunks(run_id: int) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT part, number, match_count FROM {match_store.TABLE} WHERE run_id = %s "  # noqa: S608
            "ORDER BY part, number",
            [run_id],
        )
        return cursor.fetchall()


@pytest.mark.django_db(transaction=True)
def test_matches_stored_beside_the_breaks_replace_what_a_dead_delivery_left():
    run = _trades_run_started()
    with connection.cursor() as cursor:  # a delivery that died after its matches committed
        match_store.store(cursor, run.pk, 0, _matches(["left-1", "left-2"]))
    run = _executed(run)
    assert run.status == "succeeded" and run.match_count > 100
    assert sum(count for _, _, count in _chunks(run.pk)) == run.match_count
    with connection.cursor() as cursor:
        ids = match_store.all_matches(cursor, run.pk).get_column("match_id").to_list()
    assert len(ids) == len(set(ids)) == run.match_count and "left-1" not in ids


@pytest.mark.django_db(transaction=True)
def test_a_run_whose_breaks_fail_to_store_keeps_none_of_its_matches(monkeypatch):
    from reconciliation.runs import break_store

    def fails_once_the_matches_committed(run):
        deadline = time.monotonic() + 60  # the store's connection sees their commit
        while not _chunks(run.pk) and time.monotonic() < deadline:
            time.sleep(0.05)
        raise RuntimeError("merge failed")

    monkeypatch.setattr(break_store, "_newer_run_exists", fails_once_the_matches_committed)
    run = _executed(_trades_run_started())
    assert run.status == "failed" and "RuntimeError" in run.message
    assert _chunks(run.pk) == [] and run.match_count is None
    assert not BreakObservation.objects.filter(run=run).exists()


@pytest.mark.django_db(transaction=True)
def test_matches_that_fail_to_store_leave_no_breaks(monkeypatch):
    def fails(cursor, run_id, part, matches):
        raise OSError("disk full")

    monkeypatch.setattr(match_store, "store", fails)
    run = _executed(_trades_run_started())
    assert run.status == "failed" and "OSError" in run.message
    assert run.break_count is None and not Break.objects.exists()
    assert not BreakObservation.objects.filter(run=run).exists()
