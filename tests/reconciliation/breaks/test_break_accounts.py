"""A break names both sides' accounts by source, and shows a valuation's value as money."""

import csv
import io
import re
from decimal import Decimal

import pytest

from reconciliation.demo import data as demo_data
from reconciliation.export import plain
from reconciliation.models import Account, Break, Dataset, Source
from reconciliation.runs import execution as run_execution
from reconciliation.runs import services as runs

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_runs(make_user):
    ids = demo_data.load()
    dataset = Dataset.objects.get
    for type_ in ("position", "valuation"):
        run = runs.start_run(
            type=type_, internal=dataset(pk=ids["book balances"]),
            external=dataset(pk=ids["kraken ledgers"]), prices=dataset(pk=ids["prices"]),
            rule_set_version=None, by=make_user("risk"),
        )  # fmt: skip
        run_execution.execute_run(run.pk)


@pytest.fixture
def twin(demo_runs):
    """The same break seen against a second exchange whose account has the same code."""
    other = Source.objects.create(code="coinbase", name="Coinbase", kind="exchange",
                                  exchange="coinbase")  # fmt: skip
    account = Account.objects.create(source=other, code="main")
    first = Break.objects.filter(type="position", asset="ETH").get()
    copy = Break.objects.get(pk=first.pk)
    copy.pk, copy.identity, copy.external_account = None, "c" * 64, account
    copy.save()
    return first, copy


def _rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_both_exchanges_are_named_in_the_list_the_api_and_the_export(client_as, twin):
    first, copy = twin
    client = client_as("risk")
    page = client.get("/breaks/", {"asset": "ETH", "type": "position"}).content.decode()
    assert "kraken/main" in page and "coinbase/main" in page
    api = {row["id"]: row for row in client.get("/api/breaks/?asset=ETH").json()["results"]}
    assert api[first.pk]["exchange_account"] == "kraken/main"
    assert api[copy.pk]["exchange_account"] == "coinbase/main"
    assert api[copy.pk]["book_account"] == str(first.internal_account)
    response = client.get("/breaks/export.csv?asset=ETH")
    exported = b"".join(response.streaming_content) if response.streaming else response.content
    by_id = {row["break_id"]: row for row in _rows(exported.decode())}
    assert by_id[str(copy.pk)]["exchange_account"] == "coinbase/main"
    assert by_id[str(first.pk)]["exchange_account"] == "kraken/main"


def test_the_list_shows_a_valuations_value_to_cents(client_as, demo_runs):
    values = Break.objects.filter(type="valuation", field="value").exclude(difference=None)
    item = next(b for b in values if b.difference != b.difference.quantize(Decimal("0.01")))
    page = client_as("risk").get("/breaks/", {"type": "valuation"}).content.decode()
    row = page[page.index(f">{item.pk}</a>") :]
    cell = re.search(r'data-label="Difference" class="num">(.*?)</td>', row).group(1)
    shown = re.sub(r"<[^>]+>", "", cell)
    assert shown == f"≈{item.difference.quantize(Decimal('0.01'))}"  # cents, not 8 places
    assert f'title="{plain(item.difference)}"' in cell  # the exact value a hover away
