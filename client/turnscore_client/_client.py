"""TurnScoreClient (sync) and AsyncTurnScoreClient: the same typed surface over any transport.

Large batches are split into chunks of at most ``max_groups_per_request`` groups, sent concurrently (at most
``max_concurrency`` in flight); the transport takes turns over its endpoints (base URLs, gRPC targets), so
chunks spread over replicas and a retry goes to the next one. Every request retries with exponential backoff
and jitter (see :class:`RetryPolicy`); gold traces already sent go out as ``gold_ref`` only, with a
transparent full resend on ``unknown_gold_ref``; with ``local_fallback``, in-process scoring when the service
stays unreachable.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Self, TypeVar

from . import settings
from ._base_client import BaseClient, ClientStats, failed_health, merged
from ._chunks import ScoreChunk, common_fields, parse_presets
from .errors import TurnScoreError, UnknownGoldRefError
from .transports.base import AsyncTransport, Operation, Transport
from .transports.http import AsyncHttpTransport, HttpTransport
from .transports.local import AsyncLocalTransport, LocalTransport
from .types import Health, ScoreResponse

__all__ = ["AsyncTurnScoreClient", "ClientStats", "TurnScoreClient"]

T = TypeVar("T")
R = TypeVar("R")


class TurnScoreClient(BaseClient):
    """Synchronous client. Thread-safe; use as a context manager or call :meth:`close`.

    ``base_url``: one URL, several (list or comma-separated; round-robin, failover on retry) or ``None`` for
    ``$TURNSCORE_URL``. ``local=True`` scores in-process (needs the ``turnscore`` package);
    ``local_fallback=True`` does so only when the service stays unreachable after all retries.
    ``transport``: any :class:`~turnscore_client.transports.Transport` instead (the HTTP one by default).
    """

    transport: Transport
    _local_transport_class = LocalTransport
    _pool: ThreadPoolExecutor | None = None  # created on the first concurrent fan-out
    _pool_lock = threading.Lock()  # class-wide: guards only the creation of each client's pool

    def __init__(self, base_url: str | Sequence[str] | None = None, **kwargs: Any) -> None:
        super().__init__(base_url, **kwargs)

    def _open_transport(self, endpoints: str | Sequence[str] | None, **options: Any) -> Transport:
        return HttpTransport(endpoints, max_connections=max(10, 2 * self.max_concurrency), **options)

    @classmethod
    def local_mode(cls, **kwargs: Any) -> Self:
        return cls(None, local=True, **kwargs)

    @classmethod
    def from_env(cls, endpoints: str | Sequence[str] | None = None, **overrides: Any) -> Self:
        """A client configured by ``TURNSCORE_*`` environment variables (:mod:`turnscore_client.settings`)."""
        kwargs = settings.client_kwargs(overrides)
        return cls(**kwargs) if endpoints is None else cls(endpoints, **kwargs)

    def close(self) -> None:
        self.transport.close()
        if self._pool is not None:
            self._pool.shutdown(wait=False)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sending -------------------------------------------------------------------------------------
    def _send(self, operation: Operation, body: Any = None) -> Any:
        """``operation`` with retries; in-process instead when the local fallback applies."""
        try:
            return self._with_retries(operation, body)
        except TurnScoreError as err:
            if not self._falls_back(err):
                raise
        local = self._fallback_transport()
        return local.call(operation, local.prepare(operation, body), None)

    def _with_retries(self, operation: Operation, body: Any) -> Any:
        request = self.transport.prepare(operation, body)
        attempts = self._new_attempts()
        while True:
            timeout = self._next_attempt(attempts)
            try:
                return self.transport.call(operation, request, timeout)
            except TurnScoreError as err:
                wait = self._retry_wait(attempts, err)
            time.sleep(wait)

    def _map(self, fn: Callable[[T], R], items: list[T]) -> list[R]:
        if len(items) == 1 or self.max_concurrency == 1:
            return [fn(x) for x in items]
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="turnscore")
        futures = [self._pool.submit(fn, x) for x in items]
        try:
            return [f.result() for f in futures]
        except BaseException:
            for f in futures:  # one chunk failed for good: do not send the ones not started yet
                f.cancel()
            raise

    def _score_chunk(self, chunk: ScoreChunk, common: dict[str, Any]) -> dict[str, Any]:
        try:
            data = self._send(Operation.SCORE, self._score_body(chunk, common))
        except UnknownGoldRefError as e:
            if not self._gold_restored(chunk, e):
                raise
        else:
            return self._scored(chunk, data)
        data = self._send(Operation.SCORE, self._score_body(chunk, common))
        return self._scored(chunk, data)

    # -- API -----------------------------------------------------------------------------------------
    def score(
        self,
        groups: Iterable[Mapping[str, Any]],
        *,
        preset: str | None = None,
        config: Mapping[str, Any] | str | None = None,
        step: int | None = None,
        explain: bool | str = False,
    ) -> ScoreResponse:
        """``POST /v1/score`` for any number of groups (API.md group dicts); results in request order.
        ``explain=True``: per-call ``matches``; ``"matrix"``: also each rollout's similarity ``matrix``."""
        common = common_fields(preset, config, step, explain)
        chunks = self._chunks(groups, refs=True)
        return merged(self._map(lambda c: self._score_chunk(c, common), chunks))

    def advantages(
        self,
        groups: Iterable[Mapping[str, Any]],
        *,
        preset: str | None = None,
        config: Mapping[str, Any] | str | None = None,
        step: int | None = None,
    ) -> ScoreResponse:
        """``POST /v1/advantages``: groups of ``{"id", "rollouts": [{"turn_rewards", "outcome_reward"}]}``."""
        bodies = self._advantages_bodies(groups, preset, config, step)
        return merged(self._map(lambda b: self._send(Operation.ADVANTAGES, b), bodies))

    def presets(self) -> dict[str, dict[str, Any]]:
        """``GET /v1/presets``: ``{name: resolved settings}``."""
        return parse_presets(self._send(Operation.PRESETS))

    def openrlhf(
        self,
        queries: list[str],
        prompts: list[str],
        labels: list[Any],
        *,
        preset: str | None = None,
        config: Mapping[str, Any] | str | None = None,
        step: int | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/openrlhf`` (OpenRLHF's remote-RM shape): ``{"rewards", "scores", "extra_logs"}``.
        HTTP only (the OpenRLHF mapping lives in the service)."""
        body = self._openrlhf_body(queries, prompts, labels, preset, config, step)
        return dict(self._send(Operation.OPENRLHF, body))

    def health(self, *, ready: bool = False) -> Health:
        """One probe (no retry) of ``/healthz`` (or ``/readyz``; gRPC: ``grpc.health.v1``) on the next
        endpoint."""
        operation = Operation.READY if ready else Operation.HEALTH
        try:
            body = self.transport.call(
                operation, self.transport.prepare(operation, None), self._probe_timeout
            )
        except TurnScoreError as err:
            return failed_health(err)
        return Health(True, 200, body)


class AsyncTurnScoreClient(BaseClient):
    """Asynchronous twin of :class:`TurnScoreClient` (same arguments, same methods, awaitable; ``transport``:
    an :class:`~turnscore_client.transports.AsyncTransport`)."""

    transport: AsyncTransport
    _local_transport_class = AsyncLocalTransport

    def __init__(self, base_url: str | Sequence[str] | None = None, **kwargs: Any) -> None:
        super().__init__(base_url, **kwargs)

    def _open_transport(self, endpoints: str | Sequence[str] | None, **options: Any) -> AsyncTransport:
        return AsyncHttpTransport(endpoints, max_connections=max(10, 2 * self.max_concurrency), **options)

    @classmethod
    def local_mode(cls, **kwargs: Any) -> Self:
        return cls(None, local=True, **kwargs)

    @classmethod
    def from_env(cls, endpoints: str | Sequence[str] | None = None, **overrides: Any) -> Self:
        """A client configured by ``TURNSCORE_*`` environment variables (:mod:`turnscore_client.settings`)."""
        kwargs = settings.client_kwargs(overrides)
        return cls(**kwargs) if endpoints is None else cls(endpoints, **kwargs)

    async def aclose(self) -> None:
        await self.transport.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _send(self, operation: Operation, body: Any = None) -> Any:
        try:
            return await self._with_retries(operation, body)
        except TurnScoreError as err:
            if not self._falls_back(err):
                raise
        local = self._fallback_transport()
        return await local.call(operation, local.prepare(operation, body), None)

    async def _with_retries(self, operation: Operation, body: Any) -> Any:
        request = self.transport.prepare(operation, body)
        attempts = self._new_attempts()
        while True:
            timeout = self._next_attempt(attempts)
            try:
                return await self.transport.call(operation, request, timeout)
            except TurnScoreError as err:
                wait = self._retry_wait(attempts, err)
            await asyncio.sleep(wait)

    async def _map(self, fn: Callable[[T], Awaitable[R]], items: list[T]) -> list[R]:
        if len(items) == 1:
            return [await fn(items[0])]
        sem = asyncio.Semaphore(self.max_concurrency)

        async def one(x: T) -> R:
            async with sem:
                return await fn(x)

        tasks = [asyncio.ensure_future(one(x)) for x in items]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for t in tasks:  # one chunk failed for good: stop the others
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def _score_chunk(self, chunk: ScoreChunk, common: dict[str, Any]) -> dict[str, Any]:
        try:
            data = await self._send(Operation.SCORE, self._score_body(chunk, common))
        except UnknownGoldRefError as e:
            if not self._gold_restored(chunk, e):
                raise
        else:
            return self._scored(chunk, data)
        data = await self._send(Operation.SCORE, self._score_body(chunk, common))
        return self._scored(chunk, data)

    async def score(
        self,
        groups: Iterable[Mapping[str, Any]],
        *,
        preset: str | None = None,
        config: Mapping[str, Any] | str | None = None,
        step: int | None = None,
        explain: bool | str = False,
    ) -> ScoreResponse:
        common = common_fields(preset, config, step, explain)
        chunks = self._chunks(groups, refs=True)
        return merged(await self._map(lambda c: self._score_chunk(c, common), chunks))

    async def advantages(
        self,
        groups: Iterable[Mapping[str, Any]],
        *,
        preset: str | None = None,
        config: Mapping[str, Any] | str | None = None,
        step: int | None = None,
    ) -> ScoreResponse:
        bodies = self._advantages_bodies(groups, preset, config, step)
        return merged(await self._map(lambda b: self._send(Operation.ADVANTAGES, b), bodies))

    async def presets(self) -> dict[str, dict[str, Any]]:
        return parse_presets(await self._send(Operation.PRESETS))

    async def openrlhf(
        self,
        queries: list[str],
        prompts: list[str],
        labels: list[Any],
        *,
        preset: str | None = None,
        config: Mapping[str, Any] | str | None = None,
        step: int | None = None,
    ) -> dict[str, Any]:
        body = self._openrlhf_body(queries, prompts, labels, preset, config, step)
        return dict(await self._send(Operation.OPENRLHF, body))

    async def health(self, *, ready: bool = False) -> Health:
        operation = Operation.READY if ready else Operation.HEALTH
        try:
            request = self.transport.prepare(operation, None)
            body = await self.transport.call(operation, request, self._probe_timeout)
        except TurnScoreError as err:
            return failed_health(err)
        return Health(True, 200, body)
