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
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
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
    loads,
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
        return loads(resp.content)
    except ValueError:  # json.JSONDecodeError and orjson.JSONDecodeError
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


_Outcome = tuple[bool, Any]
"""What one attempt came to: ``(True, result)``, or ``(False, seconds to wait before the next attempt)``."""


class _Common:
    """Settings and the transport-independent request logic shared by both clients: request bodies, chunking,
    retry decisions, error mapping, local fallback, response merging. The sync and async classes add only
    the sending, sleeping and fan-out."""

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

    def _http_options(self, transport: Any) -> dict[str, Any]:
        """Arguments of the ``httpx.Client`` / ``httpx.AsyncClient``."""
        return {
            "timeout": self.timeout,
            "headers": self.headers,
            "transport": transport,
            "limits": httpx.Limits(max_connections=max(10, 2 * self.max_concurrency)),
        }

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

    def _falls_back(self, err: TurnScoreError) -> bool:
        """Whether to score in-process after ``err`` (local fallback on, service unreachable); counts it."""
        if not (self.local_fallback and self._fallback_worthy(err)):
            return False
        log.warning("turnscore: service unreachable (%s); scoring in-process (local fallback)", err)
        self.stats.add(local_fallbacks=1)
        return True

    # -- bodies --------------------------------------------------------------------------------------
    def _chunks(self, groups: Iterable[Any], refs: bool) -> list[ScoreChunk]:
        gs = normalize_groups(groups)
        memory = self.gold_memory if refs else None
        return [ScoreChunk(c, memory) for c in split(gs, self.max_groups_per_request)]

    def _score_body(self, chunk: ScoreChunk, common: dict[str, Any]) -> dict[str, Any]:
        """The ``/v1/score`` body for one chunk (gold traces sent before go out as ``gold_ref``)."""
        self.stats.add(gold_refs_sent=chunk.refs_sent)
        return {**common, "groups": chunk.wire_groups()}

    @staticmethod
    def _scored(chunk: ScoreChunk, data: Any) -> dict[str, Any]:
        chunk.learn(data)
        return dict(data)

    def _gold_restored(self, chunk: ScoreChunk, err: UnknownGoldRefError) -> bool:
        """After a 409 ``unknown_gold_ref``: whether the chunk now carries the missing golds in full
        (then it is sent once more)."""
        if not chunk.restore(err.missing):
            return False
        self.stats.add(gold_resends=1)
        return True

    def _advantages_bodies(
        self, groups: Iterable[Any], preset: str | None, config: Mapping[str, Any] | None, step: int | None
    ) -> list[dict[str, Any]]:
        """One ``/v1/advantages`` body per chunk of at most ``max_groups_per_request`` groups."""
        common = common_fields(preset, config, step, None)
        return [{**common, "groups": c.groups} for c in self._chunks(groups, refs=False)]

    def _openrlhf_body(
        self,
        queries: list[str],
        prompts: list[str],
        labels: list[Any],
        preset: str | None,
        config: Mapping[str, Any] | None,
        step: int | None,
    ) -> dict[str, Any]:
        if self.local:
            raise _openrlhf_unavailable()
        body = common_fields(preset, config, step, None)
        return {**body, "query": queries, "prompts": prompts, "labels": labels}

    # -- retries -------------------------------------------------------------------------------------
    def _new_attempts(self) -> Attempts:
        """The retry bookkeeping of one request (counted)."""
        attempts = Attempts(self.retry)
        self.stats.add(requests=1)
        return attempts

    def _next_attempt(self, attempts: Attempts) -> str:
        """Count one more attempt and pick its base URL (or gRPC target), round-robin."""
        assert self._ring is not None
        target = self._ring.next()
        attempts.count += 1
        self.stats.add(attempts=1)
        return target

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

    def _transport_failed(self, attempts: Attempts, url: str, e: httpx.TransportError) -> _Outcome:
        """No answer: retry after the wait, or raise :class:`ConnectionFailed` when no attempt is left."""
        err = ConnectionFailed(f"{type(e).__name__}: {e}", url=url)
        return False, self._attempt_failed(attempts, err, None)

    def _http_outcome(self, attempts: Attempts, url: str, resp: httpx.Response) -> _Outcome:
        """An answer: its decoded body, a retry after the wait, or its typed error raised."""
        if resp.status_code < 400:
            return True, _decode(resp)
        err, retryable, retry_after = self._classify(url, resp)
        if not retryable:
            err.attempts = attempts.count
            raise err
        return False, self._attempt_failed(attempts, err, retry_after)

    # -- health --------------------------------------------------------------------------------------
    @property
    def _probe_timeout(self) -> float:
        return min(5.0, self.retry.deadline or 5.0)

    def _health_url(self, ready: bool) -> str:
        assert self._ring is not None
        return self._ring.next() + ("/readyz" if ready else "/healthz")


def _openrlhf_unavailable() -> TurnScoreError:
    return TurnScoreError("/v1/openrlhf is served by the HTTP service only", code="not_available")


def _merged(responses: list[Any]) -> ScoreResponse:
    """The chunks' answers, in request order, as one typed response."""
    return ScoreResponse.from_dict(merge([dict(r) for r in responses]))


def _local_health() -> Health:
    return Health(True, 200, {"status": "ok", "mode": "local"})


def _http_health(resp: httpx.Response) -> Health:
    return Health(resp.status_code < 300, resp.status_code, _decode(resp))


def _no_health(e: Exception) -> Health:
    return Health(False, 0, f"{type(e).__name__}: {e}")


