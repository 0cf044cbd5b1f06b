"""A run's inputs: what fits each side of each run type (one definition for runs, their form,
API and schedules), and loading them as engine frames.

The internal side is the firm's own book (a source of kind "internal"); the external side is
what an exchange or custodian reports. A run with the two swapped would find every difference
again with reversed values, as new breaks beside the real ones, so no door may start one.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from django.db import connection, connections
from django.db.models import QuerySet

from reconciliation.book import selectors as book
from reconciliation.datasets import frames

# The run types' one table (engine/types.py); doors read its names here as run_inputs.TYPES.
from reconciliation.engine.types import RUN_TYPES, TYPES  # noqa: F401
from reconciliation.models import Account, Dataset, Run, Source

SIDES = ("internal", "external")
# Which sources stand on which side; a price feed stands on neither.
SOURCE_KINDS = {
    "internal": frozenset({Source.Kind.INTERNAL}),
    "external": frozenset({Source.Kind.EXCHANGE, Source.Kind.CUSTODIAN}),
}
SIDE_WORDS = {"internal": "the book (an internal source)",
              "external": "an exchange or custodian"}  # fmt: skip


def source_problem(side: str, source: Source) -> str | None:
    """Why `source` cannot stand on `side`, or None when it can."""
    if source.kind in SOURCE_KINDS[side]:
        return None
    what = Source.Kind(source.kind).label.lower() if source.kind in Source.Kind.values else "?"
    return (
        f"{source.code} is a source of kind {what}; the {side} side must be "
        f"{SIDE_WORDS[side]}{' — the two sides look swapped' if _swapped(side, source) else ''}"
    )


def _swapped(side: str, source: Source) -> bool:
    other = "external" if side == "internal" else "internal"
    return source.kind in SOURCE_KINDS[other]


def dataset_problems(type_: str, side: str, dataset: Dataset) -> list[str]:
    """Why `dataset` cannot be the `side` of a `type_` run (empty when it fits)."""
    problems = []
    problem = source_problem(side, dataset.source)
    if problem:
        problems.append(f"dataset {dataset.pk}: {problem}")
    kinds = RUN_TYPES[type_].kinds(side)
    if dataset.kind not in kinds:
        problems.append(f"dataset {dataset.pk} is {dataset.kind}, not {' or '.join(sorted(kinds))}")
    return problems


def account_problem(side: str, account: Account) -> str | None:
    """Why `account` cannot be the `side` of a scheduled run, or None when it fits."""
    problem = source_problem(side, account.source)
    return f"{account}: {problem}" if problem else None


def prices_source_problem(source: Source) -> str | None:
    if source.kind == Source.Kind.PRICE_FEED:
        return None
    return f"{source.code} is not a price feed"


def fitting_datasets(type_: str | None, side: str) -> QuerySet[Dataset]:
    """Datasets that may be the `side` of a `type_` run (of any type when `type_` is None)."""
    kinds = RUN_TYPES[type_].kinds(side) if type_ in RUN_TYPES else _all_kinds(side)
    return (
        Dataset.objects.filter(kind__in=kinds, source__kind__in=SOURCE_KINDS[side])
        .select_related("source", "account__source")
        .order_by("kind", "-as_of", "-id")
    )


def types_taking(side: str, kind: str) -> list[str]:
    """The run types whose `side` takes datasets of `kind`."""
    return [name for name, needs in RUN_TYPES.items() if kind in needs.kinds(side)]


def _all_kinds(side: str) -> set[str]:
    return {kind for needs in RUN_TYPES.values() for kind in needs.kinds(side)}


def fitting_accounts(side: str) -> QuerySet[Account]:
    return Account.objects.filter(source__kind__in=SOURCE_KINDS[side]).select_related("source")


def run_time(internal: Dataset, external: Dataset):
    """A run's as-of time: the later of its two datasets' times."""
    return max(internal.as_of, external.as_of)


def prices_for(internal: Dataset, external: Dataset) -> Dataset | None:
    """The prices dataset a run of these two uses when none is given: the latest one (by its
    latest price) with prices at or before the run's time (the later of the two as-of times).

    Prices after a run's time are never used (valuation looks no later than the run), so a
    dataset that starts after it would value nothing. The run form offers exactly this choice.
    """
    at = run_time(internal, external)
    prices = Dataset.objects.filter(kind="prices", period_start__lte=at)
    return prices.order_by("-as_of", "-id").first()


def prices_loaded() -> bool:
    return Dataset.objects.filter(kind="prices").exists()


def load_inputs(run: Run, assets: list[str] | None = None) -> dict:
    """The run's datasets as engine frames (with `assets`: only those assets' rows), the
    internal one with the book adjustments the run includes."""
    wanted = {
        "internal": (run.internal_dataset, assets),
        "external": (run.external_dataset, assets),
    }
    if run.prices_dataset is not None:
        wanted["prices"] = (run.prices_dataset, None)
    if connection.in_atomic_block:
        # Inside a transaction (a test, a preview) other connections would not see its data.
        loaded = {name: frames.load(*args) for name, args in wanted.items()}
    else:
        # Each side on its own connection: PostgreSQL renders both at once while Arrow parses.
        with ThreadPoolExecutor(max_workers=len(wanted)) as pool:
            futures = {
                name: pool.submit(_load_on_own_connection, *args) for name, args in wanted.items()
            }
            loaded = {name: future.result() for name, future in futures.items()}
    # The book a run reads is its dataset's records plus the adjustments it includes.
    loaded["internal"] = book.run_book(run, loaded["internal"], assets)
    return loaded


def _load_on_own_connection(dataset: Dataset, assets: list[str] | None):
    try:
        return frames.load(dataset, assets)
    finally:
        connections.close_all()  # this thread's connection, not the caller's
