"""Sending one signed webhook (Standard Webhooks, https://www.standardwebhooks.com): no Django here.

A message is signed with every secret the endpoint still honours (its current one, and during a
rotation's grace period the ones before it), each signature `v1,<base64>`, separated by spaces in
`webhook-signature`: a receiver that knows any one of them verifies the message. The signed
timestamp is the wall clock's at sending (receivers refuse messages more than a few minutes old
or new), whatever clock schedules the retries. Redirects are not followed: a receiver answers
where it was registered, and a POST must not silently turn into a GET elsewhere.
"""

from __future__ import annotations

import base64
import http.client
import json
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 (the spec's prefix, not a secret)
SECRET_BYTES = 32
# What of a receiver's answer is kept with the attempt (its first characters).
KEPT_BODY = 500


def new_secret() -> str:
    """A fresh signing secret: `whsec_` and 32 random bytes in base64, as the spec has them."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def body_of(message: dict) -> str:
    """The JSON text sent and signed: compact and with sorted keys, so a retry sends the same."""
    return json.dumps(message, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def signature(signing_secrets: list[str], msg_id: str, timestamp: datetime, body: str) -> str:
    """The `webhook-signature` header: one `v1,...` signature per secret, space-separated."""
    if not signing_secrets:
        raise ValueError("an endpoint has at least its current secret")
    return " ".join(Webhook(s).sign(msg_id, timestamp, body) for s in signing_secrets)


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: the HTTP status (None if no answer came), an error, its duration."""

    status: int | None
    error: str
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def gone(self) -> bool:
        """410 Gone: the receiver asks not to be sent anything more."""
        return self.status == 410


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # the 3xx itself is the answer (an undelivered one)


_opener = urllib.request.build_opener(_NoRedirects())


def send(url: str, *, msg_id: str, body: str, signing_secrets: list[str],
         timeout: float) -> Outcome:  # fmt: skip
    """POST `body` to `url`, signed; never raises for what the network or receiver does."""
    sent_at = datetime.fromtimestamp(int(time.time()), tz=UTC)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Recondesk-Webhooks/1",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signature(signing_secrets, msg_id, sent_at, body),
    }
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url!r}")
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")  # noqa: S310 (http(s) only, checked)
    started = time.monotonic()
    status, error = None, ""
    try:
        with _opener.open(request, timeout=timeout) as response:
            status = response.status
            response.read(KEPT_BODY)
    except urllib.error.HTTPError as answer:  # a 3xx, 4xx or 5xx: an answer, not a failure to send
        status = answer.code
        try:
            error = answer.read(KEPT_BODY).decode(errors="replace")
        except OSError:
            error = ""
        error = error or answer.reason or ""
    # No answer, or not HTTP: refused, timed out, reset, garbage instead of a status line.
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as failure:
        reason = getattr(failure, "reason", failure)
        error = f"{type(failure).__name__}: {reason}"[:KEPT_BODY]
    duration_ms = round((time.monotonic() - started) * 1000)
    return Outcome(status=status, error=str(error)[:KEPT_BODY], duration_ms=duration_ms)
