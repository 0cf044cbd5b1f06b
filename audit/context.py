"""Who is asking, from where: set per request by the middleware, read by `audit.services.record`."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    ip: str | None = None
    user_agent: str = ""
    request_id: str = ""


EMPTY = RequestContext()
current: ContextVar[RequestContext] = ContextVar("recondesk_request_context", default=EMPTY)
