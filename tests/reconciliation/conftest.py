"""Fixtures for data-in tests: a book account, a Kraken account, a price feed, the demo."""

from pathlib import Path

import pytest

from reconciliation.demo import data as demo_data
from reconciliation.models import Account, Dataset, Source

DATA = Path(__file__).resolve().parents[1] / "data"
EXCHANGE = DATA / "exchange"


@pytest.fixture
def book(db):
    source = Source.objects.create(code="book", name="Internal book", kind="internal")
    return Account.objects.create(source=source, code="main")


@pytest.fixture
def kraken(db):
    source = Source.objects.create(code="kraken", name="Kraken", kind="exchange", exchange="kraken")
    return Account.objects.create(source=source, code="main")


@pytest.fixture
def price_feed(db):
    return Source.objects.create(code="prices", name="Price feed", kind="price_feed")


@pytest.fixture
def demo(db):
    """The demo's datasets by name (demo_data.load)."""
    return {name: Dataset.objects.get(pk=pk) for name, pk in demo_data.load().items()}
