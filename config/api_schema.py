"""The API schema tells the truth: every operation lists the errors it can answer, in one shape.

`RecondeskAutoSchema` (REST_FRAMEWORK's DEFAULT_SCHEMA_CLASS) adds to each operation the error
answers every DRF view here can give (config/errors.py's {code, message, fields}):

- 401 and 403 everywhere (every operation needs a token or session, and a role);
- 406 everywhere (an `Accept` header naming nothing the API can write);
- 400 where the operation reads a body, a query parameter or a header;
- 415 where it reads a body (a Content-Type it has no parser for);
- 404 where the path names an object;
- 409 and 422 where it honours `Idempotency-Key` (config/idempotency.py), whose header it
  documents too, with `Idempotent-Replayed` on replayed answers.

A view declares the errors only it gives (a conflict with the object's state, a refused
upload) in `extend_schema(responses=...)` with `error(...)`; a general reason for the same
status is added to its description.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from config.idempotency import HEADER as IDEMPOTENCY_KEY
from config.idempotency import MAX_KEY_LENGTH


class ErrorSerializer(serializers.Serializer):
    """Every API error (config/errors.py)."""

    code = serializers.CharField(help_text="What went wrong, for programs: `not_found`, ...")
    message = serializers.CharField(help_text="What went wrong, for people.")
    fields = serializers.DictField(
        help_text="Problems by field name (request fields, filters, `page_size`, `cursor`, "
        "row errors of a refused upload); empty when the error is about no field."
    )


def error(description: str) -> OpenApiResponse:
    """An error answer of one operation, in the one error shape."""
    return OpenApiResponse(ErrorSerializer, description=description)


EVERYWHERE = {
    "401": "No valid API token or session (`Authorization: Token <token>`).",
    "403": "Signed in, but no role that allows this (or a session request without its CSRF token).",
    "406": "The `Accept` header names no media type this operation answers in.",
}
BAD_REQUEST = "The request is not valid: `fields` names each field, filter or header at fault."
UNSUPPORTED_MEDIA_TYPE = "The body's Content-Type is not one this operation reads."
NOT_FOUND = "No such object, or not one you may see (the same answer for both)."
KEY_IN_FLIGHT = "The first request with this Idempotency-Key is still running; retry later."
KEY_REUSED = "This Idempotency-Key was sent before with a different request; use a new key."


class RecondeskAutoSchema(AutoSchema):
    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if self._is_idempotent():
            parameters.append(
                OpenApiParameter(
                    IDEMPOTENCY_KEY,
                    {"type": "string", "maxLength": MAX_KEY_LENGTH},
                    OpenApiParameter.HEADER,
                    description="Any unique text: a retry with the same key and body gets the "
                    "first answer again (kept 24 hours), never a second effect.",
                )
            )
        return parameters

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses = operation["responses"]
        for code, description in self._errors(operation).items():
            declared = responses.get(code)
            if declared is None:
                declared = responses[code] = self._get_response_for_code(error(description), code)
            elif description not in declared["description"]:
                declared["description"] = f"{declared['description']} Or: {description}".strip()
            if code == "401":
                declared.setdefault("headers", {})["WWW-Authenticate"] = {
                    "schema": {"type": "string"}, "required": True,
                    "description": "`Token`: how to authenticate.",
                }  # fmt: skip
        if self._is_idempotent():
            for code, response in responses.items():
                if code.startswith("2"):
                    response.setdefault("headers", {})["Idempotent-Replayed"] = {
                        "schema": {"type": "string", "enum": ["true"]},
                        "description": "Present on the stored answer to an earlier request "
                        "with the same Idempotency-Key.",
                    }
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _errors(self, operation) -> dict[str, str]:
        found = dict(EVERYWHERE)
        parameters = operation.get("parameters", [])
        if operation.get("requestBody") or any(p["in"] != "path" for p in parameters):
            found["400"] = BAD_REQUEST
        if operation.get("requestBody"):
            found["415"] = UNSUPPORTED_MEDIA_TYPE
        if any(p["in"] == "path" for p in parameters):
            found["404"] = NOT_FOUND
        if self._is_idempotent():
            found["409"] = KEY_IN_FLIGHT
            found["422"] = KEY_REUSED
        return found

    def _is_idempotent(self) -> bool:
        handler = getattr(self.view, self.method.lower(), None)
        return bool(getattr(handler, "idempotent", False))
