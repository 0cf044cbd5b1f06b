"""Reading the effective book: which adjustments are in force, and the book's values with them.

Writers of a dataset's adjustments hold its book lock (`services.book_lock`) until they commit,
and a reader that fixes a run's adjustments takes the same lock shared: every adjustment with a
smaller id than the last one it sees has committed, so "the dataset's adjustments up to id N"
names one set forever (a run's `adjustments_through`).
"""

from __future__ import annotations

import io
from decimal import Decimal

import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
from django.db import connection

from config import copy_insert
from reconciliation.datasets import frames
from reconciliation.engine import book, valuation
from reconciliation.models import Adjustment, Dataset, Run

BOOK_LOCK_SPACE = 0x424F4F4B  # "BOOK": advisory lock (space, dataset id)


def in_force(dataset: Dataset) -> tuple[int, int]:
    """(last adjustment id, count) of the dataset's adjustments, all committed."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock_shared(%s, %s)", [BOOK_LOCK_SPACE, dataset.pk])
        cursor.execute(
            f"SELECT coalesce(max(id), 0), count(*) FROM {Adjustment._meta.db_table} "  # noqa: S608
            "WHERE dataset_id = %s",
            [dataset.pk],
        )
        return cursor.fetchone()


def adjustments_frame(dataset: Dataset, through: int | None = None) -> pl.DataFrame:
    """The dataset's adjustments (up to id `through`, or all) in the engine's shape, in order.

    Read with COPY as CSV into Arrow (no Python object per row or value); decimals travel as
    text and are cast by polars: exact. NULL is CSV's unquoted empty field, an empty text the
    quoted one, so the two stay apart.
    """
    table = Adjustment._meta.db_table
    limit = "" if through is None else f" AND id <= {int(through)}"
    # The table and columns are ours, the ids ints.
    sql = (
        f"COPY (SELECT id, key, field, operation, delta::text, value, row::text FROM {table} "  # noqa: S608
        f"WHERE dataset_id = {int(dataset.pk)}{limit} ORDER BY id) TO STDOUT (FORMAT csv)"
    )
    copy_insert.settle()  # psycopg's COPY: a pipeline cannot see it coming
    buffer = io.BytesIO()
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for chunk in copy:
            buffer.write(chunk)
    text = {**book.ADJUSTMENTS, "delta": pl.String}
    if not buffer.getbuffer().nbytes:
        return pl.DataFrame(schema=book.ADJUSTMENTS)
    buffer.seek(0)
    arrow = {name: pa.int64() if kind == pl.Int64 else pa.string() for name, kind in text.items()}
    read = pacsv.read_csv(
        buffer,
        read_options=pacsv.ReadOptions(column_names=list(text)),
        convert_options=pacsv.ConvertOptions(
            column_types=arrow,
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,  # (only "": "NA" or "null" are a value's text)
        ),
    )
    frame = pl.from_arrow(read).cast(text)
    return frame.with_columns(pl.col("delta").cast(book.ADJUSTMENTS["delta"]))


def effective_frame(dataset: Dataset, through: int | None = None, assets=None) -> pl.DataFrame:
    """The dataset's records (of `assets` only, when given) with its adjustments merged."""
    return merged(
        dataset, frames.load(dataset, assets), adjustments_frame(dataset, through), assets
    )


def run_book(run: Run, frame: pl.DataFrame, assets=None) -> pl.DataFrame:
    """A run's internal frame (as loaded) with the adjustments the run includes."""
    if not run.adjustments_through:
        return frame
    dataset = run.internal_dataset
    return merged(dataset, frame, adjustments_frame(dataset, run.adjustments_through), assets)


def merged(dataset: Dataset, frame: pl.DataFrame, adjustments: pl.DataFrame, assets=None):
    """`frame` (the dataset's records, or `assets`' part of them) with `adjustments` merged."""
    if adjustments.is_empty():
        return frame
    account = dataset.account.code if dataset.account_id else ""
    result = book.effective(dataset.kind, frame, adjustments, account=account, as_of=dataset.as_of)
    if assets is not None:  # an inserted trade or a delta row of another part's asset
        result = result.filter(frames.in_partition(result, dataset.kind, assets))
    return result


# Names corrections use to build their targets (they never import the engine).
iso_time = book.iso_time
pnl_target = book.pnl_target


