"""The transport interface: one attempt of one API operation, in sync and async twins (like httpx's
``BaseTransport`` / ``AsyncBaseTransport``).

A transport knows how to reach the service (HTTP, gRPC, in-process) and nothing else: chunking, retries,
the gold_ref protocol, the local fallback and typed results belong to the clients, over any transport.
"""

from __future__ import annotations

import itertools
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import httpx

from ..errors import TurnScoreError

__all__ = ["DEFAULT_TIMEOUT", "AsyncTransport", "EndpointRing", "Operation", "Transport", "http_only"]

#: Per attempt: 60 s, of which connecting at most 5 (gRPC uses the read timeout, 60 s).
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=5.0)


class Operation(StrEnum):
    """The operations of the API (API.md); each transport maps them to its own routes or methods."""

    SCORE = "score"  # POST /v1/score, RewardService.Score
    ADVANTAGES = "advantages"  # POST /v1/advantages, RewardService.Advantages
    OPENRLHF = "openrlhf"  # POST /v1/openrlhf (HTTP only)
    PRESETS = "presets"  # GET /v1/presets, RewardService.Presets
    HEALTH = "health"  # GET /healthz, grpc.health.v1 Check("")
    READY = "ready"  # GET /readyz, grpc.health.v1 Check("turnscore.v1.RewardService")


class Transport(ABC):
    """Sends one operation, once (no retry), and returns the decoded answer.

    ``endpoints``: what the transport takes turns over, one per call (base URLs, gRPC targets; empty
    in-process), so a retry goes to the next replica.
    """

    endpoints: Sequence[str] = ()

    def prepare(self, operation: Operation, body: Any) -> Any:
        """What :meth:`call` sends for ``body`` (an API.md request body, or ``None``): built once per request
        and reused by every attempt. Raises a :class:`~turnscore_client.TurnScoreError` for a request this
        transport cannot carry (``not_available``, or a ``ValidationError`` naming the field)."""
        return body

    @abstractmethod
    def call(self, operation: Operation, request: Any, timeout: float | None) -> Any:
        """One attempt: the decoded answer (the API.md response body), or a raised
        :class:`~turnscore_client.TurnScoreError` made by :func:`~turnscore_client.errors.error_for` (or
        :class:`~turnscore_client.ConnectionFailed` without an answer). ``timeout``: at most this many
        seconds (what is left of the request's deadline); ``None``: the transport's own timeout alone."""

    def close(self) -> None:  # noqa: B027 - a no-op unless the transport holds connections
        """Release connections (the transport is not used afterwards)."""


class AsyncTransport(ABC):
    """The asynchronous twin of :class:`Transport` (``call`` and ``aclose`` are awaited)."""

    endpoints: Sequence[str] = ()

    def prepare(self, operation: Operation, body: Any) -> Any:
        """As :meth:`Transport.prepare` (synchronous: it only encodes)."""
        return body

    @abstractmethod
    async def call(self, operation: Operation, request: Any, timeout: float | None) -> Any:
        """As :meth:`Transport.call`."""

    async def aclose(self) -> None:  # noqa: B027 - a no-op unless the transport holds connections
        """Release connections (the transport is not used afterwards)."""


class EndpointRing:
    """Round-robin over endpoints (thread-safe): every call, retries included, takes the next one."""

    def __init__(self, endpoints: Sequence[str]) -> None:
        self.endpoints = list(endpoints)
        self._cycle = itertools.cycle(self.endpoints)
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            return next(self._cycle)


def http_only(operation: Operation) -> TurnScoreError:
    """The error for an operation only the HTTP service has (``/v1/openrlhf``)."""
    return TurnScoreError(f"/v1/{operation.value} is served by the HTTP service only", code="not_available")
