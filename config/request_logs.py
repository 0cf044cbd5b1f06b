"""Every line logged while a request is answered carries its id (config/logs.py).

The id is the audit log's (audit/context.py: the proxy's X-Request-ID when one is trusted, else a
new one), so a log line, an audit entry and the response's `X-Request-ID` header name a request
alike; Celery tasks the request sends carry it on (config/celery.py).
"""

from config import logs


class RequestIdLogMiddleware:
    """After audit's RequestContextMiddleware, which gives the request its id."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        context = getattr(request, "audit_context", None)
        with logs.bind_request(context.request_id if context else ""):
            return self.get_response(request)
