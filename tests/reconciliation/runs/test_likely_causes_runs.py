"""Likely causes through a whole run: the book's balances against the exchange's ledger."""

import pytest

from reconciliation.demo import data as demo_data
from reconciliation.engine import causes
from reconciliation.models import Break, Dataset
from reconciliation.runs import execution as run_execution
from reconciliation.runs import services as runs

pytestmark = pytest.mark.django_db


def test_a_withdrawal_missing_from_the_book_is_named_when_only_the_exchange_has_a_ledger(
    make_user, client_as
):
    ids = demo_data.load()
    book, kraken = (Dataset.objects.get(pk=ids[n]) for n in ("book balances", "kraken ledgers"))
    assert (book.kind, kraken.kind) == ("balances", "ledger")
    run = runs.start_run(type="cash", internal=book, external=kraken, by=make_user("risk"))
    run_execution.execute_run(run.pk)
    usd = Break.objects.get(type="cash", asset="USD", last_seen_run=run)
    assert usd.causes == [causes.MISSING_DEPOSIT_WITHDRAWAL]
    found = usd.details["causes"][causes.MISSING_DEPOSIT_WITHDRAWAL]
    # The withdrawal on Kraken's ledger whose amount less its fee is exactly the difference.
    assert found["entry_ids"] == ["LTCEI1-P2EI8-1OYH8H"]
    assert found["side"] == "external" and found["missing_in"] == "internal"
    assert found["amount"] == str(-usd.difference)
    page = client_as("finance").get(f"/breaks/{usd.pk}/").content.decode()
    assert "missing deposit/withdrawal in the book" in page
