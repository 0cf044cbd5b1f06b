"""Datasets (one immutable load each) and their records, one table per kind.

Numbers are NUMERIC(38, 18): 20 integer and 18 fractional digits, exact. Records arrive by COPY
(`reconciliation.datasets.ingest`); triggers refuse UPDATE on every table here and DELETE of a
dataset (migrations 0002, 0003). Keys that must be unique within a dataset (trade ids, entry ids)
are checked by the importers before anything is written.

A record is one row of its file, so each record table refuses a second record of the same row
(`..._row_once`): a row copied twice is a fault of the loader, never data. The one exception is
a ledger row that stands for two movements (a Coinbase Buy moves the coin in and the cash out):
its records are its legs, numbered from 0 (the row's own movement), and a row may hold each leg
once.
"""

from django.conf import settings
from django.db import models

from reconciliation.importers.base import KINDS

MONEY = {"max_digits": 38, "decimal_places": 18}


class Dataset(models.Model):
    Kind = models.TextChoices("Kind", [(kind, kind) for kind in KINDS])

    kind = models.CharField(max_length=20, choices=Kind.choices)
    format = models.CharField(max_length=40)
    source = models.ForeignKey("reconciliation.Source", on_delete=models.PROTECT)
    account = models.ForeignKey(
        "reconciliation.Account", null=True, blank=True, on_delete=models.PROTECT
    )
    as_of = models.DateTimeField(help_text="the latest time in the data")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    content_hash = models.CharField(max_length=64)
    row_count = models.PositiveIntegerField()
    original_name = models.CharField(max_length=255, blank=True)
    notes = models.JSONField(default=dict, blank=True)
    loaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # What a correction's account foreign key points at (corrections migration 0005).
            models.UniqueConstraint(fields=["id", "account"], name="dataset_and_its_account"),
            models.UniqueConstraint(
                fields=["account", "kind", "content_hash"],
                condition=models.Q(account__isnull=False),
                name="dataset_once_per_account",
            ),
            models.UniqueConstraint(
                fields=["source", "kind", "content_hash"],
                condition=models.Q(account__isnull=True),
                name="dataset_once_per_source",
            ),
            models.CheckConstraint(condition=models.Q(row_count__gte=1), name="dataset_not_empty"),
            models.CheckConstraint(
                condition=models.Q(period_start__lte=models.F("period_end")),
                name="dataset_period_ordered",
            ),
        ]
        indexes = [models.Index(fields=["kind", "account", "-as_of"])]

    def __str__(self) -> str:
        return f"dataset {self.pk} ({self.kind}, {self.account or self.source})"


class Record(models.Model):
    # No database constraint or separate index: records are written only by COPY, in the
    # transaction that creates their dataset, and datasets are never updated or deleted
    # (trigger). Per-row foreign-key checks and a third index would double the cost of a load;
    # (dataset, row_number) is unique and serves every lookup by dataset.
    dataset = models.ForeignKey(
        Dataset, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False, db_index=False
    )
    row_number = models.PositiveIntegerField(help_text="line in the file, or position in JSON")
    extra = models.JSONField(default=dict, blank=True, help_text="columns kept as they came")

    class Meta:
        abstract = True
        ordering = ["dataset", "row_number"]

    def __str__(self) -> str:
        return f"{type(self).__name__} {self.dataset_id}:{self.row_number}"


class BalanceRecord(Record):
    account = models.CharField(max_length=100)
    asset = models.CharField(max_length=40)
    wallet = models.CharField(max_length=100, blank=True)
    quantity = models.DecimalField(**MONEY)
    as_of = models.DateTimeField()

    class Meta(Record.Meta):
        constraints = [
            models.UniqueConstraint(fields=["dataset", "row_number"], name="balance_row_once")
        ]


