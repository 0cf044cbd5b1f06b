"""A dataset's columnar copy (DatasetFrame) gives exactly the frame its records give."""

from types import SimpleNamespace

import polars as pl
import pytest
from django.db import connection, transaction
from django.db.utils import ProgrammingError

from reconciliation import task_queue, tasks
from reconciliation.datasets import frames, ingest
from reconciliation.demo import data as demo_data
from reconciliation.models import BreakObservation, Dataset, DatasetFrame
from reconciliation.runs import execution as run_execution
from reconciliation.runs import services as runs
from tests.reconciliation.conftest import EXCHANGE

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo():
    return {name: Dataset.objects.get(pk=pk) for name, pk in demo_data.load().items()}


def test_every_kind_reads_the_same_from_its_frame_as_from_its_records(demo):
    kinds = set()
    for dataset in demo.values():
        assert frames.stored(dataset) is None  # written by a worker after the import
        assert tasks.prepare_frame(dataset.pk) is True
        assert frames.prepare(dataset) is False  # once
        stored = frames.load(dataset)
        assert frames.stored(dataset) is not None and stored.height == dataset.row_count
        assert stored.equals(frames.load_records(dataset)), dataset
        assert stored.schema == frames.load_records(dataset).schema
        kinds.add(dataset.kind)
    assert kinds == {"balances", "ledger", "trades", "prices", "margin", "pnl"}


def test_a_part_of_a_run_reads_the_same_assets_from_either(demo):
    balances = demo["book balances"]
    frames.prepare(balances)
    assets = ["SOL", "BTC"]  # SOL.S (staked) belongs with SOL
    part = frames.load(balances, assets)
    assert part.equals(frames.load_records(balances, assets))
    assert set(part.get_column("asset")) == {"SOL", "SOL.S", "BTC"}
    assert frames.load(balances, []).height == 0


def test_a_large_dataset_is_kept_in_pieces_read_back_in_file_order(kraken, monkeypatch):
    monkeypatch.setattr(frames, "FRAME_ROWS", 50)
    data = (EXCHANGE / "kraken_ledgers.csv").read_bytes()
    dataset = ingest.import_file(source=kraken.source, account=kraken,
                                 format_code="kraken-ledgers", data=data,
                                 filename="ledgers.csv").dataset  # fmt: skip
    frames.prepare(dataset)
    assert DatasetFrame.objects.filter(dataset=dataset).count() == -(-dataset.row_count // 50) > 3
    assert frames.load(dataset).equals(frames.load_records(dataset))


def test_an_import_has_a_worker_prepare_its_frame_once_committed(
    kraken, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(task_queue, "prepare_frame", sent.append)
    with django_capture_on_commit_callbacks(execute=True):
        dataset = ingest.import_file(
            source=kraken.source, account=kraken, format_code="kraken-ledgers",
            data=(EXCHANGE / "kraken_ledgers.csv").read_bytes(), filename="ledgers.csv",
        ).dataset  # fmt: skip
    assert sent == [dataset.pk]


def test_runs_find_the_same_breaks_with_frames_as_without(demo):
    def observed(run):
        run_execution.execute_run(run.pk)
        return sorted(
            BreakObservation.objects.filter(run=run).values_list(
                "break_record__break_key", "internal_value", "external_value", "severity"
            )
        )

    cases = [("trades", "book trades", "kraken trades"),
             ("position", "book balances", "kraken ledgers")]  # fmt: skip
    before = [observed(runs.start_run(type=t, internal=demo[i], external=demo[e],
                                      prices=demo["prices"])) for t, i, e in cases]  # fmt: skip
    for dataset in demo.values():
        frames.prepare(dataset)
    after = [observed(runs.start_run(type=t, internal=demo[i], external=demo[e],
                                     prices=demo["prices"])) for t, i, e in cases]  # fmt: skip
    assert after == before and all(before)


def test_frames_cannot_be_changed(demo):
    frames.prepare(demo["book trades"])
    frame = DatasetFrame.objects.filter(dataset=demo["book trades"]).first()
    update = "UPDATE reconciliation_datasetframe SET row_count = 1 WHERE id = %s"
    with pytest.raises(ProgrammingError, match="immutable"), transaction.atomic():
        connection.cursor().execute(update, [frame.pk])


@pytest.mark.parametrize("copies", [1, 400])  # few rows a value, and many (keys worked per value)
def test_partition_filters_and_counts_agree_however_often_values_repeat(copies):
    values = ["DOT", "DOT.S", "ETH", "ETH.F", "SOL", "", "SOL.S.X"] * copies
    frame = pl.DataFrame({"asset": values})
    wanted = ["DOT", "SOL"]
    picked = frame.filter(frames.in_partition(frame, "balances", wanted)).get_column("asset")
    assert sorted(set(picked)) == ["DOT", "DOT.S", "SOL", "SOL.S.X"]
    assert picked.len() == 4 * copies
    counts = frames.rows_by_partition_key(SimpleNamespace(kind="balances"), frame)
    assert counts == {"DOT": 2 * copies, "ETH": 2 * copies, "SOL": 2 * copies, "": copies}
