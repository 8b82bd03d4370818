"""Gold-trace cache: tier 1 an in-process LRU, tier 2 Redis (optional, shared by replicas).

Keys are ``gold_ref`` strings (``"sha256:<hex>"``); tier 2 stores ``CompiledGold.to_json()`` under
``<redis_key_prefix><gold_ref>`` with a jittered TTL.

Redis is strictly optional and never fails a request: every operation has a hard budget
(``redis_timeout``); the first error or timeout opens a circuit breaker (Redis marked unhealthy, requests
use tier 1 only, no more Redis round trips), and a background task probes Redis with ``PING`` every
``redis_retry_interval`` seconds until it answers, then closes the circuit. While the circuit is closed the
same task pings every ``redis_health_interval`` seconds whatever the traffic, so a dead Redis is reported
(``/readyz``, ``turnscore_redis_healthy``) within seconds even when every lookup is a tier-1 hit. Values
that are not valid traces (garbage) count as ``error`` lookups and are ignored.

The cache is transport-neutral: HTTP and gRPC servers in one process share one :class:`GoldCache`.
It must be used from one event loop (the tier-1 LRU itself is thread-safe).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

from turnscore import metrics
from turnscore.core.gold import CompiledGold
from turnscore.settings import Settings

log = logging.getLogger("turnscore.cache")


class MemoryLRU:
    """LRU bounded by entry count and by the sum of ``CompiledGold.nbytes``. Thread-safe."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._data: OrderedDict[str, CompiledGold] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, ref: object) -> bool:
        return ref in self._data

    @property
    def nbytes(self) -> int:
        return self._bytes

    def get(self, ref: str) -> CompiledGold | None:
        with self._lock:
            gold = self._data.get(ref)
            if gold is not None:
                self._data.move_to_end(ref)
            return gold

    def put(self, gold: CompiledGold) -> bool:
        """Insert (or refresh) ``gold``; returns True when it was not held before."""
        size = int(gold.nbytes)
        if self.max_entries <= 0 or size > self.max_bytes:
            return False
        with self._lock:
            old = self._data.pop(gold.ref, None)
            if old is not None:
                self._bytes -= int(old.nbytes)
            self._data[gold.ref] = gold
            self._bytes += size
            while self._data and (len(self._data) > self.max_entries or self._bytes > self.max_bytes):
                _, evicted = self._data.popitem(last=False)
                self._bytes -= int(evicted.nbytes)
        metrics.CACHE_ENTRIES.set(len(self._data))
        metrics.CACHE_BYTES.set(self._bytes)
        return old is None

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0
        metrics.CACHE_ENTRIES.set(0)
        metrics.CACHE_BYTES.set(0)


