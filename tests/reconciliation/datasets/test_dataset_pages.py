"""Upload with preview and confirmation, dataset pages, asset codes, credentials."""

import pytest
from cryptography.fernet import Fernet
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import AuditEvent
from reconciliation.datasets import credentials
from reconciliation.models import AssetAlias, Dataset, ExchangeCredential, ImportJob
from tests.reconciliation.conftest import EXCHANGE
from tests.reconciliation.doors import confirm_upload
from tests.reconciliation.ingest_samples import BALANCES

pytestmark = pytest.mark.django_db


def post_file(client, book, text=BALANCES, name="book.csv"):
    return client.post(
        "/datasets/upload/",
        {
            "source": "book",
            "account": book.pk,
            "format": "generic-balances",
            "file": SimpleUploadedFile(name, text.encode()),
        },
    )


def test_upload_previews_then_loads_only_on_confirmation(client_as, book):
    client = client_as("risk")
    preview = post_file(client, book)
    page = preview.content.decode()
    assert preview.status_code == 200
    assert "2 rows for" in page and "12345678901234567890.123456789012345678" in page
    assert Dataset.objects.count() == 0
    token = preview.context["token"]
    confirmed = confirm_upload(client, token, follow=True)
    dataset, job = Dataset.objects.get(), ImportJob.objects.get()
    assert confirmed.request["PATH_INFO"] == f"/datasets/imports/{job.pk}/"
    page = confirmed.content.decode()
    assert f"Loaded dataset {dataset.pk}: 2 rows." in page
    assert f'href="/datasets/{dataset.pk}/"' in page
    assert job.status == "succeeded" and job.dataset == dataset and job.created is True


def test_upload_with_errors_lists_them_and_offers_no_confirmation(client_as, book):
    response = post_file(client_as("admin"), book, "account,asset,quantity,as_of\nmain,BTC,1;5,x\n")
    page = response.content.decode()
    assert response.status_code == 422
    assert "Nothing was loaded" in page and "1;5" in page and "quantity" in page
    assert 'name="token"' not in page
    assert Dataset.objects.count() == 0


def test_a_forged_or_foreign_token_loads_nothing(client_as, book):
    preview = post_file(client_as("risk"), book)
    other = client_as("risk")
    response = other.post("/datasets/upload/confirm/", {"token": preview.context["token"]})
    assert response.status_code == 302
    assert other.post("/datasets/upload/confirm/", {"token": "forged"}).status_code == 302
    assert Dataset.objects.count() == 0


def test_finance_may_not_upload(client_as, book):
    assert client_as("finance").get("/datasets/upload/").status_code == 403
    assert post_file(client_as("finance"), book).status_code == 403


def test_dataset_pages_and_downloads(client_as, book):
    client = client_as("risk")
    confirm_upload(client, post_file(client, book).context["token"])
    dataset = Dataset.objects.get()
    finance = client_as("finance")
    assert f'href="/datasets/{dataset.pk}/"' in finance.get("/datasets/").content.decode()
    assert "0.000000000000000001" in finance.get(f"/datasets/{dataset.pk}/").content.decode()
    csv_response = finance.get(f"/datasets/{dataset.pk}/download.csv")
    assert csv_response["Content-Type"].startswith("text/csv")
    assert b"12345678901234567890.123456789012345678" in b"".join(csv_response.streaming_content)
    assert finance.get("/datasets/424242/").status_code == 404


def test_admin_edits_asset_codes_in_the_browser(client_as):
    client = client_as("admin")
    response = client.post(
        "/datasets/aliases/", {"exchange": "kraken", "code": "xtz2", "asset": "xtz"}
    )
    assert response.status_code == 302
    alias = AssetAlias.objects.get(code="XTZ2")
    assert alias.asset == "XTZ"
    duplicate = client.post(
        "/datasets/aliases/", {"exchange": "kraken", "code": "XTZ2", "asset": "Q"}
    )
    assert "already" in duplicate.content.decode()
    bad = client.post(
        "/datasets/aliases/", {"exchange": "kraken", "code": "bad code!", "asset": "X"}
    )
    assert bad.status_code == 200 and not AssetAlias.objects.filter(asset="X").exists()
    client.post(f"/datasets/aliases/{alias.pk}/delete/")
    assert not AssetAlias.objects.filter(code="XTZ2").exists()
    actions = list(
        AuditEvent.objects.filter(object_type="asset_alias").values_list("action", flat=True)
    )
    assert sorted(actions) == ["asset_alias.deleted", "asset_alias.saved"]


