"""Entrypoint: every API error as a FHIR OperationOutcome with the right status, in one place.

Clients get 4xx with an explanation for what they sent wrong; an unexpected failure is a 500
OperationOutcome that says nothing about internals (the log has the reference, not the data).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from fhirbridge.errors import ConfigError, FhirAuthError, FhirError, FhirRejected

log = logging.getLogger(__name__)

# OperationOutcome.issue.code (R4 issue-type value set) per HTTP status.
_ISSUE_CODE = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    409: "conflict",
    412: "incomplete",
    413: "too-costly",
    415: "not-supported",
    422: "processing",
    429: "throttled",
}


class ApiError(Exception):
    """A client error with a status and a message safe to return."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def outcome(status: int, message: str) -> tuple[Response, int]:
    body: dict[str, Any] = {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": _ISSUE_CODE.get(status, "exception"),
                "details": {"text": message},
            }
        ],
    }
    response = jsonify(body)
    response.mimetype = "application/fhir+json"
    return response, status


def register(app: Flask) -> None:
    """Install the handlers on the app."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> tuple[Response, int]:
        return outcome(exc.status, exc.message)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> tuple[Response, int]:
        status = exc.code or 500
        response, code = outcome(status, exc.description or exc.name)
        # Keep the exception's own headers: 405 must list the allowed methods (RFC 9110 Allow).
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response, code

    @app.errorhandler(ConfigError)
    def _config_error(exc: ConfigError) -> tuple[Response, int]:
        return outcome(400, str(exc))

    @app.errorhandler(FhirError)
    def _fhir_error(exc: FhirError) -> tuple[Response, int]:
        # The EHR's FHIR server failed us: a gateway problem, not the caller's fault.
        if isinstance(exc, FhirAuthError):
            return outcome(502, "the FHIR server refused the credentials")
        if isinstance(exc, FhirRejected):
            return outcome(502, f"the FHIR server rejected a request: {exc}")
        return outcome(504 if exc.status is None else 502, "the FHIR server is unavailable")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        # Type and route only: an exception's text or traceback may quote request data.
        log.error("unexpected %s in %s", type(exc).__name__, request.url_rule)
        return outcome(500, "internal error")
