"""Posting a file to the upload API as a client would."""

from django.core.files.uploadedfile import SimpleUploadedFile

from tests.reconciliation.ingest_samples import BALANCES


def post(client, text=BALANCES, **headers):
    return client.post(
        "/api/datasets/",
        {"source": "book", "account": "main", "format": "generic-balances",
         "file": SimpleUploadedFile("book.csv", text.encode())},
        format="multipart", **headers,
    )  # fmt: skip
