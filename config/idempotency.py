"""Idempotency-Key for API POSTs (scoped to user, route and key; kept at least 24 h).

Same key and body: the stored response is replayed. Same key, other body: 422. The first
request still running: 409. A request refused by validation stores nothing, so it can be retried
with the same key once corrected.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from functools import wraps

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.response import Response

from config.errors import DomainError
from config.models import IdempotentRequest

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200
KEEP_FOR = timedelta(hours=24)
ABANDONED_AFTER = timedelta(minutes=15)


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"


class IdempotentRequestInFlight(DomainError):
    code = "idempotent_request_in_flight"


def request_fingerprint(request) -> str:
    """A hash of what the request asks for: media type, form fields, files, or the raw body."""
    digest = hashlib.sha256()
    # The media type only: a multipart boundary changes on every retry of the same upload.
    media_type = request.content_type.split(";")[0].strip().lower()
    digest.update(media_type.encode() + b"\0")
    if media_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        for name in sorted(request.FILES):
            for upload in request.FILES.getlist(name):
                digest.update(name.encode() + b"\0" + (upload.name or "").encode() + b"\0")
                for chunk in upload.chunks():
                    digest.update(chunk)
                upload.seek(0)
        for name in sorted(request.POST):
            digest.update(f"{name}={request.POST.getlist(name)}".encode())
    else:
        digest.update(request.body)
    return digest.hexdigest()


def _claim(user, route: str, key: str, fingerprint: str) -> IdempotentRequest | None:
    """Claim the key (None: it is ours to run) or return the earlier request's record."""
    now = timezone.now()
    IdempotentRequest.objects.filter(created_at__lt=now - KEEP_FOR).delete()
    # A request whose process died leaves its key in flight: after a while it is abandoned.
    IdempotentRequest.objects.filter(
        user=user, route=route, key=key, state=IdempotentRequest.State.IN_FLIGHT,
        created_at__lt=now - ABANDONED_AFTER,
    ).delete()  # fmt: skip
    for _attempt in range(3):
        try:
            with transaction.atomic():
                IdempotentRequest.objects.create(
                    user=user, route=route, key=key, request_hash=fingerprint
                )
            return None
        except IntegrityError:
            earlier = IdempotentRequest.objects.filter(user=user, route=route, key=key).first()
            if earlier is not None:
                return earlier
            # The earlier request failed and let its key go meanwhile: claim it again.
    raise IdempotentRequestInFlight("The Idempotency-Key is busy; retry in a moment.")


def _route(request) -> str:
    """The route a key is scoped to: the view and its arguments (the same key and body sent to
    two breaks' comments are two requests, not a replay of the first)."""
    match = request.resolver_match
    if match is None:
        return request.path[:200]
    arguments = ",".join(f"{name}={value}" for name, value in sorted(match.kwargs.items()))
    return f"{match.view_name}:{arguments}"[:200] if arguments else match.view_name


def idempotent(view_method):
    """Decorate an APIView's `post`: honour Idempotency-Key when the client sends one."""

    @wraps(view_method)
    def wrapper(self, request, *args, **kwargs):
        key = request.headers.get(HEADER, "").strip()
        if not key:
            return view_method(self, request, *args, **kwargs)
        if len(key) > MAX_KEY_LENGTH:
            raise DomainError(
                f"The Idempotency-Key header is longer than {MAX_KEY_LENGTH} characters.",
                fields={HEADER: [f"at most {MAX_KEY_LENGTH} characters"]},
            )
        route = _route(request)
        fingerprint = request_fingerprint(request)
        earlier = _claim(request.user, route, key, fingerprint)
        if earlier is not None:
            if earlier.request_hash != fingerprint:
                raise IdempotencyKeyReused(
                    "This Idempotency-Key was used for a different request; use a new key."
                )
            if earlier.state == IdempotentRequest.State.IN_FLIGHT:
                raise IdempotentRequestInFlight(
                    "The first request with this Idempotency-Key is still running; retry later."
                )
            response = Response(earlier.response_body, status=earlier.response_status)
            response["Idempotent-Replayed"] = "true"
            return response
        try:
            response = view_method(self, request, *args, **kwargs)
        except BaseException:
            IdempotentRequest.objects.filter(user=request.user, route=route, key=key).delete()
            raise
        if response.status_code >= 400:
            IdempotentRequest.objects.filter(user=request.user, route=route, key=key).delete()
            return response
        IdempotentRequest.objects.filter(user=request.user, route=route, key=key).update(
            state=IdempotentRequest.State.DONE,
            response_status=response.status_code,
            response_body=response.data,
        )
        return response

    wrapper.idempotent = True  # the schema documents the header and its 409 and 422
    return wrapper
