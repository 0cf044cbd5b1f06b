"""Who is asking, from where: set per request by the middleware, read by `audit.services.record`.

`client_address` is the one answer to "which address is this request from", used by the audit log
and the sign-in limits alike; `request_id` decides whether an incoming X-Request-ID is kept.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from ipware import get_client_ip


@dataclass(frozen=True)
class RequestContext:
    ip: str | None = None
    user_agent: str = ""
    request_id: str = ""


EMPTY = RequestContext()
current: ContextVar[RequestContext] = ContextVar("recondesk_request_context", default=EMPTY)

# What an id set by a proxy looks like (nginx's $request_id, a UUID, a trace id): no spaces, no
# markup, short enough for the audit column. Anything else is replaced, never stored.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


def client_address(request) -> str | None:
    """The client's address, counting TRUSTED_PROXY_COUNT proxies from the right.

    With no trusted proxy the peer of the connection (REMOTE_ADDR) is the client: X-Forwarded-For
    is the client's own text then. Behind N proxies, each appends the address it received the
    request from, so the Nth entry from the right was written by the outermost trusted proxy;
    anything left of it came from the client and is ignored. A chain shorter than N (a request
    that did not pass every proxy) falls back to the peer's address.
    """
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies > 0:
        # python-ipware's proxy_count counts the proxies listed in the header, which is all but
        # the last (its address is REMOTE_ADDR), and then takes chain[-(count + 1)]. Only
        # X-Forwarded-For is read: every other header it knows is set by the client here.
        forwarded, _routable = get_client_ip(
            request,
            proxy_order="left-most",
            proxy_count=proxies - 1,
            request_header_order=["HTTP_X_FORWARDED_FOR"],
            strict=False,
        )
        if forwarded is not None:
            return forwarded
    peer, _routable = get_client_ip(
        request, proxy_count=0, request_header_order=["REMOTE_ADDR"], strict=False
    )
    return peer


def request_id(request) -> str:
    """The id of this request: the proxy's X-Request-ID when a trusted proxy stands in front and
    the id is a plain token, else a new one (a client's own id must not pose as a trusted one)."""
    supplied = request.META.get("HTTP_X_REQUEST_ID", "")
    if settings.TRUSTED_PROXY_COUNT > 0 and _REQUEST_ID.fullmatch(supplied):
        return supplied
    return uuid.uuid4().hex
