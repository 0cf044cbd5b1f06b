"""Gives every request an id and records its origin for the audit log."""

from audit.context import RequestContext, client_address, current, request_id


class RequestContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        context = RequestContext(
            ip=client_address(request),
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:512],
            request_id=request_id(request),
        )
        request.audit_context = context
        token = current.set(context)
        try:
            response = self.get_response(request)
        finally:
            current.reset(token)
        response["X-Request-ID"] = context.request_id
        return response
