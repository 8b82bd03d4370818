"""TurnScoreClient (sync) and AsyncTurnScoreClient: the same typed surface over httpx.

Large batches are split into chunks of at most ``max_groups_per_request`` groups, sent concurrently
(at most ``max_concurrency`` in flight) round-robin over the base URLs; every request retries with
exponential backoff and jitter (see :class:`RetryPolicy`); gold traces already sent go out as ``gold_ref``
only, with a transparent full resend on 409 ``unknown_gold_ref``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from ._base import (
    USER_AGENT,
    GoldMemory,
    ScoreChunk,
    UrlRing,
    common_fields,
    encode_body,
    merge,
    normalize_groups,
    parse_presets,
    parse_urls,
    split,
)
from ._retry import RETRY_STATUSES, Attempts, RetryPolicy, parse_retry_after
from .errors import (
    ConnectionFailed,
    ServiceUnavailableError,
    TurnScoreError,
    UnknownGoldRefError,
    error_from_response,
)
from .local import LocalBackend
from .types import Health, ScoreResponse

__all__ = ["AsyncTurnScoreClient", "ClientStats", "TurnScoreClient"]

log = logging.getLogger("turnscore_client")

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=5.0)


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


def _decode(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return resp.text


def _env_kwargs(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Client settings from ``TURNSCORE_*`` environment variables (explicit ``overrides`` win).

    ``TURNSCORE_URL`` (comma-separated), ``TURNSCORE_API_KEY``, ``TURNSCORE_TIMEOUT`` (seconds per attempt),
    ``TURNSCORE_MAX_ATTEMPTS``, ``TURNSCORE_DEADLINE`` (seconds per request, retries included),
    ``TURNSCORE_MAX_GROUPS_PER_REQUEST``, ``TURNSCORE_MAX_CONCURRENCY``, ``TURNSCORE_LOCAL=1`` (in-process),
    ``TURNSCORE_LOCAL_FALLBACK=1`` (in-process only when the service stays unreachable).
    """
    env = os.environ
    kw: dict[str, Any] = {}
    if env.get("TURNSCORE_TIMEOUT"):
        t = float(env["TURNSCORE_TIMEOUT"])
        kw["timeout"] = httpx.Timeout(t, connect=min(5.0, t))
    policy: dict[str, Any] = {}
    if env.get("TURNSCORE_MAX_ATTEMPTS"):
        policy["max_attempts"] = int(env["TURNSCORE_MAX_ATTEMPTS"])
    if env.get("TURNSCORE_DEADLINE"):
        policy["deadline"] = float(env["TURNSCORE_DEADLINE"])
    if policy:
        kw["retry"] = RetryPolicy(**policy)
    for name, key in (
        ("TURNSCORE_MAX_GROUPS_PER_REQUEST", "max_groups_per_request"),
        ("TURNSCORE_MAX_CONCURRENCY", "max_concurrency"),
    ):
        if env.get(name):
            kw[key] = int(env[name])
    for name, key in (("TURNSCORE_LOCAL", "local"), ("TURNSCORE_LOCAL_FALLBACK", "local_fallback")):
        if env.get(name):
            kw[key] = env[name].strip().lower() in ("1", "true", "yes", "on")
    kw.update(overrides)
    return kw


