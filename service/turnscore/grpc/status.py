"""Errors as gRPC statuses: the code, the message, and the API.md error body in trailing metadata.

=====================================================  ======================  =========================
turnscore error (HTTP status)                          gRPC status             ``error.code`` examples
=====================================================  ======================  =========================
schema, config, preset, malformed JSON (422, 400)      INVALID_ARGUMENT        invalid_request, ...
unknown ``gold_ref`` (409; ``details.missing``)        FAILED_PRECONDITION     unknown_gold_ref
size/count limits (413), overload (503)                RESOURCE_EXHAUSTED      limit_exceeded, overloaded
missing or bad API key (401)                           UNAUTHENTICATED         unauthorized
deadline expired before the work was done              DEADLINE_EXCEEDED       deadline_exceeded
a bug (never for any input)                            INTERNAL                internal_error
=====================================================  ======================  =========================

Every error carries the trailing metadata ``turnscore-error-bin`` (the JSON body
``{"error": {"code", "message", "details"}}`` of API.md, so ``details.path`` names the failing field and
``details.missing`` the unknown refs) and ``turnscore-error-code`` (the code as text). Overload answers add
``retry-after`` (seconds), as the HTTP 503.
"""

from __future__ import annotations

from typing import Any

import grpc
import orjson

from turnscore.core.errors import TurnscoreError

ERROR_KEY = "turnscore-error-bin"
CODE_KEY = "turnscore-error-code"

_BY_HTTP_STATUS: dict[int, grpc.StatusCode] = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    408: grpc.StatusCode.DEADLINE_EXCEEDED,
    409: grpc.StatusCode.FAILED_PRECONDITION,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    415: grpc.StatusCode.INVALID_ARGUMENT,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    503: grpc.StatusCode.RESOURCE_EXHAUSTED,
}


def status_code(exc: TurnscoreError) -> grpc.StatusCode:
    return _BY_HTTP_STATUS.get(int(exc.status), grpc.StatusCode.INTERNAL)


def error_metadata(code: str, message: str, details: Any = None, **extra: str) -> tuple[tuple[str, Any], ...]:
    try:
        body = orjson.dumps({"error": {"code": code, "message": message, "details": details}})
    except TypeError:  # details not serializable: keep code and message
        body = orjson.dumps({"error": {"code": code, "message": message, "details": None}})
    return ((ERROR_KEY, body), (CODE_KEY, code), *extra.items())


def for_error(exc: TurnscoreError) -> tuple[grpc.StatusCode, str, tuple[tuple[str, Any], ...]]:
    """(status code, status message, trailing metadata) for a core or transport error."""
    extra = {k.lower(): str(v) for k, v in (getattr(exc, "headers", None) or {}).items()}
    return status_code(exc), exc.message, error_metadata(exc.code, exc.message, exc.details, **extra)