class TradeRecord(Record):
    account = models.CharField(max_length=100)
    trade_id = models.CharField(max_length=100)
    order_id = models.CharField(max_length=100, blank=True)
    exchange_trade_id = models.CharField(max_length=100, blank=True)
    pair = models.CharField(max_length=81)
    base = models.CharField(max_length=40)
    quote = models.CharField(max_length=40)
    side = models.CharField(max_length=4, choices=[("buy", "buy"), ("sell", "sell")])
    quantity = models.DecimalField(**MONEY)
    price = models.DecimalField(**MONEY)
    cost = models.DecimalField(null=True, blank=True, **MONEY)
    fee = models.DecimalField(**MONEY)
    fee_asset = models.CharField(max_length=40)
    executed_at = models.DateTimeField()

    class Meta(Record.Meta):
        constraints = [
            models.UniqueConstraint(fields=["dataset", "row_number"], name="trade_row_once"),
        ]


class LedgerEntryRecord(Record):
    account = models.CharField(max_length=100)
    entry_id = models.CharField(max_length=100)
    reference = models.CharField(max_length=100, blank=True)
    asset = models.CharField(max_length=40)
    wallet = models.CharField(max_length=100, blank=True)
    amount = models.DecimalField(**MONEY)
    fee = models.DecimalField(**MONEY)
    balance = models.DecimalField(null=True, blank=True, **MONEY)
    type = models.CharField(max_length=50)
    subtype = models.CharField(max_length=50, blank=True)
    occurred_at = models.DateTimeField()
    leg = models.PositiveSmallIntegerField(
        default=0,
        db_default=0,
        help_text="0: the row's own movement; 1: a movement the row implies (a trade's cash)",
    )

    class Meta(Record.Meta):
        ordering = ["dataset", "row_number", "leg"]
        constraints = [
            models.UniqueConstraint(
                fields=["dataset", "row_number", "leg"], name="ledger_row_leg_once"
            ),
        ]


class PriceRecord(Record):
    asset = models.CharField(max_length=40)
    quote = models.CharField(max_length=40)
    price = models.DecimalField(**MONEY)
    as_of = models.DateTimeField()
    price_source = models.CharField(max_length=100)

    class Meta(Record.Meta):
        constraints = [
            models.UniqueConstraint(fields=["dataset", "row_number"], name="price_row_once")
        ]


class MarginRecord(Record):
    account = models.CharField(max_length=100)
    asset = models.CharField(max_length=40)
    collateral = models.DecimalField(**MONEY)
    used_margin = models.DecimalField(**MONEY)
    open_position = models.DecimalField(
        null=True, blank=True, help_text="signed quantity in open margin positions", **MONEY
    )
    as_of = models.DateTimeField()

    class Meta(Record.Meta):
        constraints = [
            models.UniqueConstraint(fields=["dataset", "row_number"], name="margin_row_once")
        ]


class PnlRecord(Record):
    account = models.CharField(max_length=100)
    asset = models.CharField(max_length=40)
    realised_pnl = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=40)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()

    class Meta(Record.Meta):
        constraints = [
            models.UniqueConstraint(fields=["dataset", "row_number"], name="pnl_row_once"),
            models.CheckConstraint(
                condition=models.Q(period_start__lt=models.F("period_end")),
                name="pnl_period_forwards",
            ),
        ]


class DatasetFrame(models.Model):
    """A piece of a dataset's records in the engine's shape, as compressed Arrow IPC.

    Written with the records, in the transaction that imports them, and immutable like them
    (trigger). A run reads these instead of asking PostgreSQL to render a million rows as text:
    the records stay the truth (queries, record pages, exports); this is their columnar copy
    for the engine (reconciliation/datasets/frames.py). Datasets imported before frames existed, or
    written by other means, have none and are read from their records.
    """

    dataset = models.ForeignKey(
        Dataset, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False, db_index=False
    )
    number = models.PositiveIntegerField()
    row_count = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dataset", "number"], name="dataset_frame_once"),
        ]

    def __str__(self) -> str:
        return f"frame {self.number} of dataset {self.dataset_id}"


RECORD_MODELS = {
    "balances": BalanceRecord,
    "trades": TradeRecord,
    "ledger": LedgerEntryRecord,
    "prices": PriceRecord,
    "margin": MarginRecord,
    "pnl": PnlRecord,
}


def file_order(kind: str) -> list[str]:
    """The fields that put a kind's records in file order (unique within a dataset)."""
    return [name for name in RECORD_MODELS[kind]._meta.ordering if name != "dataset"]
