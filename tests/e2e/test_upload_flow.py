import pytest

from reconciliation.models import Dataset
from tests.e2e.test_sign_in_flow import sign_in
from tests.reconciliation.ingest_samples import BALANCES

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def book_account(db):
    from reconciliation.datasets.services import ensure_account

    return ensure_account(source_code="book", account_code="main", kind="internal", by=None)[0]


def test_risk_uploads_a_book_file_previews_it_and_confirms(
    page, live_server, make_user, book_account, tmp_path, screenshot, worker_queue
):
    make_user("risk", username="rita")
    good = tmp_path / "book.csv"
    good.write_text(BALANCES)
    sign_in(page, live_server, "rita")
    page.click("header nav >> text=Upload")
    page.select_option("#id_source", "book")
    page.select_option("#id_account", label="book/main")
    page.select_option("#id_format", "generic-balances")
    page.set_input_files("#id_file", str(good))
    page.click("text=Check the file")
    page.wait_for_selector("text=Preview: book.csv")
    assert "12345678901234567890.123456789012345678" in page.content()
    assert Dataset.objects.count() == 0
    screenshot("upload-preview")
    page.click("text=Load these 2 rows")
    page.wait_for_selector("h1:has-text('Import')")  # a worker loads it; the page follows
    page.wait_for_selector("text=Loaded dataset", timeout=60_000)  # without a reload
    assert Dataset.objects.count() == 1
    screenshot("import-done")
    page.click("text=See dataset")
    page.wait_for_selector("h1:has-text('Dataset')")
    screenshot("dataset-loaded")


def test_a_bad_file_shows_its_errors_and_loads_nothing(
    page, live_server, make_user, book_account, tmp_path, screenshot
):
    make_user("risk", username="rita")
    bad = tmp_path / "bad.csv"
    bad.write_text("account,asset,quantity,as_of\nmain,BTC,1.000,5,2026-01-01\nmain,ETH,x,nope\n")
    sign_in(page, live_server, "rita")
    page.goto(f"{live_server.url}/datasets/upload/")
    page.select_option("#id_source", "book")
    page.select_option("#id_account", label="book/main")
    page.select_option("#id_format", "generic-balances")
    page.set_input_files("#id_file", str(bad))
    page.click("text=Check the file")
    page.wait_for_selector("text=Nothing was loaded")
    screenshot("upload-errors")
    assert page.locator("input[name=token]").count() == 0  # no confirmation offered
    assert Dataset.objects.count() == 0


def test_the_form_offers_only_the_formats_the_chosen_account_takes(
    page, live_server, make_user, book_account
):
    from reconciliation.datasets.services import ensure_account

    ensure_account(source_code="kraken", account_code="main", kind="exchange", exchange="kraken",
                   by=None)  # fmt: skip
    ensure_account(source_code="prime", account_code="main", kind="custodian", by=None)
    make_user("risk", username="rita")
    sign_in(page, live_server, "rita")
    page.goto(f"{live_server.url}/datasets/upload/")

    def offered() -> set[str]:
        return set(page.eval_on_selector_all(
            "#id_format option:not([disabled])", "options => options.map(o => o.value)"
        ))  # fmt: skip

    page.select_option("#id_account", label="kraken/main")
    assert page.input_value("#id_source") == "kraken"
    assert {"kraken-ledgers", "kraken-trades", "generic-balances"} <= offered()
    assert not {"coinbase", "binance"} & offered()
    page.select_option("#id_account", label="book/main")
    assert page.input_value("#id_source") == "book"
    assert not {"kraken-ledgers", "coinbase", "binance"} & offered()
    page.select_option("#id_account", label="prime/main")
    assert {"kraken-ledgers", "coinbase", "binance", "prices"} <= offered()
