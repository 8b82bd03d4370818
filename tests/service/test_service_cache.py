"""The gold-trace cache in-process: LRU bounds, and tier 2 against a real Redis (shared or throwaway)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import pytest
import redis
from turnscore.cache import GoldCache, MemoryLRU, RedisTier
from turnscore.core.gold import CompiledGold, compile_gold

pytestmark = [pytest.mark.redis, pytest.mark.timeout(60)]


def gold(i: int) -> CompiledGold:
    return compile_gold({"calls": [{"name": f"tool_{i}", "arguments": {"x": i}}], "answer": f"answer {i}"})


def tier(url: str, prefix: str, **kw: Any) -> RedisTier:
    opts: dict[str, Any] = {
        "prefix": prefix,
        "ttl": 300,
        "ttl_jitter": 0.1,
        "timeout": 0.3,
        "retry_interval": 0.1,
    }
    opts.update(kw)
    return RedisTier(url, **opts)


def test_lru_bounded_by_entries_and_bytes() -> None:
    lru = MemoryLRU(max_entries=3, max_bytes=10**9)
    gs = [gold(i) for i in range(5)]
    for g in gs[:3]:
        assert lru.put(g)
    assert not lru.put(gs[0])  # already held: refreshed, not new
    lru.put(gs[3])  # evicts the least recently used: gs[1]
    assert gs[1].ref not in lru and gs[0].ref in lru and len(lru) == 3
    assert lru.get(gs[2].ref) is gs[2]
    lru.put(gs[4])  # evicts gs[0] (gs[2] was just used)
    assert gs[0].ref not in lru and gs[2].ref in lru

    size = gs[0].nbytes
    by_bytes = MemoryLRU(max_entries=100, max_bytes=int(size * 2.5))
    for g in gs:
        by_bytes.put(g)
    assert len(by_bytes) == 2 and by_bytes.nbytes <= size * 2.5
    assert not MemoryLRU(10, size - 1).put(gs[0])  # larger than the whole cache: not kept


async def test_two_caches_share_redis(redis_url: str, redis_prefix: str) -> None:
    a = GoldCache(redis=tier(redis_url, redis_prefix))
    b = GoldCache(redis=tier(redis_url, redis_prefix))
    await a.start()
    await b.start()
    try:
        g = gold(1)
        await a.put_many({g.ref: g})
        assert g.ref in a.memory
        got = await b.get_many([g.ref, "sha256:" + "f" * 64])
        assert list(got) == [g.ref]
        assert got[g.ref].canonical == g.canonical and got[g.ref] is not g
        assert g.ref in b.memory  # promoted to tier 1
        ttl = redis.Redis.from_url(redis_url).ttl(redis_prefix + g.ref)
        assert 300 <= ttl <= 330  # ttl * (1 + jitter)
    finally:
        await a.close()
        await b.close()


async def test_garbage_in_redis_is_a_miss(redis_url: str, redis_prefix: str) -> None:
    g, h, k = gold(2), gold(3), gold(4)
    r = redis.Redis.from_url(redis_url)
    r.set(redis_prefix + g.ref, b"\x00garbage")
    r.set(redis_prefix + h.ref, gold(5).to_json())  # a valid trace under the wrong key
    r.rpush(redis_prefix + k.ref, b"x")  # wrong type: MGET answers nil for it
    cache = GoldCache(redis=tier(redis_url, redis_prefix))
    await cache.start()
    try:
        assert await cache.get_many([g.ref, h.ref, k.ref]) == {}
        assert cache.redis is not None and cache.redis.healthy
    finally:
        await cache.close()
        r.delete(redis_prefix + g.ref, redis_prefix + h.ref, redis_prefix + k.ref)


async def test_concurrent_misses_fetch_once(redis_url: str, redis_prefix: str) -> None:
    g = gold(6)
    writer = GoldCache(redis=tier(redis_url, redis_prefix))
    reader = GoldCache(redis=tier(redis_url, redis_prefix))
    await writer.start()
    await reader.start()
    assert reader.redis is not None
    calls: list[list[str]] = []
    real_fetch = reader.redis.fetch

    async def counting_fetch(refs: list[str]) -> dict[str, CompiledGold]:
        calls.append(list(refs))
        await asyncio.sleep(0.05)  # keep the first fetch in flight while the others arrive
        return await real_fetch(refs)

    reader.redis.fetch = counting_fetch  # type: ignore[method-assign]
    try:
        await writer.put_many([g])
        results = await asyncio.gather(*(reader.get_many([g.ref]) for _ in range(10)))
        assert all(list(r) == [g.ref] for r in results)
        assert calls == [[g.ref]]
        # all callers got the same compiled object
        assert len({id(r[g.ref]) for r in results}) == 1
    finally:
        await writer.close()
        await reader.close()


async def test_breaker_opens_when_redis_dies_and_closes_when_it_returns(
    redis_server_factory: Callable[[], Any],
) -> None:
    server = redis_server_factory()
    cache = GoldCache(redis=tier(server.url, "t:", timeout=0.2, retry_interval=0.1))
    await cache.start()
    redis_tier = cache.redis
    assert redis_tier is not None and redis_tier.healthy
    try:
        g = gold(7)
        await cache.put_many([g])
        server.kill()
        cache.memory.clear()
        assert await cache.get_many([g.ref]) == {}  # error -> miss, never an exception
        assert not redis_tier.healthy and redis_tier.last_error
        status = cache.status()["redis"]
        assert status["healthy"] is False and status["circuit"] == "open"
        # while open: requests make no Redis round trip at all (only the background probe PINGs)
        used: list[str] = []
        real_mget, real_pipeline = redis_tier.client.mget, redis_tier.client.pipeline
        redis_tier.client.mget = lambda *a, **k: used.append("mget") or real_mget(*a, **k)  # type: ignore[method-assign]
        redis_tier.client.pipeline = lambda *a, **k: used.append("pipe") or real_pipeline(*a, **k)  # type: ignore[method-assign]
        for _ in range(20):
            assert await cache.get_many([g.ref]) == {}
            await cache.put_many([gold(8)])
        assert used == []
        redis_tier.client.mget, redis_tier.client.pipeline = real_mget, real_pipeline  # type: ignore[method-assign]
        server.start()  # same port, empty (no persistence)
        for _ in range(100):
            if redis_tier.healthy:
                break
            await asyncio.sleep(0.05)
        assert redis_tier.healthy, redis_tier.last_error
        await cache.put_many([g])  # was in tier 1 already? no: cleared above, so written again
        cache.memory.clear()
        assert list(await cache.get_many([g.ref])) == [g.ref]
    finally:
        await cache.close()


async def test_unreachable_redis_at_start_and_tier1_only() -> None:
    cache = GoldCache(redis=tier("redis://127.0.0.1:1/0", "t:", timeout=0.2))
    await cache.start()
    try:
        g = gold(9)
        await cache.put_many([g])
        assert list(await cache.get_many([g.ref])) == [g.ref]  # tier 1 still works
        assert cache.redis is not None and not cache.redis.healthy
    finally:
        await cache.close()
    plain = GoldCache()
    await plain.start()
    await plain.put_many([g])
    assert list(await plain.get_many([g.ref])) == [g.ref]
    assert plain.status()["redis"] == {"configured": False}
    await plain.close()


async def test_a_server_speaking_garbage_is_an_unhealthy_redis() -> None:
    """Something that is not Redis on the Redis port: no exception, tier 1 only, circuit open."""

    async def junk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            await reader.read(100)
            writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n\x00\xff garbage")
            await writer.drain()
            writer.close()

    server = await asyncio.start_server(junk, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    cache = GoldCache(redis=tier(f"redis://127.0.0.1:{port}/0", "t:", timeout=0.3))
    try:
        await cache.start()
        g = gold(10)
        await cache.put_many([g])
        cache.memory.clear()
        assert await cache.get_many([g.ref]) == {}
        assert cache.redis is not None and not cache.redis.healthy and cache.redis.last_error
    finally:
        await cache.close()
        server.close()
        await server.wait_closed()
