"""A dataset's columnar copy (DatasetFrame) gives exactly the frame its records give."""

import pytest
from django.db import connection, transaction
from django.db.utils import ProgrammingError

from reconciliation import demo_data, frames, ingest
from reconciliation.importers import chunks
from reconciliation.models import Dataset, DatasetFrame
from tests.reconciliation.conftest import EXCHANGE

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo():
    return {name: Dataset.objects.get(pk=pk) for name, pk in demo_data.load().items()}


def test_every_imported_dataset_reads_the_same_from_its_frame_as_from_its_records(demo):
    kinds = set()
    for dataset in demo.values():
        assert DatasetFrame.objects.filter(dataset=dataset).exists(), dataset
        stored = frames.load(dataset)
        assert stored.height == dataset.row_count
        assert stored.equals(frames.load_records(dataset)), dataset
        assert stored.schema == frames.load_records(dataset).schema
        kinds.add(dataset.kind)
    assert kinds == {"balances", "ledger", "trades", "prices", "margin", "pnl"}


def test_a_part_of_a_run_reads_the_same_assets_from_either(demo):
    balances = demo["book balances"]
    assets = ["SOL", "BTC"]  # SOL.S (staked) belongs with SOL
    part = frames.load(balances, assets)
    assert part.equals(frames.load_records(balances, assets))
    assert set(part.get_column("asset")) == {"SOL", "SOL.S", "BTC"}
    assert frames.load(balances, []).height == 0


def test_a_file_imported_in_pieces_keeps_one_frame_per_piece_in_file_order(kraken, monkeypatch):
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 4000)
    data = (EXCHANGE / "kraken_ledgers.csv").read_bytes()
    dataset = ingest.import_file(source=kraken.source, account=kraken,
                                 format_code="kraken-ledgers", data=data,
                                 filename="ledgers.csv").dataset  # fmt: skip
    assert DatasetFrame.objects.filter(dataset=dataset).count() > 3
    stored = frames.load(dataset)
    assert stored.height == dataset.row_count
    assert stored.equals(frames.load_records(dataset))


def test_a_dataset_without_a_frame_is_read_from_its_records(demo):
    dataset = demo["book trades"]
    expected = frames.load(dataset)
    DatasetFrame.objects.filter(dataset=dataset).delete()
    assert frames.load(dataset).equals(expected)


def test_frames_cannot_be_changed(demo):
    frame = DatasetFrame.objects.filter(dataset=demo["book trades"]).first()
    update = "UPDATE reconciliation_datasetframe SET row_count = 1 WHERE id = %s"
    with pytest.raises(ProgrammingError, match="immutable"), transaction.atomic():
        connection.cursor().execute(update, [frame.pk])
