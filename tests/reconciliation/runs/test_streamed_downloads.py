"""Downloads stream (no whole file in memory, nothing for a request timeout to wait on)."""

import io
import json

import pytest

from reconciliation import export
from reconciliation.datasets import ingest

pytestmark = pytest.mark.django_db


def body(response) -> str:
    assert response.status_code == 200 and response.streaming
    return b"".join(response.streaming_content).decode()


@pytest.mark.parametrize("rows", [1, 5001])  # one piece, more than one
def test_a_dataset_downloads_as_the_export_writes_it(client_as, book, rows):
    text = "account,asset,quantity,as_of\n" + "".join(
        f"main,A{i},{i}.5,2026-01-01T00:00:00Z\n" for i in range(rows)
    )
    data = text.encode()
    dataset = ingest.import_file(
        source=book.source, account=book, format_code="generic-balances", data=data
    ).dataset
    client = client_as("finance")
    for file_format, write in (("csv", export.write_csv), ("json", export.write_json)):
        expected = io.StringIO()
        write(dataset, expected)
        streamed = body(client.get(f"/datasets/{dataset.pk}/download.{file_format}"))
        assert streamed == expected.getvalue()
    assert len(json.loads(body(client.get(f"/datasets/{dataset.pk}/download.json")))) == rows


def test_the_break_export_streams_with_its_row_count(client_as):
    response = client_as("finance").get("/breaks/export.csv")
    assert response["X-Row-Count"] == "0"
    assert body(response).startswith("break_id,type,")