def current_values(dataset: Dataset, targets: list[str], as_of, frame: pl.DataFrame | None = None
                   ) -> dict[tuple[str, str], object]:  # fmt: skip
    """The effective book's values of `targets` now (all its adjustments), as the engines see
    them at `as_of`: {(target, field): Decimal or text}. A target the book lacks is absent.
    `frame`: the dataset's `effective_frame`, when the caller has it already."""
    frame = effective_frame(dataset) if frame is None else frame
    return values_of(dataset.kind, frame, targets, as_of)


def values_of(kind: str, frame: pl.DataFrame, targets, as_of) -> dict[tuple[str, str], object]:
    values = book.book_values(kind, frame, as_of, list(targets))
    return {
        (target, field): number if number is not None else text
        for target, field, number, text in values.iter_rows()
    }


def dataset_frame(dataset: Dataset) -> pl.DataFrame:
    """A dataset's records as loaded, without adjustments (an exchange's side), for
    `values_of`."""
    return frames.load(dataset)


def run_prices(run: Run, definition) -> dict[str, tuple]:
    """{asset: (price in the reporting currency, its time)} as the run values with them (the
    reporting currency itself at 1); empty without a prices dataset."""
    return {asset: (price, as_of) for asset, (price, as_of, _stale) in
            run_quotes(run, definition).items() if price is not None}  # fmt: skip


def run_quotes(run: Run, definition) -> dict[str, tuple]:
    """{asset: (price or None, its time, stale)}: every asset the run's prices quote, as the
    run chose among them, a stale price kept (with its flag) where the rule set falls back to
    it and None where it does not; empty without a prices dataset."""
    if not run.prices_dataset_id:
        return {}
    chosen = valuation.prices_under(frames.load(run.prices_dataset), run.as_of, definition)
    # Column by column, and the exact prices through their text: a run values a hundred
    # thousand assets, and polars makes each Decimal in Python, several times slower.
    quoted = zip(_decimals(chosen.get_column("price")), _times(chosen.get_column("price_as_of")),
                 chosen.get_column("stale").to_list(), strict=True)  # fmt: skip
    return dict(zip(chosen.get_column("asset").to_list(), quoted, strict=True))


def _times(column: pl.Series) -> list:
    """A time column's values, one `datetime` per distinct time (a feed's prices share a few):
    made once each rather than once per row."""
    distinct = column.unique()
    made = dict(zip(distinct.to_physical().to_list(), distinct.to_list(), strict=True))
    return [made[moment] for moment in column.to_physical().to_list()]


def _decimals(column: pl.Series) -> list[Decimal]:
    """A decimal column's values as exact Decimals (None for a null)."""
    return [None if text is None else Decimal(text) for text in column.cast(pl.String).to_list()]


def portfolio_value(run: Run, prices: dict[str, tuple], internal_frame: pl.DataFrame | None = None
                    ) -> Decimal | None:  # fmt: skip
    """The value of the run's account's holdings at its time (the effective book of its latest
    book balances or ledger at or before the run), in the reporting currency; None if unknown.
    Positions without a price (or with a price of None) count nothing (the share it divides
    is then an upper bound).
    `internal_frame`: the run's internal dataset's `effective_frame`, when the caller has it."""
    holdings = _holdings_dataset(run)
    if holdings is None or not prices:
        return None
    frame = (internal_frame if internal_frame is not None and holdings.pk == run.internal_dataset_id
             else effective_frame(holdings))  # fmt: skip
    held = book.book_values(holdings.kind, frame, run.as_of).filter(
        (pl.col("field") == "quantity") & (pl.col("number") != 0)
    )
    total = Decimal(0)
    for asset, number in zip(held.get_column("target").to_list(),
                             _decimals(held.get_column("number")), strict=True):  # fmt: skip
        quote = prices.get(asset)
        if quote is not None and quote[0] is not None:
            total += abs(number) * quote[0]
    return total


def _holdings_dataset(run: Run) -> Dataset | None:
    internal = run.internal_dataset
    if internal.kind in ("balances", "ledger"):
        return internal
    return (
        Dataset.objects.filter(
            account_id=internal.account_id, kind__in=["balances", "ledger"], as_of__lte=run.as_of
        )
        .order_by("-as_of", "-id")
        .first()
    )
