"""Transports: how a client reaches the service, one attempt of one operation at a time.

``base`` (the interface), ``http`` (httpx), ``grpc`` (grpcio, the ``grpc`` extra; imported on first use),
``local`` (the turnscore core in this process, the ``local`` extra). Pass any of them, or your own
:class:`Transport` / :class:`AsyncTransport`, as ``TurnScoreClient(transport=...)``.
"""

from __future__ import annotations

from typing import Any

from .base import AsyncTransport, EndpointRing, Operation, Transport
from .http import AsyncHttpTransport, HttpTransport
from .local import AsyncLocalTransport, LocalTransport, local_available

__all__ = [
    "AsyncGrpcTransport",
    "AsyncHttpTransport",
    "AsyncLocalTransport",
    "AsyncTransport",
    "EndpointRing",
    "GrpcTransport",
    "HttpTransport",
    "LocalTransport",
    "Operation",
    "Transport",
    "local_available",
]


def __getattr__(name: str) -> Any:
    if name in ("GrpcTransport", "AsyncGrpcTransport"):  # grpcio is optional: imported only when asked for
        from . import grpc

        return getattr(grpc, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
