"""Large exports load piece by piece: the same dataset, still all or nothing."""

import pytest

from reconciliation.datasets import ingest
from reconciliation.importers import chunks
from reconciliation.models import Dataset, TradeRecord
from tests.reconciliation.conftest import EXCHANGE

pytestmark = pytest.mark.django_db

TRADES = (EXCHANGE / "kraken_trades.csv").read_bytes()


def load(account, data):
    return ingest.import_file(
        source=account.source, account=account, format_code="kraken-trades", data=data,
        filename="trades.csv",
    )  # fmt: skip


def stored(dataset):
    fields = ("row_number", "trade_id", "pair", "quantity", "price", "fee", "executed_at", "extra")
    return list(TradeRecord.objects.filter(dataset=dataset).order_by("row_number").values(*fields))


@pytest.fixture
def small_pieces(monkeypatch):
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 3000)


def test_pieces_store_exactly_what_one_pass_stores(kraken, small_pieces, monkeypatch):
    in_pieces = load(kraken, TRADES).dataset
    assert len(list(chunks.pieces(TRADES, 3000))) > 5
    rows = stored(in_pieces)
    other = type(kraken).objects.create(source=kraken.source, code="whole")
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 10 << 20)
    whole = load(other, TRADES).dataset
    assert rows == stored(whole)
    assert in_pieces.row_count == whole.row_count == 176
    assert (in_pieces.period_start, in_pieces.period_end) == (whole.period_start, whole.period_end)


def test_an_error_in_a_late_piece_rolls_everything_back(kraken, small_pieces):
    lines = TRADES.decode().splitlines(keepends=True)
    lines[170] = lines[170].replace('"buy"', '"hold"').replace('"sell"', '"hold"')
    bad_vol = lines[150].split(",")
    bad_vol[11] = "1.2.3"
    lines[150] = ",".join(bad_vol)
    with pytest.raises(ingest.DatasetRejected) as caught:
        load(kraken, "".join(lines).encode())
    rows = {error.row for error in caught.value.errors.first()}
    assert {151, 171} <= rows
    assert Dataset.objects.count() == 0
    assert TradeRecord.objects.count() == 0


def test_a_duplicate_across_pieces_is_found(kraken, small_pieces):
    lines = TRADES.decode().splitlines(keepends=True)
    duplicate = lines[2]
    data = "".join([*lines, duplicate]).encode()
    with pytest.raises(ingest.DatasetRejected) as caught:
        load(kraken, data)
    (error,) = caught.value.errors.first()
    assert error.row == len(lines) + 1 and "duplicate of row 3" in error.reason
    assert TradeRecord.objects.count() == 0
