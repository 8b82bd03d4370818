"""Finding 8: Redis health is probed in the background whatever the traffic, so ``/readyz`` and
``turnscore_redis_healthy`` turn unhealthy within seconds of Redis dying even while tier 1 serves
every request (and healthy again once it is back)."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.support.probes import wait_until
from tests.support.redis_server import RedisServer
from tests.support.serve import ServiceFactory
from tests.support.workloads import score_request


def test_dead_redis_reported_while_tier1_serves(
    service_factory: ServiceFactory, redis_server_factory: Callable[[], RedisServer]
) -> None:
    redis = redis_server_factory()
    svc = service_factory(
        "--redis-url", redis.url, "--redis-health-interval", "0.5", "--redis-retry-interval", "0.5"
    )
    assert wait_until(lambda: svc.readyz()["cache"]["redis"]["healthy"], timeout=10)
    body = score_request()
    first = svc.post("/v1/score", json=body)
    assert first.status_code == 200, first.text
    ref = first.json()["groups"][0]["gold_ref"]
    by_ref = {"groups": [{"gold_ref": ref, "rollouts": body["groups"][0]["rollouts"]}]}
    assert svc.metric("turnscore_redis_healthy") == 1

    redis.kill()
    killed = time.monotonic()
    # traffic keeps flowing, all from tier 1 (no Redis round trip that could notice the failure)
    while time.monotonic() - killed < 5:
        r = svc.post("/v1/score", json=by_ref)
        assert r.status_code == 200, r.text
        status = svc.readyz()["cache"]["redis"]
        if not status["healthy"]:
            break
        time.sleep(0.1)
    noticed = time.monotonic() - killed
    assert not svc.readyz()["cache"]["redis"]["healthy"], "Redis death never reported"
    assert noticed < 3.0, noticed
    assert svc.metric("turnscore_redis_healthy") == 0
    assert svc.readyz()["status"] == "ok"  # the cache is optional: still ready

    redis.start()
    assert wait_until(lambda: svc.readyz()["cache"]["redis"]["healthy"], timeout=10)
    assert svc.metric("turnscore_redis_healthy") == 1
