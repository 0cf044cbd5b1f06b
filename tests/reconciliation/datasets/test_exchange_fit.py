"""An exchange's files load only into accounts of that exchange, or of a source for any exchange.

Checked in the service, so every door refuses alike (the upload page on its form, the API with
a 422, the command with exit 1), naming the accounts that fit; nothing is stored.
"""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError

from reconciliation.datasets import ingest
from reconciliation.models import Account, Dataset, Source
from tests.reconciliation.doors import api_as, post_file
from tests.reconciliation.format_samples import SAMPLES

pytestmark = pytest.mark.django_db

EXCHANGE_FORMATS = sorted(code for code, fmt in ingest.FORMATS.items() if fmt.exchange)


def account_at(code, *, kind="exchange", exchange="", account="main") -> Account:
    source, _ = Source.objects.get_or_create(
        code=code, defaults={"name": code, "kind": kind, "exchange": exchange}
    )
    return Account.objects.create(source=source, code=account)


@pytest.fixture
def accounts(db) -> dict[str, Account]:
    """One account at each exchange, a second Kraken one, an 'any exchange' custodian, a book."""
    found = {
        exchange: account_at(exchange, exchange=exchange)
        for exchange in ("kraken", "coinbase", "binance")
    }
    found["kraken-sub"] = account_at("kraken", exchange="kraken", account="sub")
    found["custodian"] = account_at("prime", kind="custodian")
    found["book"] = account_at("book", kind="internal")
    return found


def misfits(format_code: str) -> list[str]:
    exchange = ingest.FORMATS[format_code].exchange
    return [name for name in ("kraken", "coinbase", "binance", "book") if name != exchange]


def fitting(format_code: str, accounts) -> list[str]:
    exchange = ingest.FORMATS[format_code].exchange
    fit = [a for a in accounts.values() if a.source.exchange == exchange]
    return [str(a) for a in fit] + [str(accounts["custodian"])]


def assert_refusal_names_the_fitting_accounts(message: str, format_code: str, accounts):
    assert "load only into" in message
    for label in fitting(format_code, accounts):
        assert label in message
    assert str(accounts["book"]) not in message.partition("fit:")[2]


@pytest.mark.parametrize("format_code", EXCHANGE_FORMATS)
def test_the_service_refuses_another_exchanges_account(format_code, accounts):
    path = SAMPLES[format_code].path
    for name in misfits(format_code):
        account = accounts[name]
        with pytest.raises(ingest.DatasetRejected) as refused:
            ingest.import_file(
                source=account.source, account=account, format_code=format_code,
                data=path.read_bytes(), filename=path.name,
            )  # fmt: skip
        assert str(account) in refused.value.message
        assert_refusal_names_the_fitting_accounts(refused.value.message, format_code, accounts)
    assert Dataset.objects.count() == 0


@pytest.mark.parametrize("format_code", EXCHANGE_FORMATS)
def test_its_own_exchange_and_an_any_exchange_source_take_it(format_code, accounts):
    path = SAMPLES[format_code].path
    own = accounts[ingest.FORMATS[format_code].exchange]
    for account in (own, accounts["custodian"]):
        result = ingest.import_file(
            source=account.source, account=account, format_code=format_code,
            data=path.read_bytes(), filename=path.name,
        )  # fmt: skip
        assert result.created and result.dataset.account == account


def test_an_exchange_source_with_no_exchange_named_takes_any_exchanges_files(accounts):
    account = account_at("otc-desk", kind="exchange")
    path = SAMPLES["binance"].path
    result = ingest.import_file(
        source=account.source, account=account, format_code="binance",
        data=path.read_bytes(), filename=path.name,
    )  # fmt: skip
    assert result.created


def test_with_no_fitting_account_the_refusal_says_how_to_add_one(db):
    book = account_at("book", kind="internal")
    with pytest.raises(ingest.DatasetRejected) as refused:
        ingest.parse_file(
            source=book.source, account=book, format_code="coinbase",
            data=SAMPLES["coinbase"].path.read_bytes(), filename="coinbase.csv",
        )  # fmt: skip
    assert "No account fits yet" in refused.value.message
    assert "--exchange coinbase" in refused.value.message


@pytest.mark.parametrize("format_code", EXCHANGE_FORMATS)
def test_the_upload_page_shows_the_refusal_on_its_form(format_code, accounts, client_as):
    account = accounts["book" if format_code.startswith("kraken") else "kraken"]
    path = SAMPLES[format_code].path
    response = client_as("risk").post(
        "/datasets/upload/",
        {"source": account.source.code, "account": account.pk, "format": format_code,
         "file": SimpleUploadedFile(path.name, path.read_bytes())},
    )  # fmt: skip
    assert response.status_code == 422
    form = response.context["form"]
    assert_refusal_names_the_fitting_accounts(
        " ".join(form.errors["account"]), format_code, accounts
    )
    assert "token" not in response.context  # no preview, nothing to confirm
    assert Dataset.objects.count() == 0


@pytest.mark.parametrize("format_code", EXCHANGE_FORMATS)
def test_the_api_refuses_with_422(format_code, accounts, make_user):
    account = accounts["book" if format_code.startswith("kraken") else "kraken"]
    path = SAMPLES[format_code].path
    response = post_file(
        api_as(make_user("risk")),
        account.source,
        account,
        format_code,
        path.read_bytes(),
        path.name,
    )
    assert response.status_code == 422
    assert response.json()["code"] == "dataset_rejected"
    assert_refusal_names_the_fitting_accounts(response.json()["message"], format_code, accounts)
    assert Dataset.objects.count() == 0


@pytest.mark.parametrize("format_code", EXCHANGE_FORMATS)
def test_the_command_refuses_and_exits_1(format_code, accounts):
    account = accounts["book" if format_code.startswith("kraken") else "kraken"]
    with pytest.raises(CommandError) as refused:
        call_command(
            "import_dataset", str(SAMPLES[format_code].path), "--source", account.source.code,
            "--account", account.code, "--format", format_code, stderr=io.StringIO(),
        )  # fmt: skip
    assert refused.value.returncode == 1
    assert_refusal_names_the_fitting_accounts(str(refused.value), format_code, accounts)
    assert Dataset.objects.count() == 0


def test_the_target_is_checked_once_per_import(accounts, monkeypatch):
    calls = []
    check = ingest.check_target
    monkeypatch.setattr(ingest, "check_target", lambda *a, **k: calls.append(a) or check(*a, **k))
    account = accounts["kraken"]
    path = SAMPLES["kraken-ledgers"].path
    ingest.import_file(
        source=account.source, account=account, format_code="kraken-ledgers",
        data=path.read_bytes(), filename=path.name,
    )  # fmt: skip
    assert len(calls) == 1


def test_the_upload_form_says_what_each_account_takes(accounts, client_as):
    page = client_as("risk").get("/datasets/upload/").content.decode()
    kraken, custodian, book = accounts["kraken"], accounts["custodian"], accounts["book"]
    assert f'value="{kraken.pk}" data-takes="kraken" data-source="kraken"' in page
    assert f'value="{custodian.pk}" data-takes="*" data-source="prime"' in page
    assert f'value="{book.pk}" data-takes="" data-source="book"' in page
    assert 'value="binance" data-exchange="binance"' in page
    assert 'value="generic-trades" data-exchange=""' in page
