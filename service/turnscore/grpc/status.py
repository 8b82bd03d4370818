"""Errors as gRPC statuses: the code, the message, and the wire's error body in trailing metadata.

:data:`GRPC_STATUS` is the only place that turns an error's transport-neutral kind into a gRPC status:

=====================================================  ======================  =========================
error kind (what went wrong)                           gRPC status             ``error.code`` examples
=====================================================  ======================  =========================
``invalid``: schema, config, preset                    INVALID_ARGUMENT        invalid_request, ...
``bad_request``: a ``*_json`` field is not JSON        INVALID_ARGUMENT        malformed_json
``unknown_gold_ref`` (``details.missing``)             FAILED_PRECONDITION     unknown_gold_ref
``too_large``: size/count/nesting limits               RESOURCE_EXHAUSTED      limit_exceeded
``overloaded``: ``max_inflight`` in flight             RESOURCE_EXHAUSTED      overloaded
``unauthenticated``: missing or bad API key            UNAUTHENTICATED         unauthorized
``deadline_exceeded``: expired before the work         DEADLINE_EXCEEDED       deadline_exceeded
``internal``: a bug (never for any input)              INTERNAL                internal_error
=====================================================  ======================  =========================

Every error carries the trailing metadata ``turnscore-error-bin`` (the JSON body
``{"error": {"code", "message", "details"}}``, so ``details.path`` names the failing field and
``details.missing`` the unknown refs) and ``turnscore-error-code`` (the code as text). Overload answers add
``retry-after`` (seconds), as the HTTP 503.
"""

from __future__ import annotations

from typing import Any

import grpc
import orjson

from turnscore.core.errors import ErrorKind, TurnScoreError
from turnscore.runtime.errors import retry_after

ERROR_KEY = "turnscore-error-bin"
CODE_KEY = "turnscore-error-code"

GRPC_STATUS: dict[ErrorKind, grpc.StatusCode] = {
    ErrorKind.INVALID: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorKind.BAD_REQUEST: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorKind.UNSUPPORTED_ENCODING: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorKind.UNKNOWN_GOLD_REF: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorKind.TOO_LARGE: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorKind.OVERLOADED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorKind.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    ErrorKind.DEADLINE_EXCEEDED: grpc.StatusCode.DEADLINE_EXCEEDED,
    ErrorKind.INTERNAL: grpc.StatusCode.INTERNAL,
}


def status_code(exc: TurnScoreError) -> grpc.StatusCode:
    return GRPC_STATUS[exc.kind]


def error_metadata(code: str, message: str, details: Any = None, **extra: str) -> tuple[tuple[str, Any], ...]:
    try:
        body = orjson.dumps({"error": {"code": code, "message": message, "details": details}})
    except TypeError:  # details not serializable: keep code and message
        body = orjson.dumps({"error": {"code": code, "message": message, "details": None}})
    return ((ERROR_KEY, body), (CODE_KEY, code), *extra.items())


def for_error(exc: TurnScoreError) -> tuple[grpc.StatusCode, str, tuple[tuple[str, Any], ...]]:
    """(status code, status message, trailing metadata) for a core or runtime error."""
    seconds = retry_after(exc)
    extra = {} if seconds is None else {"retry-after": str(seconds)}
    return status_code(exc), exc.message, error_metadata(exc.code, exc.message, exc.details, **extra)