class _Common:
    """Settings and the transport-independent request logic shared by both clients."""

    def __init__(
        self,
        base_url: str | Sequence[str] | None = None,
        *,
        api_key: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        max_groups_per_request: int = 64,
        max_concurrency: int = 4,
        gold_refs: bool = True,
        gold_memory_size: int = 65536,
        gzip_min_bytes: int | None = None,
        local: bool = False,
        local_fallback: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if max_groups_per_request < 1:
            raise ValueError("max_groups_per_request must be >= 1")
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        self.local = local
        self.urls = [] if local else parse_urls(base_url)
        self._ring = UrlRing(self.urls) if self.urls else None
        self.retry = retry or RetryPolicy()
        self.max_groups_per_request = max_groups_per_request
        self.max_concurrency = max_concurrency
        self.gold_memory: GoldMemory | None = GoldMemory(gold_memory_size) if gold_refs else None
        self.gzip_min_bytes = gzip_min_bytes
        self.local_fallback = local_fallback
        self.stats = ClientStats()
        self.timeout = timeout
        api_key = api_key if api_key is not None else os.environ.get("TURNSCORE_API_KEY")
        self.headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        self.headers.update(headers or {})
        self._local: LocalBackend | None = LocalBackend() if local else None
        self._local_lock = threading.Lock()

    # -- local backend -------------------------------------------------------------------------------
    def _local_backend(self) -> LocalBackend:
        with self._local_lock:
            if self._local is None:
                self._local = LocalBackend()
            return self._local

    def _local_call(self, method: str, path: str, body: Any) -> Any:
        status, data = self._local_backend().request(method, path, body)
        if status >= 400:
            raise error_from_response(status, data, url=f"local:{path}")
        return data

    @staticmethod
    def _fallback_worthy(err: TurnScoreError) -> bool:
        return isinstance(err, (ConnectionFailed, ServiceUnavailableError))

    # -- bodies --------------------------------------------------------------------------------------
    def _chunks(self, groups: Iterable[Any], refs: bool) -> list[ScoreChunk]:
        gs = normalize_groups(groups)
        memory = self.gold_memory if refs else None
        return [ScoreChunk(c, memory) for c in split(gs, self.max_groups_per_request)]

    def _attempt_failed(self, attempts: Attempts, err: TurnScoreError, retry_after: float | None) -> float:
        """Wait before the next attempt, or raise ``err`` when none is left."""
        err.attempts = attempts.count
        wait = attempts.next_wait(retry_after)
        if wait is None:
            raise err
        self.stats.add(retries=1)
        log.info("turnscore: %s from %s; retry %d in %.2fs", err.code, err.url, attempts.count, wait)
        return wait

    def _attempt_timeout(self, attempts: Attempts) -> Any:
        left = attempts.remaining()
        if left is None:
            return httpx.USE_CLIENT_DEFAULT
        base = self.timeout if isinstance(self.timeout, httpx.Timeout) else httpx.Timeout(self.timeout)
        read = base.read if base.read is not None else left
        return httpx.Timeout(
            connect=min(base.connect or left, left), read=min(read, left), write=base.write, pool=base.pool
        )

    def _classify(self, url: str, resp: httpx.Response) -> tuple[TurnScoreError, bool, float | None]:
        retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        err = error_from_response(resp.status_code, _decode(resp), url=url, retry_after=retry_after)
        return err, resp.status_code in RETRY_STATUSES, retry_after


class TurnScoreClient(_Common):
    """Synchronous client. Thread-safe; use as a context manager or call :meth:`close`.

    ``base_url``: one URL, several (list or comma-separated; round-robin, failover on retry) or ``None`` for
    ``$TURNSCORE_URL``. ``local=True`` scores in-process (needs the ``turnscore`` package);
    ``local_fallback=True`` does so only when the service stays unreachable after all retries.
    """

    def __init__(self, base_url: str | Sequence[str] | None = None, **kwargs: Any) -> None:
        transport = kwargs.pop("transport", None)
        super().__init__(base_url, **kwargs)
        self._http = httpx.Client(
            timeout=self.timeout,
            headers=self.headers,
            transport=transport,
            limits=httpx.Limits(max_connections=max(10, 2 * self.max_concurrency)),
        )
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    @classmethod
    def local_mode(cls, **kwargs: Any) -> TurnScoreClient:
        return cls(None, local=True, **kwargs)

    @classmethod
    def from_env(cls, base_url: str | Sequence[str] | None = None, **overrides: Any) -> TurnScoreClient:
        """A client configured by ``TURNSCORE_*`` environment variables (see the README)."""
        return cls(base_url, **_env_kwargs(overrides))

    def close(self) -> None:
        self._http.close()
        if self._pool is not None:
            self._pool.shutdown(wait=False)

    def __enter__(self) -> TurnScoreClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport -----------------------------------------------------------------------------------
    def _request(self, method: str, path: str, body: Any = None) -> Any:
        if self.local:
            return self._local_call(method, path, body)
        try:
            return self._request_http(method, path, body)
        except TurnScoreError as err:
            if self.local_fallback and self._fallback_worthy(err):
                log.warning("turnscore: service unreachable (%s); scoring in-process (local fallback)", err)
                self.stats.add(local_fallbacks=1)
                return self._local_call(method, path, body)
            raise

    def _request_http(self, method: str, path: str, body: Any) -> Any:
        assert self._ring is not None
        content, headers = encode_body(body, self.gzip_min_bytes) if body is not None else (None, {})
        attempts = Attempts(self.retry)
        self.stats.add(requests=1)
        while True:
            url = self._ring.next() + path
            attempts.count += 1
            self.stats.add(attempts=1)
            timeout = self._attempt_timeout(attempts)
            try:
                resp = self._http.request(method, url, content=content, headers=headers, timeout=timeout)
            except httpx.TransportError as e:
                err: TurnScoreError = ConnectionFailed(f"{type(e).__name__}: {e}", url=url)
                time.sleep(self._attempt_failed(attempts, err, None))
                continue
            if resp.status_code < 400:
                return _decode(resp)
            err, retryable, retry_after = self._classify(url, resp)
            if not retryable:
                err.attempts = attempts.count
                raise err
            time.sleep(self._attempt_failed(attempts, err, retry_after))

    def _map(self, fn: Any, items: list[Any]) -> list[Any]:
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
        for resend in (False, True):
            self.stats.add(gold_refs_sent=chunk.refs_sent)
            try:
                data = self._request("POST", "/v1/score", {**common, "groups": chunk.wire_groups()})
            except UnknownGoldRefError as e:
                if not resend and chunk.restore(e.missing):
                    self.stats.add(gold_resends=1)
                    continue
                raise
            chunk.learn(data)
            return dict(data)
        raise AssertionError("unreachable")

    # -- API -----------------------------------------------------------------------------------------
    def score(
        self,
        groups: Iterable[Mapping[str, Any]],
        *,
        preset: str | None = None,
        config: Mapping[str, Any] | None = None,
        step: int | None = None,
        explain: bool = False,
    ) -> ScoreResponse:
        """``POST /v1/score`` for any number of groups (API.md group dicts); results in request order."""
        common = common_fields(preset, config, step, explain)
        chunks = self._chunks(groups, refs=True)
        return ScoreResponse.from_dict(merge(self._map(lambda c: self._score_chunk(c, common), chunks)))

    def advantages(
        self,
        groups: Iterable[Mapping[str, Any]],
        *,
        preset: str | None = None,
        config: Mapping[str, Any] | None = None,
        step: int | None = None,
    ) -> ScoreResponse:
        """``POST /v1/advantages``: groups of ``{"id", "rollouts": [{"turn_rewards", "outcome_reward"}]}``."""
        common = common_fields(preset, config, step, None)
        chunks = self._chunks(groups, refs=False)

        def one(c: ScoreChunk) -> dict[str, Any]:
            return dict(self._request("POST", "/v1/advantages", {**common, "groups": c.groups}))

        return ScoreResponse.from_dict(merge(self._map(one, chunks)))

    def presets(self) -> dict[str, dict[str, Any]]:
        """``GET /v1/presets``: ``{name: resolved settings}``."""
        return parse_presets(self._request("GET", "/v1/presets"))

    def openrlhf(
        self,
        queries: list[str],
        prompts: list[str],
        labels: list[Any],
        *,
        preset: str | None = None,
        config: Mapping[str, Any] | None = None,
        step: int | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/openrlhf`` (OpenRLHF's remote-RM shape): ``{"rewards", "scores", "extra_logs"}``.
        HTTP only (the OpenRLHF mapping lives in the service)."""
        if self.local:
            raise TurnScoreError("/v1/openrlhf is served by the HTTP service only", code="not_available")
        body = {
            **common_fields(preset, config, step, None),
            "query": queries,
            "prompts": prompts,
            "labels": labels,
        }
        return dict(self._request("POST", "/v1/openrlhf", body))

    def health(self, *, ready: bool = False) -> Health:
        """One probe (no retry) of ``/healthz`` (or ``/readyz``) on the next base URL."""
        path = "/readyz" if ready else "/healthz"
        if self.local:
            self._local_backend()
            return Health(True, 200, {"status": "ok", "mode": "local"})
        assert self._ring is not None
        url = self._ring.next() + path
        try:
            resp = self._http.get(url, timeout=min(5.0, self.retry.deadline or 5.0))
        except httpx.TransportError as e:
            return Health(False, 0, f"{type(e).__name__}: {e}")
        return Health(resp.status_code < 300, resp.status_code, _decode(resp))


class AsyncTurnScoreClient(_Common):
    """Asynchronous twin of :class:`TurnScoreClient` (same arguments, same methods, awaitable)."""

    def __init__(self, base_url: str | Sequence[str] | None = None, **kwargs: Any) -> None:
        transport = kwargs.pop("transport", None)
        super().__init__(base_url, **kwargs)
        self._http = httpx.AsyncClient(
            timeout=self.timeout,
            headers=self.headers,
            transport=transport,
            limits=httpx.Limits(max_connections=max(10, 2 * self.max_concurrency)),
        )

    @classmethod
    def local_mode(cls, **kwargs: Any) -> AsyncTurnScoreClient:
        return cls(None, local=True, **kwargs)

    @classmethod
    def from_env(cls, base_url: str | Sequence[str] | None = None, **overrides: Any) -> AsyncTurnScoreClient:
        """A client configured by ``TURNSCORE_*`` environment variables (see the README)."""
        return cls(base_url, **_env_kwargs(overrides))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncTurnScoreClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _request(self, method: str, path: str, body: Any = None) -> Any:
        if self.local:
            return await asyncio.to_thread(self._local_call, method, path, body)
        try:
            return await self._request_http(method, path, body)
        except TurnScoreError as err:
            if self.local_fallback and self._fallback_worthy(err):
                log.warning("turnscore: service unreachable (%s); scoring in-process (local fallback)", err)
                self.stats.add(local_fallbacks=1)
                return await asyncio.to_thread(self._local_call, method, path, body)
            raise

    async def _request_http(self, method: str, path: str, body: Any) -> Any:
        assert self._ring is not None
        content, headers = encode_body(body, self.gzip_min_bytes) if body is not None else (None, {})
        attempts = Attempts(self.retry)
        self.stats.add(requests=1)
        while True:
            url = self._ring.next() + path
            attempts.count += 1
            self.stats.add(attempts=1)
            timeout = self._attempt_timeout(attempts)
            try:
                resp = await self._http.request(
                    method, url, content=content, headers=headers, timeout=timeout
                )
            except httpx.TransportError as e:
                err: TurnScoreError = ConnectionFailed(f"{type(e).__name__}: {e}", url=url)
                await asyncio.sleep(self._attempt_failed(attempts, err, None))
                continue
            if resp.status_code < 400:
                return _decode(resp)
            err, retryable, retry_after = self._classify(url, resp)
            if not retryable:
                err.attempts = attempts.count
                raise err
            await asyncio.sleep(self._attempt_failed(attempts, err, retry_after))

    async def _map(self, fn: Any, items: list[Any]) -> list[Any]:
        if len(items) == 1:
            return [await fn(items[0])]
        sem = asyncio.Semaphore(self.max_concurrency)

        async def one(x: Any) -> Any:
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
        for resend in (False, True):
            self.stats.add(gold_refs_sent=chunk.refs_sent)
            try:
                data = await self._request("POST", "/v1/score", {**common, "groups": chunk.wire_groups()})
            except UnknownGoldRefError as e:
                if not resend and chunk.restore(e.missing):
                    self.stats.add(gold_resends=1)
                    continue
                raise
            chunk.learn(data)
            return dict(data)
        raise AssertionError("unreachable")

    async def score(
        self,
        groups: Iterable[Mapping[str, Any]],
        *,
        preset: str | None = None,
        config: Mapping[str, Any] | None = None,
        step: int | None = None,
        explain: bool = False,
    ) -> ScoreResponse:
        common = common_fields(preset, config, step, explain)
        chunks = self._chunks(groups, refs=True)
        return ScoreResponse.from_dict(merge(await self._map(lambda c: self._score_chunk(c, common), chunks)))

    async def advantages(
        self,
        groups: Iterable[Mapping[str, Any]],
        *,
        preset: str | None = None,
        config: Mapping[str, Any] | None = None,
        step: int | None = None,
    ) -> ScoreResponse:
        common = common_fields(preset, config, step, None)
        chunks = self._chunks(groups, refs=False)

        async def one(c: ScoreChunk) -> dict[str, Any]:
            return dict(await self._request("POST", "/v1/advantages", {**common, "groups": c.groups}))

        return ScoreResponse.from_dict(merge(await self._map(one, chunks)))

    async def presets(self) -> dict[str, dict[str, Any]]:
        return parse_presets(await self._request("GET", "/v1/presets"))

    async def openrlhf(
        self,
        queries: list[str],
        prompts: list[str],
        labels: list[Any],
        *,
        preset: str | None = None,
        config: Mapping[str, Any] | None = None,
        step: int | None = None,
    ) -> dict[str, Any]:
        if self.local:
            raise TurnScoreError("/v1/openrlhf is served by the HTTP service only", code="not_available")
        body = {
            **common_fields(preset, config, step, None),
            "query": queries,
            "prompts": prompts,
            "labels": labels,
        }
        return dict(await self._request("POST", "/v1/openrlhf", body))

    async def health(self, *, ready: bool = False) -> Health:
        path = "/readyz" if ready else "/healthz"
        if self.local:
            await asyncio.to_thread(self._local_backend)
            return Health(True, 200, {"status": "ok", "mode": "local"})
        assert self._ring is not None
        url = self._ring.next() + path
        try:
            resp = await self._http.get(url, timeout=min(5.0, self.retry.deadline or 5.0))
        except httpx.TransportError as e:
            return Health(False, 0, f"{type(e).__name__}: {e}")
        return Health(resp.status_code < 300, resp.status_code, _decode(resp))
