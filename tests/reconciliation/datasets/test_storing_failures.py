"""A database error while a dataset is stored reaches no one as a traceback, and stores nothing.

The errors are real PostgreSQL errors: a record the loader writes twice (the row-once constraint
refuses it), and a table that refuses every insert (a trigger, as a full disk or a revoked
grant would). Each door answers in its own way: the page with a message, the API with JSON,
the command with a message and exit status 1.
"""

from __future__ import annotations

import dataclasses
import io

import pyarrow as pa
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from audit.models import AuditEvent
from reconciliation.datasets import ingest
from reconciliation.importers import chunks
from reconciliation.models import Account, Dataset, ImportJob, LedgerEntryRecord, Source
from tests.reconciliation.doors import api_as, confirm_upload, post_file
from tests.reconciliation.format_samples import SAMPLES

pytestmark = pytest.mark.django_db

COINBASE = SAMPLES["coinbase"].path
KRAKEN = SAMPLES["kraken-ledgers"].path


@pytest.fixture
def coinbase(db):
    source = Source.objects.create(
        code="coinbase", name="Coinbase", kind="exchange", exchange="coinbase"
    )
    return Account.objects.create(source=source, code="main")


def a_row_written_twice(monkeypatch):
    """The Coinbase parser, made to emit its first record twice (same row, same leg)."""
    fmt = ingest.FORMATS["coinbase"]

    def parse_twice(data, **options):
        parsed = fmt.parse(data, **options)
        table = pa.concat_tables([parsed.table, parsed.table.slice(0, 1)])
        return dataclasses.replace(parsed, table=table)

    monkeypatch.setitem(ingest.FORMATS, "coinbase", dataclasses.replace(fmt, parse=parse_twice))


def ledger_refusing_inserts(monkeypatch):
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE FUNCTION test_refuse_insert() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'
                  USING ERRCODE = 'disk_full'; END $$;
            CREATE TRIGGER test_refuse_insert BEFORE INSERT ON reconciliation_ledgerentryrecord
            FOR EACH ROW EXECUTE FUNCTION test_refuse_insert();
            """
        )


def large_file_refused_piece_by_piece(monkeypatch):
    """A large Kraken file (loaded in pieces) into a ledger table that refuses inserts."""
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 4096)
    ledger_refusing_inserts(monkeypatch)


# provocation -> (format, sample, the database's words the message carries, API status)
FAILURES = {
    "a record written twice": (
        a_row_written_twice, "coinbase", COINBASE, "ledger_row_leg_once", 422,
    ),
    "a table refusing inserts": (ledger_refusing_inserts, "coinbase", COINBASE, "No space", 503),
    "the same, piece by piece": (
        large_file_refused_piece_by_piece, "kraken-ledgers", KRAKEN, "No space", 503,
    ),
}  # fmt: skip


def nothing_was_stored():
    assert Dataset.objects.count() == 0
    assert LedgerEntryRecord.objects.count() == 0
    assert not AuditEvent.objects.filter(action="dataset.imported").exists()


def account_for(format_code, coinbase, kraken):
    return coinbase if format_code == "coinbase" else kraken


@pytest.mark.parametrize("failure", FAILURES)
def test_the_upload_page_says_nothing_was_loaded(failure, monkeypatch, client_as, coinbase, kraken):
    provoke, format_code, path, words, _ = FAILURES[failure]
    account = account_for(format_code, coinbase, kraken)
    client = client_as("risk")
    preview = client.post(
        "/datasets/upload/",
        {"source": account.source.code, "account": account.pk, "format": format_code,
         "file": SimpleUploadedFile(path.name, path.read_bytes())},
    )  # fmt: skip
    assert preview.status_code == 200
    provoke(monkeypatch)
    page = confirm_upload(client, preview.context["token"], follow=True)  # the worker's part too
    text = page.content.decode()
    assert page.status_code == 200
    assert "Nothing was loaded" in text and "could not store" in text and words in text
    assert "Traceback" not in text
    assert ImportJob.objects.get().status == "failed"
    nothing_was_stored()


@pytest.mark.parametrize("failure", FAILURES)
def test_the_api_answers_json_with_a_code(failure, monkeypatch, make_user, coinbase, kraken):
    provoke, format_code, path, words, status = FAILURES[failure]
    account = account_for(format_code, coinbase, kraken)
    provoke(monkeypatch)
    response = post_file(
        api_as(make_user("risk")),
        account.source,
        account,
        format_code,
        path.read_bytes(),
        path.name,
    )
    body = response.json()
    assert response.status_code == status
    assert body["code"] == "dataset_not_stored"
    assert "could not store" in body["message"] and words in body["message"]
    assert "Traceback" not in response.content.decode()
    nothing_was_stored()


@pytest.mark.parametrize("failure", FAILURES)
def test_the_command_prints_a_message_and_fails(failure, monkeypatch, coinbase, kraken):
    provoke, format_code, path, words, _ = FAILURES[failure]
    account = account_for(format_code, coinbase, kraken)
    provoke(monkeypatch)
    with pytest.raises(CommandError) as refused:  # manage.py prints it and exits 1
        call_command(
            "import_dataset", str(path), "--source", account.source.code,
            "--account", account.code, "--format", format_code, stderr=io.StringIO(),
        )  # fmt: skip
    assert "could not store" in str(refused.value) and words in str(refused.value)
    assert refused.value.returncode == 1
    nothing_was_stored()
