"""Domain errors, and the one API exception handler: every error as {code, message, fields}."""

import logging

from django.core.exceptions import (
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)


class DomainError(Exception):
    """A failure the user can act on; subclasses set `code` (the doors map it to a status).

    `retry_later`: the same request may pass later (the failure is not the caller's), which the
    doors answer as 503 whatever the code.
    """

    code = "invalid"
    retry_later = False

    def __init__(self, message: str, *, fields: dict | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


# The doors' one table from a domain error's code to the HTTP status it answers with; a code not
# listed is the caller's mistake, 400. Services raise codes and know nothing of HTTP.
STATUS_BY_CODE = {
    "invalid_credentials": status.HTTP_401_UNAUTHORIZED,
    "permission_denied": status.HTTP_403_FORBIDDEN,
    "not_found": status.HTTP_404_NOT_FOUND,
    "api_token_not_found": status.HTTP_404_NOT_FOUND,
    "break_action_refused": status.HTTP_409_CONFLICT,
    "correction_refused": status.HTTP_409_CONFLICT,
    "correction_stale": status.HTTP_409_CONFLICT,
    "draft_changed": status.HTTP_409_CONFLICT,
    "draft_exists": status.HTTP_409_CONFLICT,
    "idempotent_request_in_flight": status.HTTP_409_CONFLICT,
    "run_not_cancellable": status.HTTP_409_CONFLICT,
    "report_refused": status.HTTP_409_CONFLICT,
    "report_file_damaged": status.HTTP_409_CONFLICT,
    "report_pack_refused": status.HTTP_409_CONFLICT,
    "version_not_draft": status.HTTP_409_CONFLICT,
    "break_not_correctable": status.HTTP_422_UNPROCESSABLE_ENTITY,
    "dataset_rejected": status.HTTP_422_UNPROCESSABLE_ENTITY,
    "dataset_not_stored": status.HTTP_422_UNPROCESSABLE_ENTITY,  # refused data; else retry_later
    "idempotency_key_reused": status.HTTP_422_UNPROCESSABLE_ENTITY,
    "preview_gone": status.HTTP_422_UNPROCESSABLE_ENTITY,
    "sign_in_locked": status.HTTP_429_TOO_MANY_REQUESTS,
    "sign_in_slowed": status.HTTP_429_TOO_MANY_REQUESTS,
    "exchange_error": status.HTTP_502_BAD_GATEWAY,
    "sign_in_unavailable": status.HTTP_503_SERVICE_UNAVAILABLE,
}


def status_for(error: DomainError) -> int:
    """The HTTP status a door answers `error` with."""
    if error.retry_later:
        return status.HTTP_503_SERVICE_UNAVAILABLE
    return STATUS_BY_CODE.get(error.code, status.HTTP_400_BAD_REQUEST)


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
        return Response(_body(exc.code, exc.message, exc.fields), status=status_for(exc))
    if isinstance(exc, SuspiciousOperation):
        # Django's refusals of a request body (too large, too many fields or files) reach DRF's
        # handler while it parses: a 400, as Django answers them outside DRF, not a 500.
        logger.warning("refused API request: %s", exc)
        return Response(
            _body("request_refused", _suspicious_message(exc)),
            status=status.HTTP_400_BAD_REQUEST,
        )
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


def _suspicious_message(exc: SuspiciousOperation) -> str:
    from django.conf import settings

    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return f"The request body is larger than {limit} bytes; send a file upload instead."
    if isinstance(exc, TooManyFieldsSent):
        return f"The request has more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} fields."
    if isinstance(exc, TooManyFilesSent):
        return f"The request has more than {settings.DATA_UPLOAD_MAX_NUMBER_FILES} files."
    return "The request cannot be read."


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

    context = {"message": error.message, "status": status_for(error), "retry": retry}
    return render(request, "error.html", context, status=status_for(error))


def error_json(error: DomainError):
    """A domain error as the API's JSON body, for answers made outside DRF (middleware)."""
    return JsonResponse(_body(error.code, error.message, error.fields), status=status_for(error))


# Django's own error answers (an address no view serves, a refused Host, an error outside a
# DRF view): pages get Django's pages, the API its one error shape.
API_PREFIX = "/api/"


def _api_error(request, code: str, message: str, status: int):
    if not request.path_info.startswith(API_PREFIX):
        return None
    return JsonResponse(_body(code, message), status=status)


def not_found(request, exception):
    """handler404."""
    answer = _api_error(request, "not_found", "No such address in the API.", 404)
    return answer or defaults.page_not_found(request, exception)


def permission_denied(request, exception):
    """handler403."""
    answer = _api_error(request, "permission_denied", "You may not do this.", 403)
    return answer or defaults.permission_denied(request, exception)


def bad_request(request, exception):
    """handler400: also a request refused while a middleware read it (too many fields, too big)."""
    answer = _api_error(request, "request_refused", _suspicious_message(exception), 400)
    return answer or defaults.bad_request(request, exception)


def server_error(request):
    """handler500: no stack trace leaves the server (Django has logged it)."""
    message = "An internal error occurred; it has been logged."
    return _api_error(request, "server_error", message, 500) or defaults.server_error(request)
