"""Posting a file through the REST API's data-in door, as the tests of every format do."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from reconciliation.models import Account, Source


def api_as(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def post_file(api: APIClient, source: Source, account: Account | None, format_code: str,
              data: bytes, name: str):  # fmt: skip
    """POST /api/datasets/ (multipart) with the file, for the account (or the source alone)."""
    fields = {"source": source.code, "format": format_code}
    if account is not None:
        fields["account"] = account.code
    return api.post(
        "/api/datasets/", {**fields, "file": SimpleUploadedFile(name, data)}, format="multipart"
    )
