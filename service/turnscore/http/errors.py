"""The API.md error shape for everything the HTTP layer itself refuses, plus the exception handlers."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from turnscore.core.errors import TurnscoreError

log = logging.getLogger("turnscore.http")

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


class ApiError(TurnscoreError):
    """An error raised by the transport (not the core); same shape as the core's errors."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, details=details, code=code)
        self.status = status
        self.headers = headers or {}


def body_too_large(limit: str, maximum: int, actual: int | None = None, **extra: Any) -> ApiError:
    details: dict[str, Any] = {"limit": limit, "max": maximum, "path": "body", "actual": actual, **extra}
    what = "decompressed body" if extra.get("encoding") == "gzip" else "body"
    return ApiError(413, "limit_exceeded", f"{what} exceeds limit {limit}={maximum} bytes", details)


def error_bytes(status: int, code: str | None, message: str, details: Any = None) -> bytes:
    return orjson.dumps(
        {"error": {"code": code or _HTTP_CODES.get(status, "error"), "message": message, "details": details}}
    )


def error_response(exc: TurnscoreError) -> Response:
    headers = dict(getattr(exc, "headers", None) or {})
    try:
        body = orjson.dumps(exc.to_dict())
    except TypeError:  # details not serializable: keep code and message
        body = error_bytes(exc.status, exc.code, exc.message)
    return Response(body, status_code=int(exc.status), media_type="application/json", headers=headers)


def install_handlers(app: FastAPI) -> None:
    async def turnscore_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, TurnscoreError)
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
        msg = f"{path}: {first.get('msg', 'invalid')}" if path else str(first.get("msg", "invalid request"))
        return Response(
            error_bytes(422, "invalid_request", msg, {"path": path}),
            status_code=422,
            media_type="application/json",
        )

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", extra={"path": request.url.path})
        return Response(
            error_bytes(
                500, "internal_error", "internal error (a bug; please report it with the request id)"
            ),
            status_code=500,
            media_type="application/json",
        )

    app.add_exception_handler(TurnscoreError, turnscore_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected)
