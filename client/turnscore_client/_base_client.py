"""What both clients share: settings, the transport they run over, request bodies, retry decisions, the local
fallback and typed results. :class:`~turnscore_client.TurnScoreClient` and
:class:`~turnscore_client.AsyncTurnScoreClient` add only the sending, sleeping and fan-out (sync or async).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import httpx

from ._args import sequence_arg
from ._chunks import GoldMemory, ScoreChunk, common_fields, merge, normalize_groups, split
from ._retry import Attempts, RetryPolicy
from .errors import ConnectionFailed, ServiceUnavailableError, TurnScoreError, UnknownGoldRefError
from .transports.base import DEFAULT_TIMEOUT
from .transports.local import AsyncLocalTransport, LocalTransport
from .types import Health, ScoreResponse

__all__ = ["BaseClient", "ClientStats"]

log = logging.getLogger("turnscore_client")


class ClientStats:
    """Counters, for tests and training logs (thread-safe)."""

    FIELDS = ("requests", "attempts", "retries", "gold_refs_sent", "gold_resends", "local_fallbacks")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.attempts = 0
        self.retries = 0
        self.gold_refs_sent = 0
        self.gold_resends = 0
        self.local_fallbacks = 0

    def add(self, **kw: int) -> None:
        with self._lock:
            for k, v in kw.items():
                setattr(self, k, getattr(self, k) + v)

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in self.FIELDS}

    def __repr__(self) -> str:
        return f"ClientStats({self.as_dict()})"


class BaseClient:
    """The settings and transport-independent logic of both clients (like httpx's ``BaseClient``).

    The transport is ``transport`` when given (a :class:`~turnscore_client.transports.Transport` for the sync
    client, an :class:`~turnscore_client.transports.AsyncTransport` for the async one), else the in-process
    one with ``local=True``, else the one :meth:`_open_transport` makes of ``endpoints``, ``api_key``,
    ``timeout`` and ``transport_options`` (HTTP: ``headers``, ``gzip_min_bytes``; an httpx transport passed
    as ``transport`` goes under the HTTP transport).
    """

    _local_transport_class: Any  # the in-process transport of this client's flavour (sync or async)

    def __init__(
        self,
        endpoints: str | Sequence[str] | None = None,
        *,
        api_key: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        max_groups_per_request: int = 64,
        max_concurrency: int = 4,
        gold_refs: bool = True,
        gold_memory_size: int = 65536,
        local: bool = False,
        local_fallback: bool = False,
        transport: Any = None,
        **transport_options: Any,
    ) -> None:
        if max_groups_per_request < 1:
            raise ValueError("max_groups_per_request must be >= 1")
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        self.retry = retry or RetryPolicy()
        self.max_groups_per_request = max_groups_per_request
        self.max_concurrency = max_concurrency
        self.gold_memory: GoldMemory | None = GoldMemory(gold_memory_size) if gold_refs else None
        self.local_fallback = local_fallback
        self.stats = ClientStats()
        self._fallback: Any = None
        self._fallback_lock = threading.Lock()
        if isinstance(transport, (httpx.BaseTransport, httpx.AsyncBaseTransport)):
            transport_options["transport"], transport = transport, None
        if transport is not None:
            if local or endpoints is not None or api_key is not None or transport_options:
                raise ValueError(
                    "transport= replaces local=, the endpoints, api_key and the transport options"
                )
            self.transport = transport
        elif local:
            self.transport = self._local_transport_class()
        else:
            self.transport = self._open_transport(
                endpoints, api_key=api_key, timeout=timeout, **transport_options
            )
        #: whether the service's work runs in this process (``local=True`` or an in-process transport)
        self.local = isinstance(self.transport, (LocalTransport, AsyncLocalTransport))

    def _open_transport(self, endpoints: str | Sequence[str] | None, **options: Any) -> Any:
        """The transport this client class uses by default (HTTP; the gRPC clients choose gRPC)."""
        raise NotImplementedError

    @property
    def urls(self) -> list[str]:
        """The endpoints the transport takes turns over (base URLs, gRPC targets; none in-process)."""
        return list(self.transport.endpoints)

    # -- local fallback ------------------------------------------------------------------------------
    def _falls_back(self, err: TurnScoreError) -> bool:
        """Whether to score in-process after ``err`` (local fallback on, service unreachable); counts it."""
        if not (self.local_fallback and isinstance(err, (ConnectionFailed, ServiceUnavailableError))):
            return False
        log.warning("turnscore: service unreachable (%s); scoring in-process (local fallback)", err)
        self.stats.add(local_fallbacks=1)
        return True

    def _fallback_transport(self) -> Any:
        """The in-process transport of the local fallback, made on first use."""
        with self._fallback_lock:
            if self._fallback is None:
                self._fallback = self._local_transport_class()
            return self._fallback

    # -- bodies --------------------------------------------------------------------------------------
    def _chunks(self, groups: Iterable[Any], refs: bool) -> list[ScoreChunk]:
        gs = normalize_groups(groups)
        memory = self.gold_memory if refs else None
        return [ScoreChunk(c, memory) for c in split(gs, self.max_groups_per_request)]

    def _score_body(self, chunk: ScoreChunk, common: dict[str, Any]) -> dict[str, Any]:
        """The score body for one chunk (gold traces sent before go out as ``gold_ref``)."""
        self.stats.add(gold_refs_sent=chunk.refs_sent)
        return {**common, "groups": chunk.wire_groups()}

    @staticmethod
    def _scored(chunk: ScoreChunk, data: Any) -> dict[str, Any]:
        chunk.learn(data)
        return dict(data)

    def _gold_restored(self, chunk: ScoreChunk, err: UnknownGoldRefError) -> bool:
        """After ``unknown_gold_ref``: whether the chunk now carries the missing golds in full (then it is
        sent once more)."""
        if not chunk.restore(err.missing):
            return False
        self.stats.add(gold_resends=1)
        return True

    def _advantages_bodies(
        self,
        groups: Iterable[Any],
        preset: str | None,
        config: Mapping[str, Any] | str | None,
        step: int | None,
    ) -> list[dict[str, Any]]:
        """One advantages body per chunk of at most ``max_groups_per_request`` groups."""
        common = common_fields(preset, config, step, None)
        return [{**common, "groups": c.groups} for c in self._chunks(groups, refs=False)]

    @staticmethod
    def _openrlhf_body(
        queries: list[str],
        prompts: list[str],
        labels: list[Any],
        preset: str | None,
        config: Mapping[str, Any] | str | None,
        step: int | None,
    ) -> dict[str, Any]:
        body = common_fields(preset, config, step, None)
        queries = sequence_arg(queries, "queries", str)
        prompts = sequence_arg(prompts, "prompts", str)
        labels = sequence_arg(labels, "labels")
        return {**body, "query": queries, "prompts": prompts, "labels": labels}

    # -- retries -------------------------------------------------------------------------------------
    def _new_attempts(self) -> Attempts:
        """The retry bookkeeping of one request (counted)."""
        attempts = Attempts(self.retry)
        self.stats.add(requests=1)
        return attempts

    def _next_attempt(self, attempts: Attempts) -> float | None:
        """Count one more attempt; its timeout: what is left of the deadline (``None``: no deadline)."""
        attempts.count += 1
        self.stats.add(attempts=1)
        left = attempts.remaining()
        return None if left is None else max(0.001, left)

    def _retry_wait(self, attempts: Attempts, err: TurnScoreError) -> float:
        """The wait before the next attempt after ``err``; raises ``err`` when it is not retryable or no
        attempt is left."""
        err.attempts = attempts.count
        wait = attempts.next_wait(getattr(err, "retry_after", None)) if err.retryable else None
        if wait is None:
            raise err
        self.stats.add(retries=1)
        log.info("turnscore: %s from %s; retry %d in %.2fs", err.code, err.url, attempts.count, wait)
        return wait

    # -- health --------------------------------------------------------------------------------------
    @property
    def _probe_timeout(self) -> float:
        return min(5.0, self.retry.deadline or 5.0)


def merged(responses: list[Any]) -> ScoreResponse:
    """The chunks' answers, in request order, as one typed response."""
    return ScoreResponse.from_dict(merge([dict(r) for r in responses]))


def failed_health(err: TurnScoreError) -> Health:
    """A probe that failed: the answer's status and body, or ``(0, why)`` without an answer."""
    if err.status is None:
        return Health(False, 0, err.message)
    return Health(False, err.status, err.body)
