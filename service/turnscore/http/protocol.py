"""The HTTP/1.1 connection protocol: uvicorn's httptools protocol with the connection limits it lacks.

``turnscore serve`` gives uvicorn :class:`TurnScoreProtocol` (``http=`` :data:`PROTOCOL`); per connection:

- **header timeout** (``header_timeout``): a request's headers must arrive completely within this many
  seconds of the connection opening (or of the first byte of the next request on a keep-alive connection);
  otherwise the connection is closed. Silent or trickling connections cannot pile up.
- **connection cap** (``max_connections``, 0 = three quarters of the process's open-file limit): a
  connection beyond it is answered ``503 overloaded`` (JSON, ``Retry-After``, ``Connection: close``) and
  closed at once, so the process never runs out of file descriptors (Redis, gRPC and logs need some too).
- **send timeout** (``send_timeout``): a response the client does not read is dropped. While the socket's
  send buffer is full (the transport paused writing) a timer runs; when it fires with no byte taken by
  the client since it was armed, the connection is aborted and the unsent bytes are freed (a client that
  reads, however slowly, gets another period). The keep-alive timeout aborts too when bytes are still unsent.
- **shutdown** (``turnscore.serve``): a connection accepted in the last second before shutdown that has not
  sent its request yet gets that second to send it (answered, then closed) instead of being closed under a
  client that believes it is connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import resource
import struct
import termios
import time
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from turnscore import metrics

PROTOCOL = "turnscore.http.protocol:TurnScoreProtocol"
#: a connection this young at shutdown still gets to send its first request
FRESH_SECONDS = 1.0

log = logging.getLogger("turnscore.http")


def auto_max_connections() -> int:
    """Three quarters of the soft open-file limit (at least 16): the default of ``max_connections``."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 65536
    return max(16, soft * 3 // 4)


class Limits:
    """This process's connection limits (set by :func:`configure` from the settings) and live counts."""

    header_timeout: float = 10.0
    send_timeout: float = 30.0
    max_connections: int = 0
    retry_after: int = 1
    open: int = 0
    header_timeouts: int = 0
    send_timeouts: int = 0
    refused: int = 0

    @classmethod
    def status(cls) -> dict[str, Any]:
        return {
            "open": cls.open,
            "max_connections": cls.max_connections,
            "header_timeout": cls.header_timeout,
            "send_timeout": cls.send_timeout,
            "closed_header_timeout": cls.header_timeouts,
            "aborted_send_timeout": cls.send_timeouts,
            "refused_over_cap": cls.refused,
        }


def configure(header_timeout: float, send_timeout: float, max_connections: int, retry_after: int) -> None:
    Limits.header_timeout = header_timeout
    Limits.send_timeout = send_timeout
    Limits.max_connections = max_connections or auto_max_connections()
    Limits.retry_after = retry_after


def _refusal() -> bytes:
    body = orjson.dumps(
        {
            "error": {
                "code": "overloaded",
                "message": f"too many open connections (max_connections={Limits.max_connections}); "
                "retry later",
                "details": {"limit": "max_connections", "max": Limits.max_connections},
            }
        }
    )
    head = (
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nretry-after: {Limits.retry_after}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class TurnScoreProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol plus the header timeout, connection cap and send timeout."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._send_timer: asyncio.TimerHandle | None = None
        self._unsent = 0  # unsent bytes when the send timer was armed
        self._opened = time.monotonic()
        self._requests = 0
        self._counted = False

    # -- connection --------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if Limits.max_connections and Limits.open >= Limits.max_connections:
            Limits.refused += 1
            metrics.REJECTED.labels("connections").inc()
            self.connections.discard(self)
            transport.write(_refusal())
            transport.close()
            return
        Limits.open += 1
        self._counted = True
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._counted:
            Limits.open -= 1
            self._counted = False
        self._cancel(self._header_timer)
        self._cancel(self._send_timer)
        self._header_timer = self._send_timer = None
        super().connection_lost(exc)

    @staticmethod
    def _cancel(timer: asyncio.TimerHandle | None) -> None:
        if timer is not None:
            timer.cancel()

    # -- header timeout ----------------------------------------------------------------------------
    def _arm_header_timer(self) -> None:
        if self._header_timer is None and Limits.header_timeout > 0:
            self._header_timer = self.loop.call_later(Limits.header_timeout, self._header_timeout)

    def _header_timeout(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            Limits.header_timeouts += 1
            metrics.REJECTED.labels("header_timeout").inc()
            self.transport.abort()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._cancel(self._header_timer)
        self._header_timer = None
        self._requests += 1
        super().on_headers_complete()

    # -- send timeout ------------------------------------------------------------------------------
    def pause_writing(self) -> None:
        super().pause_writing()
        if self._send_timer is None:
            self._arm_send_timer()

    def _arm_send_timer(self) -> None:
        if Limits.send_timeout > 0:
            self._unsent = self._pending()
            self._send_timer = self.loop.call_later(Limits.send_timeout, self._send_timeout)

    def resume_writing(self) -> None:
        super().resume_writing()
        self._cancel(self._send_timer)
        self._send_timer = None

    def _pending(self) -> int:
        """Bytes not yet taken by the client: the transport's buffer plus the kernel's send queue (sent
        but not acknowledged; Linux ``SIOCOUTQ``), which is where a reading client makes progress first."""
        pending = self.transport.get_write_buffer_size()
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError, AttributeError, ValueError):
                raw = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
                pending += struct.unpack("i", raw)[0]
        return pending

    def _send_timeout(self) -> None:
        self._send_timer = None
        unsent = self._pending()
        if unsent == 0:  # all taken by the client
            return
        if unsent < self._unsent:  # the client reads, slowly: that is progress, wait again
            self._arm_send_timer()
            return
        Limits.send_timeouts += 1
        metrics.REJECTED.labels("send_timeout").inc()
        self.transport.abort()  # drops the unsent bytes (close() would wait for the client)

    def timeout_keep_alive_handler(self) -> None:
        if self.transport.get_write_buffer_size():
            self.transport.abort()
            return
        super().timeout_keep_alive_handler()

    # -- shutdown ----------------------------------------------------------------------------------
    def shutdown(self) -> None:
        fresh = time.monotonic() - self._opened < FRESH_SECONDS
        if self.cycle is None and self._requests == 0 and fresh and not self.transport.is_closing():
            # accepted just before shutdown, request not here yet: give it the rest of a second
            self.loop.call_later(FRESH_SECONDS, self._close_if_idle)
            return
        super().shutdown()

    def _close_if_idle(self) -> None:
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()
        else:
            self.cycle.keep_alive = False
