"""API tokens for tests: a real token (knox, hashed) for a user, through the audited service."""

import itertools

from accounts import api_tokens

_numbers = itertools.count(1)


def token_for(user) -> str:
    """A new working API token for `user`, for the `Authorization: Token <token>` header."""
    _token, secret = api_tokens.create_api_token(
        user, name=f"test token {next(_numbers)}", days=1, by=user
    )
    return secret


def token_client(user):
    """A DRF test client that sends `user`'s new API token with every request."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    return client
