"""One-time form tokens: a form sent twice (a double click, Back and send again) acts once.

Every POST form carries `{% form_token %}`, a random token made when the page is rendered. The
middleware claims (user, path, token, what the form sends) in Redis with SET NX before the view
runs. The first request runs the view and stores its outcome (a redirect, or the page or htmx
fragment it answered); a repeat waits for that outcome and is given it, so the view never runs
twice. A request that failed (an exception, a 4xx) lets its claim go: nothing was done, and the
form may be sent again. The same token with other content is another submission (an htmx form
edited after its first send, or a page restored by Back and changed).

Requests without a token, anonymous ones (the sign-in form) and the API (it has Idempotency-Key)
are not guarded. docs/decisions.md gives the reasons.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from functools import cache

import redis
from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.html import format_html
from rest_framework.views import APIView

from config.idempotency import request_fingerprint

logger = logging.getLogger(__name__)

FIELD = "form_token"
HEADER = "X-Form-Token"
PREFIX = "recondesk:form-sent"
GUARDED_METHODS = ("POST", "PUT", "PATCH", "DELETE")
# A claim whose request died is abandoned after this long (longer than the slowest form: a
# 512 MiB upload confirmed); an outcome is replayed to repeats for a day.
RUNNING_FOR = 15 * 60
KEEP_FOR = 24 * 3600
# How long a repeat waits for the first request's outcome before saying it is still running.
WAIT_SECONDS = 15.0
POLL_SECONDS = 0.05
# Responses larger than this are not kept; a repeat gets a note with a link instead.
MAX_BODY_BYTES = 1024 * 1024
REPLAYED_HEADERS = ("Content-Type", "Location", "HX-Redirect", "HX-Location", "HX-Refresh",
                    "HX-Trigger", "HX-Retarget", "HX-Reswap", "HX-Push-Url")  # fmt: skip
ALREADY_SENT = "That form had already been sent; it was acted on once."

# Set the key to the outcome / delete it only while it still holds our claim.
_FINISH = "if redis.call('get', KEYS[1]) == ARGV[1] then " \
    "return redis.call('set', KEYS[1], ARGV[2], 'EX', ARGV[3]) end return false"  # fmt: skip
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then " \
    "return redis.call('del', KEYS[1]) end return 0"  # fmt: skip


def new_token() -> str:
    """A fresh token for one rendered form."""
    return secrets.token_urlsafe(18)


@cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)


def _redis() -> redis.Redis:
    return _client(settings.REDIS_URL)


@dataclass
class Claim:
    key: str
    owner: str
    messages_before: int


def submission_key(request, token: str) -> str:
    """Who sent which form from which page, with what content.

    The session key is part of it because user ids come back when a database is restored or
    recreated while Redis keeps its keys: a new user must not be given an old user's outcome.
    """
    session = getattr(request, "session", None)
    session_key = (session.session_key if session is not None else None) or ""
    digest = hashlib.sha256()
    for part in (str(request.user.pk), session_key, request.method, request.path, token):
        digest.update(part.encode() + b"\0")
    digest.update(request_fingerprint(request).encode())
    return f"{PREFIX}:{digest.hexdigest()}"


def _token(request) -> str:
    token = request.headers.get(HEADER, "") or request.POST.get(FIELD, "")
    return token.strip()[:100]


def _guarded(request, view_func) -> bool:
    if request.method not in GUARDED_METHODS or not request.user.is_authenticated:
        return False
    view_class = getattr(view_func, "cls", None)
    if view_class is not None and issubclass(view_class, APIView):
        return False  # the API's doors use Idempotency-Key
    return bool(_token(request))


def _message_count(request) -> int:
    storage = messages.get_messages(request)
    used = getattr(storage, "used", False)
    count = len(list(storage))
    if hasattr(storage, "used"):
        storage.used = used  # reading the messages must not discard them
    return count


def _added_messages(request, before: int) -> list[list]:
    storage = messages.get_messages(request)
    used = getattr(storage, "used", False)
    added = [[m.level, str(m.message), m.extra_tags] for m in list(storage)[before:]]
    if hasattr(storage, "used"):
        storage.used = used
    return added


def shown_once(response):
    """Mark a page that shows a secret once (a new API token): a repeat never gets its body.

    Its outcome is then kept without the body, so the secret is not stored in Redis and a form
    sent again is told it was already acted on instead of being shown the secret a second time.
    """
    response.shows_secret = True
    return response


def _outcome(request, response, claim: Claim) -> dict:
    outcome = {"status": response.status_code, "headers": {}}
    for name in REPLAYED_HEADERS:
        if name in response:
            outcome["headers"][name] = response[name]
    if getattr(response, "shows_secret", False):
        outcome["note"] = True
        return outcome
    if 300 <= response.status_code < 400:
        outcome["messages"] = _added_messages(request, claim.messages_before)
        return outcome
    body = None if response.streaming else response.content
    if body is None or len(body) > MAX_BODY_BYTES:
        outcome["note"] = True
    else:
        outcome["body"] = body.decode(response.charset or "utf-8", errors="replace")
    return outcome


def _replay(request, outcome: dict) -> HttpResponse:
    if outcome.get("note"):
        response = _note(request, ALREADY_SENT, status=200)
    elif "body" in outcome:
        response = HttpResponse(outcome["body"], status=outcome["status"])
    else:
        location = outcome["headers"].get("Location", "")
        response = (
            HttpResponseRedirect(location, status=outcome["status"])
            if location
            else HttpResponse(status=outcome["status"])
        )
        for level, text, tags in outcome.get("messages", []):
            messages.add_message(request, level, text, extra_tags=tags)
        messages.info(request, ALREADY_SENT)
    for name, value in outcome["headers"].items():
        response[name] = value
    response["Form-Replayed"] = "true"
    return response


def _note(request, text: str, *, status: int) -> HttpResponse:
    if request.headers.get("HX-Request"):
        return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")
    message = format_html('{} <a href="{}">Open the page again</a>.', text, request.path)
    return render(request, "error.html", {"message": message, "status": status}, status=status)


def claim(request) -> tuple[Claim | None, HttpResponse | None]:
    """Claim the submission (ours to run), or answer a repeat with the first outcome."""
    key = submission_key(request, _token(request))
    owner = uuid.uuid4().hex
    client = _redis()
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        if client.set(key, owner, nx=True, ex=RUNNING_FOR):
            return Claim(key, owner, _message_count(request)), None
        value = client.get(key)
        if value is not None and value.startswith(b"{"):
            return None, _replay(request, json.loads(value))
        if time.monotonic() >= deadline:
            text = "That form was sent a moment ago and is still being carried out."
            return None, _note(request, text, status=409)
        # The first request is still running, or just let its claim go: look again.
        time.sleep(POLL_SECONDS)


def finish(request, claim: Claim, response) -> None:
    """Keep the outcome for repeats; a refusal or failure lets the claim go."""
    client = _redis()
    if response.status_code >= 400:
        client.eval(_RELEASE, 1, claim.key, claim.owner)
        return
    outcome = json.dumps(_outcome(request, response, claim))
    client.eval(_FINISH, 1, claim.key, claim.owner, outcome, KEEP_FOR)


def release(claim: Claim) -> None:
    _redis().eval(_RELEASE, 1, claim.key, claim.owner)


class FormTokenMiddleware:
    """Runs each guarded submission once (after sign-in checks, before the view)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            response = self.get_response(request)
        except BaseException:
            held = getattr(request, "_form_claim", None)
            if held is not None:
                release(held)
            raise
        held = getattr(request, "_form_claim", None)
        if held is not None:
            try:
                finish(request, held, response)
            except redis.RedisError:
                logger.warning("form token outcome not stored", exc_info=True)
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not _guarded(request, view_func):
            return None
        try:
            held, answer = claim(request)
        except redis.RedisError:
            # Redis down: the form still works (its button was disabled after one click); a
            # repeat is then not recognised. Refusing every form would be the worse failure.
            logger.warning("form token not claimed; Redis is unavailable", exc_info=True)
            return None
        request._form_claim = held
        return answer