def test_risk_may_not_edit_asset_codes(client_as):
    assert client_as("risk").get("/datasets/aliases/").status_code == 403


def test_a_changed_alias_applies_to_later_imports(client_as, kraken):
    from reconciliation.datasets import ingest

    AssetAlias.objects.filter(exchange="kraken", code="XXBT").update(asset="XBTC")
    assert ingest.asset_aliases("kraken")["XXBT"] == "XBTC"


def test_credentials_are_encrypted_at_rest_and_never_shown(client_as, kraken, settings, make_user):
    settings.CREDENTIALS_ENCRYPTION_KEY = Fernet.generate_key().decode()
    admin = make_user("admin")
    credentials.store(kraken, api_key="KEY-123", secret="c2VjcmV0LXNlY3JldA==", by=admin)
    stored = ExchangeCredential.objects.get()
    assert "KEY-123" not in stored.api_key_encrypted
    assert credentials.for_account(kraken).api_key == "KEY-123"
    assert "KEY-123" not in repr(credentials.for_account(kraken))
    client = client_as("admin")
    page = client.get(f"/admin/reconciliation/exchangecredential/{stored.pk}/change/")
    assert page.status_code == 200
    assert b"KEY-123" not in page.content and b"c2VjcmV0" not in page.content
    event = AuditEvent.objects.get(action="credentials.stored")
    assert "KEY-123" not in str(event.after)


def test_environment_credentials_come_first(kraken, monkeypatch):
    monkeypatch.setenv("EXCHANGE_KRAKEN_MAIN_API_KEY", "env-key")
    monkeypatch.setenv("EXCHANGE_KRAKEN_MAIN_API_SECRET", "env-secret")
    assert credentials.for_account(kraken).secret == "env-secret"


def test_missing_credentials_say_what_to_set(kraken):
    with pytest.raises(credentials.CredentialsMissing, match="EXCHANGE_KRAKEN_MAIN_API_KEY"):
        credentials.for_account(kraken)


def test_the_preview_shows_numbers_as_they_are_stored(client_as, kraken):
    path = EXCHANGE / "kraken_ledgers.csv"
    assert ",8.69554130," in path.read_text()  # as Kraken writes it: the first row's amount
    preview = client_as("risk").post(
        "/datasets/upload/",
        {"source": "kraken", "account": kraken.pk, "format": "kraken-ledgers",
         "file": SimpleUploadedFile(path.name, path.read_bytes())},
    )  # fmt: skip
    first = preview.context["head"][0]
    assert first["amount"] == "8.6955413" and first["account"] == "main"
    assert "8.69554130" not in preview.content.decode()


def test_loading_a_confirmed_preview_again_says_it_was_loaded_with_a_link(client_as, book):
    client = client_as("risk")
    token = post_file(client, book).context["token"]
    confirm_upload(client, token)
    dataset, job = Dataset.objects.get(), ImportJob.objects.get()
    again = confirm_upload(client, token, follow=True)  # Back, Load: the same import's page
    page = again.content.decode()
    assert again.request["PATH_INFO"] == f"/datasets/imports/{job.pk}/"
    assert f"Loaded dataset {dataset.pk}" in page and "expired" not in page
    assert f'href="/datasets/{dataset.pk}/"' in page
    assert Dataset.objects.count() == ImportJob.objects.count() == 1


def test_a_confirmed_preview_is_still_not_anyone_elses(client_as, book):
    client = client_as("risk")
    token = post_file(client, book).context["token"]
    confirm_upload(client, token)
    other = client_as("risk").post("/datasets/upload/confirm/", {"token": token}, follow=True)
    assert "expired or is not yours" in other.content.decode()
