"""gRPC clients: ``GrpcTurnScoreClient`` and ``AsyncGrpcTurnScoreClient``, the clients over gRPC.

Needs the ``grpc`` extra (``pip install './client[grpc]'`` from a clone). They are :class:`~turnscore_client.
TurnScoreClient` / :class:`~turnscore_client.AsyncTurnScoreClient` with the transport chosen
(:mod:`turnscore_client.transports.grpc`): the same ``score()``, ``advantages()``, ``presets()``,
``health()`` (``grpc.health.v1``; ``ready=True`` asks for the RewardService itself), chunking, concurrency,
retries, gold_ref protocol, local fallback, typed results and typed errors. ``openrlhf()`` raises
``not_available`` (``/v1/openrlhf`` has no RPC).

``target``: ``"host:port"``, several (list or comma-separated; round-robin, failover on retry) or ``None``
for ``$TURNSCORE_GRPC_TARGET`` (default ``127.0.0.1:50051``). Transport options: ``credentials``
(``grpc.ChannelCredentials``; default insecure), ``options`` (channel arguments), ``compression`` (e.g.
``grpc.Compression.Gzip``), ``metadata`` (extra call metadata).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._client import AsyncTurnScoreClient, TurnScoreClient
from .transports.base import AsyncTransport, Transport
from .transports.grpc import AsyncGrpcTransport, GrpcTransport, error_from_rpc
from .transports.grpc_messages import advantages_request, presets_dict, response_dict, score_request

__all__ = [
    "AsyncGrpcTurnScoreClient",
    "GrpcTurnScoreClient",
    "advantages_request",
    "error_from_rpc",
    "presets_dict",
    "response_dict",
    "score_request",
]


class GrpcTurnScoreClient(TurnScoreClient):
    """Synchronous gRPC client: :class:`TurnScoreClient` over :class:`GrpcTransport`."""

    def __init__(self, target: str | Sequence[str] | None = None, **kwargs: Any) -> None:
        super().__init__(target, **kwargs)

    def _open_transport(self, endpoints: str | Sequence[str] | None, **options: Any) -> Transport:
        return GrpcTransport(endpoints, **options)

    @property
    def targets(self) -> list[str]:
        return self.urls


class AsyncGrpcTurnScoreClient(AsyncTurnScoreClient):
    """Asynchronous gRPC client: :class:`AsyncTurnScoreClient` over :class:`AsyncGrpcTransport`."""

    def __init__(self, target: str | Sequence[str] | None = None, **kwargs: Any) -> None:
        super().__init__(target, **kwargs)

    def _open_transport(self, endpoints: str | Sequence[str] | None, **options: Any) -> AsyncTransport:
        return AsyncGrpcTransport(endpoints, **options)

    @property
    def targets(self) -> list[str]:
        return self.urls
