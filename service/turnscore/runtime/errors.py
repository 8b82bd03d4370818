"""Errors the service raises itself (not the core): undecodable bodies, overload, auth, deadlines.

They have the shape of the core's errors (``kind``, ``code``, ``message``, ``details``), so every transport
reports both the same way: HTTP maps the kind to a status code (``turnscore.http.errors``), gRPC to a status
code (``turnscore.grpc.status``).
"""

from __future__ import annotations

from typing import Any

from turnscore.core.errors import ErrorKind, TurnScoreError


class ServiceError(TurnScoreError):
    """A service-raised error; ``retry_after`` (seconds) tells the caller when to retry (overload)."""

    def __init__(
        self,
        kind: ErrorKind,
        code: str,
        message: str,
        details: Any = None,
        *,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message, details=details, code=code)
        self.kind = kind
        self.retry_after = retry_after


def overloaded(max_inflight: int, retry_after: int) -> ServiceError:
    """``max_inflight`` scoring requests are already in flight."""
    return ServiceError(
        ErrorKind.OVERLOADED,
        "overloaded",
        f"too many scoring requests in flight (max_inflight={max_inflight}); retry later",
        {"limit": "max_inflight", "max": max_inflight},
        retry_after=retry_after,
    )


def shutting_down(retry_after: int) -> ServiceError:
    """The process is shutting down and the request did not finish within ``graceful_timeout``: retry
    (on another replica)."""
    return ServiceError(
        ErrorKind.OVERLOADED,
        "shutting_down",
        "the server is shutting down and the request did not finish within its graceful timeout; retry",
        {"limit": "graceful_timeout"},
        retry_after=retry_after,
    )


def unauthenticated(how: str) -> ServiceError:
    """No API key, or not one of the configured keys; ``how`` says how to send one on this transport."""
    return ServiceError(ErrorKind.UNAUTHENTICATED, "unauthorized", f"missing or invalid API key (send {how})")


def internal(message: str) -> ServiceError:
    """A bug (never the request's fault): the answer names no detail of it."""
    return ServiceError(ErrorKind.INTERNAL, "internal_error", message)


def retry_after(exc: TurnScoreError) -> int | None:
    """Seconds after which a retry may succeed, for errors that say so."""
    return exc.retry_after if isinstance(exc, ServiceError) else None
