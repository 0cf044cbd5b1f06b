"""An API client that sends a token."""

from rest_framework.test import APIClient


def api_with(secret: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return api
