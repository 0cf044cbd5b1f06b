"""A book and an exchange that differ in every one of many assets, with prices: a run with that
many breaks whose corrections span the policy levels (tests of corrections at scale)."""

from __future__ import annotations

from decimal import Decimal

from reconciliation.datasets import ingest, services
from reconciliation.models import Dataset, Run, Source
from reconciliation.runs import execution as run_execution
from reconciliation.runs import services as runs

AS_OF = "2026-02-27T10:16:05Z"


def files(assets: int) -> tuple[bytes, bytes, bytes]:
    """(book balances, exchange balances, prices): a quarter of the differences are small."""
    names = [f"A{n:06d}" for n in range(assets)]
    book = [Decimal(100 + n % 900) for n in range(assets)]
    # Every fourth differs by 3 (0.3 % to 3 %, beyond the 0.1 % tolerance, within the 5 % limit).
    exchange = [q + (Decimal(3) if n % 4 == 0 else q) for n, q in enumerate(book)]
    prices = [Decimal(1 + n % 7) for n in range(assets)]

    def balances(quantities) -> bytes:
        rows = "".join(f"main,{a},{q},{AS_OF}\n" for a, q in zip(names, quantities, strict=True))
        return ("account,asset,quantity,as_of\n" + rows).encode()

    price_rows = "".join(f"{a},USD,{p},{AS_OF},test\n" for a, p in zip(names, prices, strict=True))
    return (
        balances(book),
        balances(exchange),
        ("asset,quote,price,as_of,source\n" + price_rows).encode(),
    )


def load(assets: int) -> tuple[Dataset, Dataset, Dataset]:
    """The three datasets, imported as any upload is (internal, external, prices)."""
    book_file, exchange_file, price_file = files(assets)
    loaded = []
    sides = (("book", "internal", book_file), ("venue", "exchange", exchange_file))
    for code, kind, data in sides:
        account, _ = services.ensure_account(
            source_code=code, account_code="main", kind=kind, by=None
        )
        loaded.append(ingest.import_file(
            source=account.source, account=account, format_code="generic-balances", data=data,
            filename=f"{code}.csv",
        ).dataset)  # fmt: skip
    feed, _ = Source.objects.get_or_create(
        code="feed", defaults={"name": "feed", "kind": "price_feed"}
    )
    loaded.append(ingest.import_file(source=feed, account=None, format_code="prices",
                                     data=price_file, filename="prices.csv").dataset)  # fmt: skip
    return tuple(loaded)


def finished_run(assets: int) -> Run:
    """A position run of the three datasets, executed: `assets` breaks."""
    internal, external, prices = load(assets)
    started = runs.start_run(type="position", internal=internal, external=external, prices=prices)
    run_execution.execute_run(started.pk)
    return Run.objects.get(pk=started.pk)
