"""Every import format is stored through every door and read back exactly.

Each format's sample (format_samples.py) goes in through the upload page (preview, then
confirm), the REST API and `import_dataset`, and comes out through `export_dataset`; the stored
records must add up, per asset and to the last digit, to figures stated independently of the
loader. A format without a sample fails here.
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from reconciliation.datasets import ingest
from reconciliation.models import Account, Dataset, Source
from tests.reconciliation.doors import api_as, confirm_upload, post_file
from tests.reconciliation.format_samples import SAMPLES, Sample

pytestmark = pytest.mark.django_db


def sample_of(format_code: str) -> Sample:
    sample = SAMPLES.get(format_code)
    assert sample is not None, (
        f"format {format_code!r} has no sample: add a real-layout file and its figures to "
        "tests/reconciliation/format_samples.py"
    )
    return sample


def target(format_code: str, sample: Sample) -> tuple[Source, Account | None]:
    """A source that fits the format (of its exchange, if it has one), and an account there."""
    exchange = ingest.FORMATS[format_code].exchange
    source = Source.objects.create(
        code=exchange or sample.source_kind.replace("_", "-"),
        name=f"{exchange or sample.source_kind} for {format_code}",
        kind=sample.source_kind,
        exchange=exchange,
    )
    if sample.account is None:
        return source, None
    return source, Account.objects.create(source=source, code=sample.account)


def through_the_upload_page(client_as, source, account, format_code, sample) -> int:
    client = client_as("risk")
    preview = client.post(
        "/datasets/upload/",
        {
            "source": source.code,
            "account": account.pk if account else "",
            "format": format_code,
            "file": SimpleUploadedFile(sample.path.name, sample.path.read_bytes()),
        },
    )
    assert preview.status_code == 200, preview.content.decode()[:2000]
    assert Dataset.objects.count() == 0  # nothing before the confirmation
    confirmed = confirm_upload(client, preview.context["token"])
    assert confirmed.status_code == 302
    return Dataset.objects.get().pk


def through_the_api(make_user, source, account, format_code, sample) -> int:
    response = post_file(
        api_as(make_user("risk")),
        source,
        account,
        format_code,
        sample.path.read_bytes(),
        sample.path.name,
    )
    assert response.status_code == 201, response.json()
    return response.json()["dataset"]["id"]


def through_the_command(source, account, format_code, sample) -> int:
    out = io.StringIO()
    where = ["--account", account.code] if account else []
    call_command(
        "import_dataset", str(sample.path), "--source", source.code, *where,
        "--format", format_code, "--json", stdout=out,
    )  # fmt: skip
    line = json.loads(out.getvalue().strip().splitlines()[-1])
    assert line["created"] is True
    return line["dataset_id"]


def exported(dataset_id: int, tmp_path) -> list[dict[str, str]]:
    path = tmp_path / f"dataset-{dataset_id}.csv"
    call_command("export_dataset", str(dataset_id), "--format", "csv", "--output", str(path),
                 stderr=io.StringIO())  # fmt: skip
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_every_format_has_a_sample_and_every_sample_a_format():
    assert sorted(set(ingest.FORMATS) - set(SAMPLES)) == [], "formats without a sample"
    assert sorted(set(SAMPLES) - set(ingest.FORMATS)) == [], "samples of no format"


DOORS = ("upload page", "api", "command")


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("format_code", sorted(ingest.FORMATS))
def test_every_format_stores_exactly_through_every_door(
    format_code, door, client_as, make_user, tmp_path
):
    sample = sample_of(format_code)
    source, account = target(format_code, sample)
    if door == "upload page":
        dataset_id = through_the_upload_page(client_as, source, account, format_code, sample)
    elif door == "api":
        dataset_id = through_the_api(make_user, source, account, format_code, sample)
    else:
        dataset_id = through_the_command(source, account, format_code, sample)
    dataset = Dataset.objects.get(pk=dataset_id)
    assert (dataset.format, dataset.kind) == (format_code, ingest.FORMATS[format_code].kind)
    assert (dataset.source, dataset.account) == (source, account)
    assert dataset.row_count == sample.records
    records = exported(dataset_id, tmp_path)
    assert len(records) == sample.records
    assert sample.figures(records) == {key: Decimal(v) for key, v in sample.expected.items()}


@pytest.mark.parametrize("format_code", sorted(ingest.FORMATS))
def test_the_preview_shows_the_records_exactly_as_stored(format_code, client_as, tmp_path):
    """What the preview calls 'as they will be stored' is what export_dataset reads back."""
    sample = sample_of(format_code)
    source, account = target(format_code, sample)
    client = client_as("risk")
    preview = client.post(
        "/datasets/upload/",
        {"source": source.code, "account": account.pk if account else "", "format": format_code,
         "file": SimpleUploadedFile(sample.path.name, sample.path.read_bytes())},
    )  # fmt: skip
    shown = preview.context["head"]
    assert shown and preview.context["columns"] == list(shown[0])
    confirm_upload(client, preview.context["token"])
    stored = exported(Dataset.objects.get().pk, tmp_path)
    assert list(stored[0]) == preview.context["columns"]
    assert shown == stored[: len(shown)]
