"""The one ASGI middleware in front of the app: request id, API keys, admission control, request metrics,
structured access log, and the last line of defence that turns any escaped exception into a JSON 500.

Pure ASGI (no ``BaseHTTPMiddleware``): no extra task per request and the body stream is untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from turnscore import metrics
from turnscore.core.errors import TurnScoreError
from turnscore.runtime import Runtime
from turnscore.runtime.errors import internal, shutting_down, unauthenticated

from .docs import ASSETS as DOC_ASSETS
from .errors import error_body, error_headers, http_status
from .ui import SAMPLES_PATH, UI_PATH

access_log = logging.getLogger("turnscore.access")
log = logging.getLogger("turnscore.http")

SCORING_PATHS = frozenset({"/v1/score", "/v1/advantages", "/v1/openrlhf"})
KNOWN_PATHS = SCORING_PATHS | {
    "/v1/presets",
    "/healthz",
    "/readyz",
    "/metrics",
    "/docs",
    "/openapi.json",
    "/docs/oauth2-redirect",
    "/redoc",
    UI_PATH,
    SAMPLES_PATH,
}
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


class ServiceMiddleware:
    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime
        self.access_log = runtime.settings.access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        runtime = self.runtime
        raw_id = _header(scope, b"x-request-id")
        rid = raw_id.decode("latin-1") if raw_id else ""
        if not _REQUEST_ID.match(rid):
            rid = uuid.uuid4().hex
        info: dict[str, Any] = {}
        scope["turnscore"] = info
        path: str = scope.get("path", "")
        endpoint = path if path in KNOWN_PATHS else "other"
        status = 0
        bytes_out = 0
        started = False
        rid_header = (b"x-request-id", rid.encode("latin-1"))
        close_header = (b"connection", b"close")

        async def send_wrapper(message: Message) -> None:
            nonlocal status, bytes_out, started
            if message["type"] == "http.response.start":
                started = True
                status = int(message["status"])
                message["headers"] = [*message.get("headers", ()), rid_header]
                if runtime.draining:  # shutting down: no keep-alive (the client reconnects elsewhere)
                    message["headers"].append(close_header)
            elif message["type"] == "http.response.body":
                bytes_out += len(message.get("body", b""))
            await send(message)

        async def refuse(error: TurnScoreError, headers: Any = ()) -> None:
            body = error_body(error)
            extra = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in error_headers(error).items()]
            await send_wrapper(
                {
                    "type": "http.response.start",
                    "status": http_status(error),
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        *headers,
                        *extra,
                    ],
                }
            )
            await send_wrapper({"type": "http.response.body", "body": body})

        metrics.INFLIGHT.inc()
        try:
            if runtime.auth_enabled and not self._public(path) and not self._authorized(scope):
                metrics.REJECTED.labels("unauthorized").inc()
                await refuse(
                    unauthenticated("`Authorization: Bearer <key>`"),
                    [(b"www-authenticate", b'Bearer realm="turnscore"')],
                )
            elif path in SCORING_PATHS and scope.get("method") == "POST":
                # a slot is taken once the body is read (turnscore.http.app), so slow uploads hold none;
                # when every slot is taken already, refuse before reading the body
                if runtime.has_room():
                    await self.app(scope, receive, send_wrapper)
                else:
                    await refuse(runtime.overloaded())
            else:
                await self.app(scope, receive, send_wrapper)
        except asyncio.CancelledError:
            # uvicorn cancels what is still running when graceful_timeout has passed: answer a JSON 503
            task = asyncio.current_task()
            if not runtime.draining or started or task is None:
                raise
            task.uncancel()
            info["error"] = "shutting_down"
            with contextlib.suppress(Exception):
                await refuse(shutting_down(runtime.settings.retry_after))
        except Exception:
            log.exception("unhandled error", extra={"request_id": rid, "path": path})
            if not started:
                with contextlib.suppress(Exception):  # the client may be gone
                    await refuse(internal("internal error (a bug; please report the request id)"))
        finally:
            if info.get("admitted"):
                runtime.release()
            metrics.INFLIGHT.dec()
            duration = time.perf_counter() - start
            status_label = str(status) if status else "disconnected"
            metrics.REQUEST_DURATION.labels(endpoint, status_label).observe(duration)
            if self.access_log:
                client = scope.get("client")
                fields = {
                    "request_id": rid,
                    "method": scope.get("method"),
                    "path": path,
                    "status": status or None,
                    "duration_ms": round(duration * 1000, 3),
                    "bytes_in": info.get("bytes_in"),
                    "bytes_in_decoded": info.get("bytes_decoded"),
                    "bytes_out": bytes_out,
                    "groups": info.get("groups"),
                    "rollouts": info.get("rollouts"),
                    "stages_ms": info.get("stages_ms"),
                    "error": info.get("error"),
                    "client": f"{client[0]}:{client[1]}" if client else None,
                }
                access_log.info("request", extra={k: v for k, v in fields.items() if v is not None})

    def _public(self, path: str) -> bool:
        """A public path, an asset of the docs when ``/docs`` is public, or a file of the inspect page
        when ``/ui`` is."""
        public = self.runtime.public_paths
        return (
            path in public
            or (path.startswith(DOC_ASSETS + "/") and "/docs" in public)
            or (path.startswith(UI_PATH + "/") and UI_PATH in public)
        )

    def _authorized(self, scope: Scope) -> bool:
        value = _header(scope, b"authorization")
        if value is None:
            return False
        scheme, _, token = value.partition(b" ")
        if scheme.lower() != b"bearer":
            return False
        return self.runtime.check_key(token.strip())
