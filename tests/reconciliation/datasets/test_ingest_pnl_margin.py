"""The generic `pnl` kind and margin's optional `open_position`: loaded exactly, checked clearly."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from reconciliation.datasets import frames, ingest
from reconciliation.models import Dataset, MarginRecord, PnlRecord

pytestmark = pytest.mark.django_db

PNL = (
    "account,asset,realised_pnl,currency,period_start,period_end\n"
    "main,BTC,18433.270000000000000001,USD,2026-02-01T00:00:00Z,2026-03-01T00:00:00Z\n"
    "main,ETH,-1210.55,USD,2026-01-01T00:00:00Z,2026-02-01T00:00:00+00:00\n"
)


def load(account, text, fmt):
    return ingest.import_file(
        source=account.source, account=account, format_code=fmt, data=text.encode(),
        filename="book.csv",
    )  # fmt: skip


def test_pnl_rows_are_exact_and_the_dataset_spans_their_periods(book):
    dataset = load(book, PNL, "generic-pnl").dataset
    assert dataset.kind == "pnl" and dataset.row_count == 2
    assert (dataset.period_start, dataset.period_end) == (
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 3, 1, tzinfo=UTC),
    )
    rows = {r.asset: r for r in PnlRecord.objects.filter(dataset_id=dataset.pk)}
    assert rows["BTC"].realised_pnl == Decimal("18433.270000000000000001")
    assert rows["BTC"].currency == "USD"
    frame = frames.load(dataset)
    assert frame.columns == ["account", "asset", "realised_pnl", "currency", "period_start",
                             "period_end"]  # fmt: skip
    assert str(frame.filter(asset="BTC")["realised_pnl"].item()) == "18433.270000000000000001"


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        ("main,BTC,1,USD,2026-03-01T00:00:00Z,2026-02-01T00:00:00Z", "period_end", "after"),
        ("main,BTC,1,USD,2026-03-01T00:00:00Z,2026-03-01T00:00:00Z", "period_end", "after"),
        ("main,BTC,1.2.3,USD,2026-02-01T00:00:00Z,2026-03-01T00:00:00Z", "realised_pnl", ""),
        ("main,BTC,1,USD,2026-02-01 00:00:00,2026-03-01T00:00:00Z", "period_start", "offset"),
        ("main,BTC,1,,2026-02-01T00:00:00Z,2026-03-01T00:00:00Z", "currency", ""),
    ],
)
def test_a_bad_pnl_row_is_named_and_nothing_is_stored(book, row, column, reason):
    header = PNL.splitlines()[0]
    with pytest.raises(ingest.DatasetRejected) as caught:
        load(book, f"{header}\n{row}\n", "generic-pnl")
    errors = caught.value.fields["errors"]
    assert [(e["row"], e["column"]) for e in errors] == [(2, column)]
    assert reason in errors[0]["reason"]
    assert not Dataset.objects.exists() and not PnlRecord.objects.exists()


def test_the_same_asset_and_period_twice_is_a_duplicate(book):
    row = PNL.splitlines()[1]
    with pytest.raises(ingest.DatasetRejected) as caught:
        load(book, f"{PNL.splitlines()[0]}\n{row}\n{row}\n", "generic-pnl")
    assert caught.value.fields["errors"][0]["row"] == 3


def test_open_position_is_optional_signed_and_exact(book):
    text = (
        "account,asset,collateral,used_margin,as_of,open_position\n"
        "main,USD,250000.0000,48211.55,2026-02-27T10:16:05Z,\n"
        "main,BTC,0,0,2026-02-27T10:16:05Z,-1.250000000000000001\n"
    )
    dataset = load(book, text, "generic-margin").dataset
    stored = dict(
        MarginRecord.objects.filter(dataset_id=dataset.pk).values_list("asset", "open_position")
    )
    assert stored == {"USD": None, "BTC": Decimal("-1.250000000000000001")}
    without = "account,asset,collateral,used_margin,as_of\nmain,USD,1,0,2026-02-27T10:16:05Z\n"
    frame = frames.load(load(book, without, "generic-margin").dataset)
    assert frame["open_position"].to_list() == [None]
