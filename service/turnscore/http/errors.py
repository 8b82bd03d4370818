"""Errors over HTTP: the one table from error kind to HTTP status, the error body, the exception handlers.

Every error the core or the runtime raises has a transport-neutral ``kind`` (:class:`ErrorKind`);
:data:`HTTP_STATUS` is the only place that turns it into an HTTP status code.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from turnscore.core.errors import ErrorKind, InvalidRequest, TurnScoreError
from turnscore.runtime.errors import internal, retry_after

log = logging.getLogger("turnscore.http")

HTTP_STATUS: dict[ErrorKind, int] = {
    ErrorKind.INVALID: 422,
    ErrorKind.BAD_REQUEST: 400,
    ErrorKind.UNSUPPORTED_ENCODING: 415,
    ErrorKind.UNKNOWN_GOLD_REF: 409,
    ErrorKind.TOO_LARGE: 413,
    ErrorKind.OVERLOADED: 503,
    ErrorKind.UNAUTHENTICATED: 401,
    ErrorKind.DEADLINE_EXCEEDED: 408,
    ErrorKind.INTERNAL: 500,
}

# the default ``error.code`` of an HTTP status the framework answers itself (404, 405, ...)
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    409: "conflict",
    411: "length_required",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    500: "internal_error",
    503: "overloaded",
}


def http_status(exc: TurnScoreError) -> int:
    """The HTTP status of a core or runtime error."""
    return HTTP_STATUS[exc.kind]


def error_headers(exc: TurnScoreError) -> dict[str, str]:
    """Response headers an error adds (``Retry-After`` on overload)."""
    seconds = retry_after(exc)
    return {} if seconds is None else {"retry-after": str(seconds)}


def error_bytes(status: int, code: str | None, message: str, details: Any = None) -> bytes:
    return orjson.dumps(
        {"error": {"code": code or _HTTP_CODES.get(status, "error"), "message": message, "details": details}}
    )


def error_body(exc: TurnScoreError) -> bytes:
    try:
        return orjson.dumps(exc.to_dict())
    except TypeError:  # details not serializable: keep code and message
        return error_bytes(http_status(exc), exc.code, exc.message)


def error_response(exc: TurnScoreError) -> Response:
    return Response(
        error_body(exc),
        status_code=http_status(exc),
        media_type="application/json",
        headers=error_headers(exc),
    )


def install_handlers(app: FastAPI) -> None:
    async def turnscore_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, TurnScoreError)
        info = request.scope.get("turnscore")
        if isinstance(info, dict):
            info["error"] = exc.code
        return error_response(exc)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        status = exc.status_code
        message = exc.detail if isinstance(exc.detail, str) else _HTTP_CODES.get(status, "error")
        details: dict[str, Any] | None = None
        if status == 404:
            details = {"path": request.url.path}
        elif status == 405:
            details = {"path": request.url.path, "method": request.method}
        return Response(
            error_bytes(status, _HTTP_CODES.get(status), message, details),
            status_code=status,
            media_type="application/json",
            headers=dict(exc.headers or {}),
        )

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errs = exc.errors()
        first = errs[0] if errs else {}
        path = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query"))
        message = str(first.get("msg", "invalid" if path else "invalid request"))
        return error_response(InvalidRequest(path, message))

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", extra={"path": request.url.path})
        return error_response(internal("internal error (a bug; please report it with the request id)"))

    app.add_exception_handler(TurnScoreError, turnscore_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected)
