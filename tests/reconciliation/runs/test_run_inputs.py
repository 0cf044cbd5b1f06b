"""What fits each side of a run: the book inside, an exchange outside, through every door."""

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from reconciliation.demo import data as demo_data
from reconciliation.models import Break, Dataset, Run
from reconciliation.runs import inputs as run_inputs
from reconciliation.runs import services as runs

pytestmark = pytest.mark.django_db

# (type, the book's dataset, the exchange's dataset) for every type the demo has data for.
PAIRS = [
    ("position", "book balances", "kraken ledgers"),
    ("cash", "book balances", "kraken ledgers"),
    ("valuation", "book balances", "kraken ledgers"),
    ("trades", "book trades", "kraken trades"),
    ("fees", "book trades", "kraken trades"),
    ("margin", "book margin", "kraken margin"),
]


@pytest.fixture
def demo():
    return {name: Dataset.objects.get(pk=pk) for name, pk in demo_data.load().items()}


def _api(make_user):
    client = APIClient()
    client.force_authenticate(make_user("risk"))
    return client


@pytest.mark.parametrize(("type_", "book", "exchange"), PAIRS)
def test_swapped_sides_are_refused_by_the_service(demo, type_, book, exchange):
    with pytest.raises(runs.RunRefused) as caught:
        runs.start_run(type=type_, internal=demo[exchange], external=demo[book],
                       prices=demo["prices"])  # fmt: skip
    assert set(caught.value.fields) == {"internal", "external"}
    assert "internal source" in caught.value.fields["internal"][0]
    assert "swapped" in caught.value.fields["internal"][0]
    assert not Run.objects.exists() and not Break.objects.exists()


@pytest.mark.parametrize(("type_", "book", "exchange"), PAIRS)
def test_swapped_sides_are_refused_by_the_api(demo, make_user, type_, book, exchange):
    body = {"type": type_, "internal": demo[exchange].pk, "external": demo[book].pk,
            "prices": demo["prices"].pk}  # fmt: skip
    response = _api(make_user).post("/api/runs/", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "run_refused"
    assert set(response.json()["fields"]) == {"internal", "external"}
    assert not Run.objects.exists()


@pytest.mark.parametrize(("type_", "book", "exchange"), PAIRS)
def test_swapped_sides_are_refused_on_the_run_form(demo, client_as, type_, book, exchange):
    response = client_as("risk").post("/runs/", {
        "type": type_, "internal": demo[exchange].pk, "external": demo[book].pk,
        "prices": demo["prices"].pk,
    })  # fmt: skip
    page = response.content.decode()
    assert response.status_code == 200
    assert "the internal side must be the book (an internal source)" in page
    assert "the external side must be an exchange or custodian" in page
    assert not Run.objects.exists()


def test_swapped_sides_are_refused_by_the_command(demo):
    with pytest.raises(CommandError, match=r"internal: dataset .* internal source"):
        call_command(
            "run_reconciliation", "--type", "position", "--internal", demo["kraken ledgers"].pk,
            "--external", demo["book balances"].pk, "--timeout", "1",
        )  # fmt: skip
    assert not Run.objects.exists()


def test_a_price_feed_stands_on_neither_side(demo):
    assert run_inputs.source_problem("internal", demo["prices"].source)
    assert run_inputs.source_problem("external", demo["prices"].source)


def _options(page: str, name: str) -> set[int]:
    """The dataset ids offered by the select `name` of the run form."""
    import re

    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', page, re.S).group(1)
    return {int(v) for v in re.findall(r'<option value="(\d+)"', select)}


def test_the_form_lists_only_datasets_that_fit_each_side(demo, client_as):
    page = client_as("risk").get("/runs/").content.decode()
    book = {d.pk for name, d in demo.items() if name.startswith("book")}
    exchange = {d.pk for name, d in demo.items() if name.startswith("kraken")}
    assert _options(page, "internal") == book
    assert _options(page, "external") == exchange
    assert _options(page, "prices") == {demo["prices"].pk}


@pytest.mark.parametrize("type_", run_inputs.TYPES)
def test_each_offered_dataset_says_which_types_it_fits(demo, client_as, type_):
    """The page marks each option with the types it fits (the script hides the others)."""
    import re

    page = client_as("risk").get("/runs/").content.decode()
    for side in run_inputs.SIDES:
        fitting = set(run_inputs.fitting_datasets(type_, side).values_list("pk", flat=True))
        select = re.search(rf'<select name="{side}"[^>]*>(.*?)</select>', page, re.S).group(1)
        marked = {
            int(pk)
            for pk, types in re.findall(r'value="(\d+)" data-types="([^"]*)"', select)
            if type_ in types.split()
        }
        assert marked == fitting


def test_with_a_type_in_the_address_the_form_lists_only_what_fits_it(demo, client_as):
    page = client_as("risk").get("/runs/", {"type": "trades"}).content.decode()
    assert _options(page, "internal") == {demo["book trades"].pk}
    assert _options(page, "external") == {demo["kraken trades"].pk}


def test_the_run_page_asks_the_same_number_of_queries_however_many_datasets(
    demo, client_as, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from reconciliation.datasets import ingest

    client = client_as("risk")
    with CaptureQueriesContext(connection) as few:
        client.get("/runs/")
    book = demo["book balances"]
    later = book.as_of.isoformat().replace("+00:00", "Z")
    for n in range(1, 4):
        data = f"account,asset,quantity,as_of\nmain,BTC,{n},{later}\n".encode()
        ingest.import_file(source=book.source, account=book.account, data=data,
                           format_code="generic-balances", filename=f"{n}.csv")  # fmt: skip
    ingest.import_file(
        source=demo["prices"].source,
        account=None,
        format_code="prices",
        filename="p.csv",
        data=demo_data.prices(demo_data._trade_rows(), later),
    )
    with django_assert_num_queries(len(few.captured_queries)):
        client.get("/runs/")
