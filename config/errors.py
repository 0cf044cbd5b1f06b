"""Domain errors, and the one API exception handler: every error as {code, message, fields}."""

import logging

from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)


class DomainError(Exception):
    """A failure the user can act on; subclasses set `code` and `http_status`."""

    code = "invalid"
    http_status = status.HTTP_400_BAD_REQUEST

    def __init__(self, message: str, *, fields: dict | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


def add_to_form(form, error: DomainError) -> None:
    """Show a domain error on a form: field errors by field, the rest at the top."""
    if not error.fields:
        form.add_error(None, error.message)
    for field, problems in error.fields.items():
        for problem in problems:
            form.add_error(field if field in form.fields else None, problem)


def _body(code: str, message: str, fields: dict | None = None) -> dict:
    return {"code": code, "message": message, "fields": fields or {}}


def api_exception_handler(exc, context):
    """DRF exception handler: domain errors, DRF errors and unexpected ones, in one shape."""
    if isinstance(exc, DomainError):
        return Response(_body(exc.code, exc.message, exc.fields), status=exc.http_status)
    response = exception_handler(exc, context)
    if response is None:
        # Unexpected: log the stack trace here, send none of it to the client.
        logger.exception("unhandled API error", exc_info=exc)
        return Response(
            _body("server_error", "An internal error occurred; it has been logged."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = _body("validation_error", "The request is not valid.", fields)
    else:
        detail = getattr(exc, "detail", str(exc))
        code = detail.code if hasattr(detail, "code") else "error"
        response.data = _body(str(code), str(detail))
    return response


class DomainErrorMiddleware:
    """Pages: a domain error becomes a page with its message and status (the API has its own)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, DomainError):
            return None
        return error_page(request, exception)


def error_page(request, error: DomainError, *, retry: str = ""):
    """A page with a domain error's message and status (`retry`: a link to try instead)."""
    from django.shortcuts import render

    context = {"message": error.message, "status": error.http_status, "retry": retry}
    return render(request, "error.html", context, status=error.http_status)


def error_json(error: DomainError):
    """A domain error as the API's JSON body, for answers made outside DRF (middleware)."""
    from django.http import JsonResponse

    return JsonResponse(_body(error.code, error.message, error.fields), status=error.http_status)