class TurnScoreClient(_Common):
    """Synchronous client. Thread-safe; use as a context manager or call :meth:`close`.

    ``base_url``: one URL, several (list or comma-separated; round-robin, failover on retry) or ``None`` for
    ``$TURNSCORE_URL``. ``local=True`` scores in-process (needs the ``turnscore`` package);
    ``local_fallback=True`` does so only when the service stays unreachable after all retries.
    """

    _pool: ThreadPoolExecutor | None = None  # created on the first concurrent fan-out
    _pool_lock = threading.Lock()  # class-wide: guards only the creation of each client's pool

    def __init__(self, base_url: str | Sequence[str] | None = None, **kwargs: Any) -> None:
        transport = kwargs.pop("transport", None)
        super().__init__(base_url, **kwargs)
        self._http = httpx.Client(**self._http_options(transport))

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
            if self._falls_back(err):
                return self._local_call(method, path, body)
            raise

    def _with_retries(self, attempt: Callable[[str, Attempts], _Outcome]) -> Any:
        """Run ``attempt(base URL or target, attempts)`` until it has a result (it raises on giving up)."""
        attempts = self._new_attempts()
        while True:
            done, value = attempt(self._next_attempt(attempts), attempts)
            if done:
                return value
            time.sleep(value)

    def _request_http(self, method: str, path: str, body: Any) -> Any:
        content, headers = encode_body(body, self.gzip_min_bytes) if body is not None else (None, {})

        def attempt(base: str, attempts: Attempts) -> _Outcome:
            url, timeout = base + path, self._attempt_timeout(attempts)
            try:
                resp = self._http.request(method, url, content=content, headers=headers, timeout=timeout)
            except httpx.TransportError as e:
                return self._transport_failed(attempts, url, e)
            return self._http_outcome(attempts, url, resp)

        return self._with_retries(attempt)

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
        try:
            data = self._request("POST", "/v1/score", self._score_body(chunk, common))
        except UnknownGoldRefError as e:
            if not self._gold_restored(chunk, e):
                raise
        else:
            return self._scored(chunk, data)
        data = self._request("POST", "/v1/score", self._score_body(chunk, common))
        return self._scored(chunk, data)

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
        return _merged(self._map(lambda c: self._score_chunk(c, common), chunks))

    def advantages(
        self,
        groups: Iterable[Mapping[str, Any]],
        *,
        preset: str | None = None,
        config: Mapping[str, Any] | None = None,
        step: int | None = None,
    ) -> ScoreResponse:
        """``POST /v1/advantages``: groups of ``{"id", "rollouts": [{"turn_rewards", "outcome_reward"}]}``."""
        bodies = self._advantages_bodies(groups, preset, config, step)
        return _merged(self._map(lambda b: self._request("POST", "/v1/advantages", b), bodies))

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
        body = self._openrlhf_body(queries, prompts, labels, preset, config, step)
        return dict(self._request("POST", "/v1/openrlhf", body))

    def health(self, *, ready: bool = False) -> Health:
        """One probe (no retry) of ``/healthz`` (or ``/readyz``) on the next base URL."""
        if self.local:
            self._local_backend()
            return _local_health()
        try:
            resp = self._http.get(self._health_url(ready), timeout=self._probe_timeout)
        except httpx.TransportError as e:
            return _no_health(e)
        return _http_health(resp)


class AsyncTurnScoreClient(_Common):
    """Asynchronous twin of :class:`TurnScoreClient` (same arguments, same methods, awaitable)."""

    def __init__(self, base_url: str | Sequence[str] | None = None, **kwargs: Any) -> None:
        transport = kwargs.pop("transport", None)
        super().__init__(base_url, **kwargs)
        self._http = httpx.AsyncClient(**self._http_options(transport))

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
            if self._falls_back(err):
                return await asyncio.to_thread(self._local_call, method, path, body)
            raise

    async def _with_retries(self, attempt: Callable[[str, Attempts], Awaitable[_Outcome]]) -> Any:
        attempts = self._new_attempts()
        while True:
            done, value = await attempt(self._next_attempt(attempts), attempts)
            if done:
                return value
            await asyncio.sleep(value)

    async def _request_http(self, method: str, path: str, body: Any) -> Any:
        content, headers = encode_body(body, self.gzip_min_bytes) if body is not None else (None, {})

        async def attempt(base: str, attempts: Attempts) -> _Outcome:
            url, timeout = base + path, self._attempt_timeout(attempts)
            try:
                resp = await self._http.request(
                    method, url, content=content, headers=headers, timeout=timeout
                )
            except httpx.TransportError as e:
                return self._transport_failed(attempts, url, e)
            return self._http_outcome(attempts, url, resp)

        return await self._with_retries(attempt)

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
        try:
            data = await self._request("POST", "/v1/score", self._score_body(chunk, common))
        except UnknownGoldRefError as e:
            if not self._gold_restored(chunk, e):
                raise
        else:
            return self._scored(chunk, data)
        data = await self._request("POST", "/v1/score", self._score_body(chunk, common))
        return self._scored(chunk, data)

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
        return _merged(await self._map(lambda c: self._score_chunk(c, common), chunks))

    async def advantages(
        self,
        groups: Iterable[Mapping[str, Any]],
        *,
        preset: str | None = None,
        config: Mapping[str, Any] | None = None,
        step: int | None = None,
    ) -> ScoreResponse:
        bodies = self._advantages_bodies(groups, preset, config, step)
        return _merged(await self._map(lambda b: self._request("POST", "/v1/advantages", b), bodies))

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
        body = self._openrlhf_body(queries, prompts, labels, preset, config, step)
        return dict(await self._request("POST", "/v1/openrlhf", body))

    async def health(self, *, ready: bool = False) -> Health:
        if self.local:
            await asyncio.to_thread(self._local_backend)
            return _local_health()
        try:
            resp = await self._http.get(self._health_url(ready), timeout=self._probe_timeout)
        except httpx.TransportError as e:
            return _no_health(e)
        return _http_health(resp)
