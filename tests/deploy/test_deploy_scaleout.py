"""Scale-out: two ``turnscore serve`` replicas sharing one Redis, behind the client's fan-out.

What a horizontally scaled deployment relies on, shown on real processes and a real Redis:

- the client spreads chunks round-robin over the replicas (the work is split);
- a gold trace compiled by one replica is reused by the other through Redis (a ``gold_ref`` sent to the
  replica that never saw the trace is answered, with no 409 and no resend of the full trace);
- results do not depend on which replica scored a group;
- losing a replica (SIGTERM) loses no gold trace: the survivor answers every ``gold_ref``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
from turnscore_client import RetryPolicy, TurnScoreClient

from tests.support.probes import Samples
from tests.support.serve import ContainerProcess

pytestmark = pytest.mark.redis

CITIES = [
    "Beijing",
    "Paris",
    "Lima",
    "Oslo",
    "Cairo",
    "Quito",
    "Hanoi",
    "Perth",
    "Accra",
    "Riga",
    "Sucre",
    "Baku",
]


def group(i: int, city: str) -> dict[str, Any]:
    call = {"name": "get_weather", "arguments": {"city": city, "date": "today"}}
    near = {"name": "get_weather", "arguments": {"city": city, "date": "tomorrow"}}
    return {
        "id": f"prompt-{i}",
        "gold": {"calls": [call], "answer": f"{10 + i} degrees in {city}"},
        "rollouts": [
            {"turns": [{"tool_calls": [call]}, {"answer": f"{10 + i} degrees in {city}"}]},
            {"turns": [{"tool_calls": [near]}, {"answer": "no idea"}]},
            {"text": "<tool_call>{not json}</tool_call>"},
        ],
    }


def counters(s: Samples) -> dict[str, float]:
    return {
        "groups": s.value("turnscore_groups_scored_total"),
        "rollouts": s.value("turnscore_rollouts_scored_total"),
        "memory_hit": s.value("turnscore_cache_lookups_total", tier="memory", result="hit"),
        "memory_miss": s.value("turnscore_cache_lookups_total", tier="memory", result="miss"),
        "redis_hit": s.value("turnscore_cache_lookups_total", tier="redis", result="hit"),
        "redis_miss": s.value("turnscore_cache_lookups_total", tier="redis", result="miss"),
        "redis_writes": s.value("turnscore_cache_redis_writes_total", result="ok"),
        "score_200": s.value("turnscore_request_duration_seconds_count", endpoint="/v1/score", status="200"),
        "score_409": s.value("turnscore_request_duration_seconds_count", endpoint="/v1/score", status="409"),
    }


def delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before[k] for k in after}


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    p = f"turnscore-test:{uuid.uuid4().hex}:"
    yield p
    r = redis_lib.Redis.from_url(redis_url)
    keys = list(r.scan_iter(match=p + "*"))
    if keys:
        r.delete(*keys)
    r.close()


@pytest.fixture
def replicas(
    tmp_path: Path, redis_url: str, prefix: str
) -> Iterator[tuple[ContainerProcess, ContainerProcess]]:
    env = {"TURNSCORE_REDIS_URL": redis_url, "TURNSCORE_REDIS_KEY_PREFIX": prefix}
    a = ContainerProcess(tmp_path / "a.log", env=env).start()
    try:
        b = ContainerProcess(tmp_path / "b.log", env=env).start()
    except Exception:
        a.stop()
        raise
    yield a, b
    for s in (a, b):
        s.stop()


def test_two_replicas_share_gold_traces_and_split_the_work(
    replicas: tuple[ContainerProcess, ContainerProcess], redis_url: str, prefix: str
) -> None:
    a, b = replicas
    groups = [group(i, c) for i, c in enumerate(CITIES[:6])]
    base = {s.url: counters(s.metrics()) for s in (a, b)}
    retry = RetryPolicy(max_attempts=3, backoff_base=0.05)
    # 2 groups per request, one request at a time: 3 chunks per batch, round-robin A, B, A | B, A, B.
    # So in the second batch every chunk reaches the replica that did NOT compile its gold traces.
    with TurnScoreClient([a.url, b.url], max_groups_per_request=2, max_concurrency=1, retry=retry) as client:
        first = client.score(groups)
        mid = {s.url: counters(s.metrics()) for s in (a, b)}
        second = client.score(groups)
        stats = client.stats.as_dict()
    end = {s.url: counters(s.metrics()) for s in (a, b)}

    # batch 1: full traces, split 4 groups / 2 groups, every trace written to the shared Redis once
    d1 = {u: delta(mid[u], base[u]) for u in base}
    assert d1[a.url]["groups"] == 4 and d1[b.url]["groups"] == 2
    assert d1[a.url]["redis_writes"] + d1[b.url]["redis_writes"] == len(groups)
    r = redis_lib.Redis.from_url(redis_url)
    try:
        stored = {k.decode()[len(prefix) :] for k in r.scan_iter(match=prefix + "*")}
    finally:
        r.close()
    assert stored == {g.gold_ref for g in first.groups}

    # batch 2: gold_ref only, each resolved by the other replica from Redis (tier-1 misses, tier-2 hits)
    d2 = {u: delta(end[u], mid[u]) for u in base}
    assert d2[a.url]["groups"] == 2 and d2[b.url]["groups"] == 4
    assert stats["gold_refs_sent"] == len(groups) and stats["gold_resends"] == 0
    for u in base:
        assert d2[u]["memory_hit"] == 0
        assert d2[u]["redis_hit"] == d2[u]["groups"] and d2[u]["redis_miss"] == 0
        assert d2[u]["score_409"] == 0
    # same answers whichever replica scored, from the full trace or from the shared cache
    assert [g.gold_ref for g in first.groups] == [g.gold_ref for g in second.groups]
    assert first.returns == second.returns
    assert [r.advantages for r in first.rollouts] == [r.advantages for r in second.rollouts]


def test_fan_out_under_concurrency_and_losing_a_replica(
    replicas: tuple[ContainerProcess, ContainerProcess],
) -> None:
    a, b = replicas
    groups = [group(i, c) for i, c in enumerate(CITIES)]
    base = {s.url: counters(s.metrics()) for s in (a, b)}
    retry = RetryPolicy(max_attempts=4, backoff_base=0.05, deadline=60.0)
    with TurnScoreClient([a.url, b.url], max_groups_per_request=3, max_concurrency=2, retry=retry) as client:
        first = client.score(groups)  # 4 requests in flight two at a time: the ring alternates A, B, A, B
        after = {s.url: delta(counters(s.metrics()), base[s.url]) for s in (a, b)}
        assert after[a.url]["groups"] == after[b.url]["groups"] == len(groups) / 2
        assert after[a.url]["rollouts"] == after[b.url]["rollouts"] == 3 * len(groups) / 2

        # replica B goes away (rolling update, node drain); its compiled traces survive in Redis
        assert b.stop() == 0
        again = client.score(groups)
        stats = client.stats.as_dict()
    assert stats["gold_resends"] == 0, "no gold_ref was lost with the replica"
    assert stats["retries"] >= 1, "the requests that went to B were retried on A"
    assert again.returns == first.returns
    end = delta(counters(a.metrics()), base[a.url])
    assert end["groups"] == len(groups) / 2 + len(groups)
    assert end["score_409"] == 0
