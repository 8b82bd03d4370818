"""Tier-2 Redis with real service processes and a throwaway redis-server: sharing, death, slowness, return."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import redis

from tests.support.probes import wait_until
from tests.support.serve import ServeProcess, ServiceFactory
from tests.support.workloads import weather_gold, weather_rollouts

pytestmark = [pytest.mark.redis, pytest.mark.timeout(150)]

PREFIX = "turnscore:gold:v1:"


def _start_pair(service_factory: ServiceFactory, url: str) -> tuple[ServeProcess, ServeProcess]:
    args = ("--redis-url", url, "--redis-timeout", "0.2", "--redis-retry-interval", "0.2")
    return service_factory(*args, name="a"), service_factory(*args, name="b")


def _score(svc: ServeProcess, group: dict[str, Any]) -> Any:
    return svc.post("/v1/score", json={"groups": [group]})


def _redis_status(svc: ServeProcess) -> dict[str, Any]:
    return dict(svc.readyz()["cache"]["redis"])


def _freeze(url: str, seconds: float) -> threading.Thread:
    """Make the Redis server unresponsive for ``seconds`` (DEBUG SLEEP); returns once it is frozen."""
    t = threading.Thread(
        target=lambda: redis.Redis.from_url(url, socket_timeout=30).execute_command(
            "DEBUG", "SLEEP", str(seconds)
        )
    )
    t.start()
    probe = redis.Redis.from_url(url, socket_timeout=0.05, socket_connect_timeout=0.5)

    def frozen() -> bool:
        try:
            probe.ping()
        except redis.TimeoutError:
            return True
        return False

    assert wait_until(frozen, timeout=5, interval=0.01), "redis did not freeze"
    probe.close()
    return t


def test_gold_ref_shared_across_processes_through_redis(
    service_factory: ServiceFactory, redis_server_factory: Callable[[], Any]
) -> None:
    server = redis_server_factory()
    a, b = _start_pair(service_factory, server.url)
    assert _redis_status(a)["healthy"] is True and _redis_status(b)["healthy"] is True

    first = _score(a, {"gold": weather_gold("Lima"), "rollouts": weather_rollouts("Lima")})
    assert first.status_code == 200, first.text
    ref = first.json()["groups"][0]["gold_ref"]
    assert redis.Redis.from_url(server.url).exists(PREFIX + ref) == 1
    # B never saw the trace: it resolves the ref from Redis
    second = _score(b, {"gold_ref": ref, "rollouts": weather_rollouts("Lima")})
    assert second.status_code == 200, second.text
    assert second.json()["groups"][0]["rollouts"] == first.json()["groups"][0]["rollouts"]
    assert b.metric("turnscore_cache_lookups_total", tier="redis", result="hit") == 1
    assert b.metric("turnscore_redis_healthy") == 1

    # garbage under a ref's key is a miss (409), never a 500
    bogus = "sha256:" + "a" * 64
    redis.Redis.from_url(server.url).set(PREFIX + bogus, b"{not a trace")
    r = _score(b, {"gold_ref": bogus, "rollouts": []})
    assert r.status_code == 409 and r.json()["error"]["details"]["missing"] == [bogus]
    assert b.metric("turnscore_cache_lookups_total", tier="redis", result="error") == 1
    assert _redis_status(b)["healthy"] is True


def test_redis_killed_mid_run_then_restarted(
    service_factory: ServiceFactory, redis_server_factory: Callable[[], Any]
) -> None:
    server = redis_server_factory()
    a, b = _start_pair(service_factory, server.url)
    ref = _score(a, {"gold": weather_gold("Oslo"), "rollouts": weather_rollouts("Oslo")}).json()["groups"][0][
        "gold_ref"
    ]
    assert _score(b, {"gold_ref": ref, "rollouts": weather_rollouts("Oslo")}).status_code == 200

    server.kill()
    statuses = []
    for i in range(24):
        svc = (a, b)[i % 2]
        if i % 3 == 0:
            r = _score(svc, {"gold_ref": ref, "rollouts": weather_rollouts("Oslo")})  # tier 1 of both
        else:
            city = (
                f"City{i}"  # a trace nobody has seen: compiled, cached in tier 1, Redis write fails/skipped
            )
            r = _score(svc, {"gold": weather_gold(city), "rollouts": weather_rollouts(city)})
        statuses.append(r.status_code)
    assert statuses == [200] * 24
    for svc in (a, b):
        ready = svc.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ok"  # the cache is optional
        status = ready.json()["cache"]["redis"]
        assert status["healthy"] is False and status["circuit"] == "open" and status["last_error"]
        assert svc.metric("turnscore_redis_healthy") == 0
    # an unknown ref with Redis down: a prompt 409, not a hang or a 5xx
    r = _score(b, {"gold_ref": "sha256:" + "b" * 64, "rollouts": []})
    assert r.status_code == 409
    assert b.metric("turnscore_cache_lookups_total", tier="redis", result="error") >= 1

    server.start()  # same port, empty
    assert wait_until(lambda: _redis_status(a)["healthy"] and _redis_status(b)["healthy"], timeout=15)
    assert a.metric("turnscore_redis_healthy") == 1
    fresh = _score(a, {"gold": weather_gold("Quito"), "rollouts": weather_rollouts("Quito")})
    ref2 = fresh.json()["groups"][0]["gold_ref"]
    again = _score(b, {"gold_ref": ref2, "rollouts": weather_rollouts("Quito")})
    assert again.status_code == 200, again.text


def test_slow_redis_never_slows_requests_into_errors(
    service_factory: ServiceFactory, redis_server_factory: Callable[[], Any]
) -> None:
    server = redis_server_factory()
    a, _b = _start_pair(service_factory, server.url)
    blocker = _freeze(server.url, 2)
    try:
        statuses = []
        for i in range(6):  # Redis is frozen: the first write times out (0.2 s budget), the breaker opens
            city = f"Slow{i}"
            statuses.append(
                _score(a, {"gold": weather_gold(city), "rollouts": weather_rollouts(city)}).status_code
            )
        unknown = _score(a, {"gold_ref": "sha256:" + "c" * 64, "rollouts": []})
        assert statuses == [200] * 6 and unknown.status_code == 409
        assert _redis_status(a)["healthy"] is False
        assert "Timeout" in (_redis_status(a)["last_error"] or "")
    finally:
        blocker.join()
    # once Redis answers again the background probe closes the circuit (flapping: down, up, down, up)
    assert wait_until(lambda: _redis_status(a)["healthy"], timeout=15)
    for k in range(2):
        blocker = _freeze(server.url, 1.5)
        city = f"Flap{k}"
        assert _score(a, {"gold": weather_gold(city), "rollouts": weather_rollouts(city)}).status_code == 200
        assert _redis_status(a)["healthy"] is False  # the write hit the frozen Redis: circuit open again
        blocker.join()
        assert wait_until(lambda: _redis_status(a)["healthy"], timeout=15)