class RedisTier:
    """Tier 2 with a hard per-operation budget and a circuit breaker. Methods never raise."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        ttl: int,
        ttl_jitter: float,
        timeout: float,
        retry_interval: float,
        health_interval: float = 2.0,
    ) -> None:
        from redis.asyncio import Redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.url = url
        self.prefix = prefix
        self.ttl = ttl
        self.ttl_jitter = ttl_jitter
        self.timeout = timeout
        self.retry_interval = retry_interval
        self.health_interval = health_interval
        self.client = Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False,
            health_check_interval=0,
            max_connections=256,
        )
        self.healthy = False
        self.last_error: str | None = "not connected yet"
        self.last_change = time.time()
        self.failures = 0
        self._probe_task: asyncio.Task[None] | None = None
        self._closed = False
        metrics.REDIS_CONFIGURED.set(1)
        metrics.REDIS_HEALTHY.set(0)

    # -- breaker -------------------------------------------------------------------------------------
    def _set_healthy(self) -> None:
        if not self.healthy:
            log.info("redis healthy", extra={"redis": self.url_redacted})
            self.last_change = time.time()
        self.healthy = True
        self.last_error = None
        metrics.REDIS_HEALTHY.set(1)

    def _trip(self, exc: BaseException) -> None:
        self.failures += 1
        self.last_error = f"{type(exc).__name__}: {exc}"[:300]
        if self.healthy:
            log.warning(
                "redis marked unhealthy; serving from tier 1 only",
                extra={"redis": self.url_redacted, "error": self.last_error},
            )
            self.last_change = time.time()
        self.healthy = False
        metrics.REDIS_HEALTHY.set(0)
        self._ensure_probe()

    def _ensure_probe(self) -> None:
        if self._closed or (self._probe_task is not None and not self._probe_task.done()):
            return
        self._probe_task = asyncio.get_running_loop().create_task(self._probe_loop())

    async def _probe_loop(self) -> None:
        """Runs for the tier's lifetime: PING every ``health_interval`` while healthy, every
        ``retry_interval`` (jittered) while the circuit is open."""
        while not self._closed:
            interval = self.health_interval if self.healthy else self.retry_interval
            await asyncio.sleep(interval * (0.8 + 0.4 * random.random()))
            if self._closed:
                return
            await self.ping()

    @property
    def url_redacted(self) -> str:
        if "@" in self.url:
            scheme, _, rest = self.url.partition("://")
            return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
        return self.url

    # -- operations ----------------------------------------------------------------------------------
    async def ping(self) -> bool:
        try:
            ok = await asyncio.wait_for(self.client.ping(), self.timeout)
            if ok is not True:
                raise ValueError(f"unexpected PING reply {ok!r}")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._trip(exc)
            return False
        self._set_healthy()
        return True

    async def start(self) -> None:
        """One bounded connection attempt, then the background health task (whatever the answer)."""
        await self.ping()
        self._ensure_probe()

    async def fetch(self, refs: list[str]) -> dict[str, CompiledGold]:
        """One ``MGET`` for ``refs``; a failure or an open circuit yields ``{}`` (counted as errors)."""
        if not refs:
            return {}
        if not self.healthy:
            metrics.CACHE_LOOKUPS.labels("redis", "error").inc(len(refs))
            return {}
        try:
            raw = await asyncio.wait_for(self.client.mget([self.prefix + r for r in refs]), self.timeout)
            if not isinstance(raw, list) or len(raw) != len(refs):
                raise ValueError("malformed MGET reply")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            metrics.CACHE_LOOKUPS.labels("redis", "error").inc(len(refs))
            self._trip(exc)
            return {}
        out: dict[str, CompiledGold] = {}
        for ref, data in zip(refs, raw, strict=True):
            if data is None:
                metrics.CACHE_LOOKUPS.labels("redis", "miss").inc()
                continue
            try:
                if not isinstance(data, bytes | str):
                    raise ValueError(f"unexpected value type {type(data).__name__}")
                gold = CompiledGold.from_json(data)
                if gold.ref != ref:
                    raise ValueError("stored trace does not hash to its key")
            except Exception as exc:
                metrics.CACHE_LOOKUPS.labels("redis", "error").inc()
                log.warning(
                    "ignoring invalid cached gold trace", extra={"gold_ref": ref, "error": str(exc)[:200]}
                )
                continue
            metrics.CACHE_LOOKUPS.labels("redis", "hit").inc()
            out[ref] = gold
        return out

    async def store(self, golds: list[CompiledGold]) -> None:
        """Pipelined ``SET key value EX ttl`` within the budget; a failure only trips the breaker."""
        if not golds:
            return
        if not self.healthy:
            metrics.CACHE_WRITES.labels("skipped").inc(len(golds))
            return
        try:
            pipe = self.client.pipeline(transaction=False)
            for gold in golds:
                ttl = int(self.ttl * (1.0 + self.ttl_jitter * random.random()))
                pipe.set(self.prefix + gold.ref, gold.to_json(), ex=max(1, ttl))
            await asyncio.wait_for(pipe.execute(), self.timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            metrics.CACHE_WRITES.labels("error").inc(len(golds))
            self._trip(exc)
            return
        metrics.CACHE_WRITES.labels("ok").inc(len(golds))

    async def close(self) -> None:
        self._closed = True
        if self._probe_task is not None:
            self._probe_task.cancel()
            with contextlib.suppress(BaseException):
                await self._probe_task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.aclose(), self.timeout)

    def status(self) -> dict[str, Any]:
        return {
            "configured": True,
            "url": self.url_redacted,
            "healthy": self.healthy,
            "circuit": "closed" if self.healthy else "open",
            "last_error": self.last_error,
            "since": self.last_change,
            "failures": self.failures,
        }


class GoldCache:
    """Both tiers behind one API: :meth:`get_many` (resolve refs) and :meth:`put_many` (remember traces)."""

    def __init__(
        self,
        max_entries: int = 100_000,
        max_bytes: int = 256 * 1024 * 1024,
        redis: RedisTier | None = None,
    ) -> None:
        self.memory = MemoryLRU(max_entries, max_bytes)
        self.redis = redis
        self._flights: dict[str, asyncio.Future[CompiledGold | None]] = {}
        if redis is None:
            metrics.REDIS_CONFIGURED.set(0)
            metrics.REDIS_HEALTHY.set(0)

    @classmethod
    def from_settings(cls, settings: Settings) -> GoldCache:
        redis = None
        if settings.redis_url:
            redis = RedisTier(
                settings.redis_url,
                prefix=settings.redis_key_prefix,
                ttl=settings.redis_ttl,
                ttl_jitter=settings.redis_ttl_jitter,
                timeout=settings.redis_timeout,
                retry_interval=settings.redis_retry_interval,
                health_interval=settings.redis_health_interval,
            )
        return cls(settings.cache_max_entries, settings.cache_max_bytes, redis)

    async def start(self) -> None:
        if self.redis is not None:
            await self.redis.start()

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.close()

    async def get_many(self, refs: Iterable[str]) -> dict[str, CompiledGold]:
        """Resolve ``refs`` from tier 1, then tier 2 (one round trip). Unknown refs are absent from the
        result. Concurrent misses for one ref share a single Redis fetch and deserialization."""
        found: dict[str, CompiledGold] = {}
        need: list[str] = []
        for ref in dict.fromkeys(refs):
            gold = self.memory.get(ref)
            if gold is not None:
                metrics.CACHE_LOOKUPS.labels("memory", "hit").inc()
                found[ref] = gold
            else:
                metrics.CACHE_LOOKUPS.labels("memory", "miss").inc()
                need.append(ref)
        if not need or self.redis is None:
            return found
        loop = asyncio.get_running_loop()
        waits: dict[str, asyncio.Future[CompiledGold | None]] = {}
        mine: list[str] = []
        for ref in need:
            fut = self._flights.get(ref)
            if fut is None:
                fut = loop.create_future()
                self._flights[ref] = fut
                mine.append(ref)
            waits[ref] = fut
        if mine:
            got: dict[str, CompiledGold] = {}
            try:
                got = await self.redis.fetch(mine)
                for gold in got.values():
                    self.memory.put(gold)
            finally:
                for ref in mine:
                    fut = self._flights.pop(ref)
                    if not fut.done():
                        fut.set_result(got.get(ref))
        for ref, fut in waits.items():
            gold = await asyncio.shield(fut)
            if gold is not None:
                found[ref] = gold
        return found

    async def put_many(self, golds: Mapping[str, CompiledGold] | Iterable[CompiledGold]) -> None:
        """Remember traces compiled by a request: tier 1 at once; traces this process had not seen are
        also written to tier 2 (bounded by ``redis_timeout``; Redis trouble only trips the breaker)."""
        items = golds.values() if isinstance(golds, Mapping) else golds
        fresh = [g for g in items if g.ref not in self.memory]
        for gold in fresh:
            self.memory.put(gold)
        if fresh and self.redis is not None:
            await self.redis.store(fresh)

    def status(self) -> dict[str, Any]:
        return {
            "memory": {
                "entries": len(self.memory),
                "bytes": self.memory.nbytes,
                "max_entries": self.memory.max_entries,
                "max_bytes": self.memory.max_bytes,
            },
            "redis": self.redis.status() if self.redis is not None else {"configured": False},
        }
