"""A retried upload is the same request to the idempotency check, whatever its boundary."""

import pytest
from django.test import RequestFactory
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request

from config.idempotency import request_fingerprint

pytestmark = pytest.mark.django_db


def _multipart(boundary: str) -> Request:
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="source"\r\n\r\nbook\r\n'
        f"--{boundary}--\r\n"
    ).encode()
    django_request = RequestFactory().generic(
        "POST", "/api/datasets/", body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    return Request(django_request, parsers=[MultiPartParser()])


def test_a_retried_upload_has_the_same_fingerprint_whatever_its_boundary():
    assert request_fingerprint(_multipart("AAAA1111")) == request_fingerprint(
        _multipart("BBBB2222")
    )
