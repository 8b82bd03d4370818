"""Client protocol tests against a scripted HTTP service on a real socket (tests/client/conftest.py):
typed results, fan-out, retries, typed errors, gold_ref handling. Sync and async twins."""

from __future__ import annotations

import asyncio
import socket
import time

import numpy as np
import pytest
from turnscore_client import (
    APIError,
    AsyncTurnScoreClient,
    AuthenticationError,
    ConnectionFailed,
    Health,
    RateLimitedError,
    RetryPolicy,
    ScoreResponse,
    ServerError,
    ServiceUnavailableError,
    TurnScoreClient,
    TurnScoreError,
    UnknownGoldRefError,
    ValidationError,
)

from tests.support.fake_service import FakeService, Fault, err
from tests.support.workloads import make_group

FAST = RetryPolicy(max_attempts=4, backoff_base=0.01, backoff_max=0.02, deadline=30)


def _dead_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return f"http://127.0.0.1:{port}"


def test_score_typed_result_and_request_shape(fake: FakeService) -> None:
    with TurnScoreClient(fake.url, retry=FAST) as c:
        res = c.score(
            [make_group(0, turns=3)],
            preset="matchtir-ot",
            config={"gamma": np.float32(0.5)},
            step=7,
            explain=True,
        )
    assert isinstance(res, ScoreResponse)
    assert res.preset == "matchtir-ot" and res.config == {"gamma": 0.9}
    (g,) = res.groups
    assert g.id == "g0" and g.gold_ref and g.gold_ref.startswith("sha256:")
    r0, r1 = g.rollouts
    assert r0.turn_rewards == [0.5, 0.5, 0.5] and r0.return_ == pytest.approx(1.75) and r0.num_turns == 3
    assert r0.advantages == pytest.approx([0.1, 0.2, 0.3]) and r1.num_turns == 1
    assert res.returns == [[1.75, 0.75]]
    (seen,) = fake.posts()
    assert seen.body["preset"] == "matchtir-ot" and seen.body["config"] == {"gamma": 0.5}
    assert seen.body["step"] == 7 and seen.body["explain"] is True
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["User-Agent"].startswith("turnscore-client/")


def test_chunks_keep_order_and_round_robin_over_replicas(fake: FakeService, fake2: FakeService) -> None:
    groups = [make_group(i, turns=1 + i % 3) for i in range(10)]
    with TurnScoreClient([fake.url, fake2.url], retry=FAST, max_groups_per_request=3, max_concurrency=2) as c:
        res = c.score(groups)
    assert [g.id for g in res.groups] == [f"g{i}" for i in range(10)]
    assert [g.rollouts[0].num_turns for g in res.groups] == [1 + i % 3 for i in range(10)]
    sizes = sorted(len(r.body["groups"]) for r in fake.posts() + fake2.posts())
    assert sizes == [1, 3, 3, 3]
    assert len(fake.posts()) == 2 and len(fake2.posts()) == 2


def test_concurrency_is_bounded_and_used(fake: FakeService) -> None:
    fake.rendezvous = 2  # each request waits until two are in flight: proves parallel sends
    groups = [make_group(i) for i in range(8)]
    with TurnScoreClient(fake.url, retry=FAST, max_groups_per_request=1, max_concurrency=2) as c:
        res = c.score(groups)
    assert len(res.groups) == 8
    assert fake.max_inflight == 2


def test_comma_separated_urls_and_env(monkeypatch: pytest.MonkeyPatch, fake: FakeService) -> None:
    monkeypatch.setenv("TURNSCORE_URL", f"{fake.url}/, {fake.url}")
    with TurnScoreClient(retry=FAST) as c:
        assert c.urls == [fake.url, fake.url]
        assert c.health().ok


def test_retries_503_with_retry_after_then_succeeds(fake: FakeService) -> None:
    busy = {"error": {"code": "overloaded", "message": "busy"}}
    fake.faults = [Fault(503, busy, {"Retry-After": "0"}), Fault(503, busy, {"Retry-After": "0"})]
    with TurnScoreClient(fake.url, retry=FAST) as c:
        res = c.score([make_group(0)])
        assert c.stats.attempts == 3 and c.stats.retries == 2
    assert len(res.groups) == 1 and len(fake.posts()) == 3


@pytest.mark.parametrize("status", [429, 502, 504])
def test_retries_other_transient_statuses(fake: FakeService, status: int) -> None:
    fake.faults = [Fault(status, {"error": {"code": "x", "message": "y"}})]
    with TurnScoreClient(fake.url, retry=FAST) as c:
        c.score([make_group(0)])
    assert len(fake.posts()) == 2


def test_retry_after_is_honoured(fake: FakeService) -> None:
    fake.faults = [Fault(429, err("rate_limited"), {"Retry-After": "0.4"})]
    policy = RetryPolicy(max_attempts=3, backoff_base=0.0, deadline=30)
    with TurnScoreClient(fake.url, retry=policy) as c:
        t0 = time.monotonic()
        c.score([make_group(0)])
        waited = time.monotonic() - t0
    assert waited >= 0.4  # the jittered backoff alone is 0 here: only Retry-After can explain the wait


def test_gives_up_after_max_attempts(fake: FakeService) -> None:
    fake.faults = [Fault(503, err("overloaded"), {"Retry-After": "0"})] * 10
    with TurnScoreClient(fake.url, retry=FAST) as c, pytest.raises(ServiceUnavailableError) as ei:
        c.score([make_group(0)])
    assert ei.value.status == 503 and ei.value.code == "overloaded" and ei.value.attempts == 4
    assert len(fake.posts()) == 4


def test_deadline_bounds_retries(fake: FakeService) -> None:
    fake.faults = [Fault(429, err("rate_limited"), {"Retry-After": "0.3"})] * 50
    policy = RetryPolicy(max_attempts=50, backoff_base=0.0, deadline=2.0)
    with TurnScoreClient(fake.url, retry=policy) as c, pytest.raises(RateLimitedError) as ei:
        c.score([make_group(0)])
    # attempts 0.3 s apart within a 2 s deadline: at most 7 of the 50 allowed
    assert 2 <= len(fake.posts()) <= 7 and ei.value.retry_after == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("status", "exc", "code"),
    [
        (422, ValidationError, "invalid_config"),
        (401, AuthenticationError, "unauthorized"),
        (500, ServerError, "boom"),
    ],
)
def test_no_retry_on_other_errors(fake: FakeService, status: int, exc: type, code: str) -> None:
    body = err(code, "config.gamma: must be in [0, 1]", {"path": "config.gamma"})
    fake.faults = [Fault(status, body)]
    with TurnScoreClient(fake.url, retry=FAST) as c, pytest.raises(exc) as ei:
        c.score([make_group(0)], config={"gamma": 2})
    e = ei.value
    assert e.status == status and e.code == code and e.message == "config.gamma: must be in [0, 1]"
    assert e.details == {"path": "config.gamma"} and e.attempts == 1
    assert len(fake.posts()) == 1
    if isinstance(e, ValidationError):
        assert e.path == "config.gamma"


def test_deadline_cuts_the_attempt_timeout(fake: FakeService) -> None:
    # the service stalls 3 s; the default read timeout (60 s) would wait for its 200, a 1 s deadline does not
    fake.faults = [Fault(200, {"groups": []}, delay=3.0)]
    policy = RetryPolicy(max_attempts=5, backoff_base=0.0, deadline=1.0)
    with TurnScoreClient(fake.url, retry=policy) as c, pytest.raises(ConnectionFailed, match="Timeout"):
        c.score([make_group(0)])


def test_connection_errors_retry_then_fail() -> None:
    with TurnScoreClient(_dead_url(), retry=FAST) as c, pytest.raises(ConnectionFailed) as ei:
        c.score([make_group(0)])
    assert ei.value.attempts == 4 and ei.value.status is None


def test_failover_to_a_live_replica(fake: FakeService) -> None:
    with TurnScoreClient([_dead_url(), fake.url], retry=FAST) as c:
        res = c.score([make_group(0)])
    assert len(res.groups) == 1 and len(fake.posts()) == 1


def test_gold_ref_sent_after_first_time_and_resent_on_409(fake: FakeService) -> None:
    with TurnScoreClient(fake.url, retry=FAST) as c:
        first = c.score([make_group(0), make_group(1)])
        c.score([make_group(0), make_group(2)])
        second = fake.posts()[-1].body["groups"]
        assert "gold" not in second[0] and second[0]["gold_ref"] == first.groups[0].gold_ref
        assert "gold" in second[1] and "gold_ref" not in second[1]
        assert second[0]["rollouts"] == make_group(0)["rollouts"]
        fake.known_refs.clear()  # the replica restarted: it forgot every gold
        third = c.score([make_group(0), make_group(1)])
        assert c.stats.gold_resends == 1
    bodies = [p.body["groups"] for p in fake.posts()]
    assert len(bodies) == 4  # 2 normal + the 409'd request + its full resend
    assert all("gold_ref" in g for g in bodies[2]) and all("gold" in g for g in bodies[3])
    assert [g.id for g in third.groups] == ["g0", "g1"]


def test_gold_ref_409_twice_is_raised(fake: FakeService) -> None:
    with TurnScoreClient(fake.url, retry=FAST) as c:
        with pytest.raises(UnknownGoldRefError) as ei:
            c.score([{"id": "x", "gold_ref": "sha256:nope", "rollouts": []}])
        assert ei.value.missing == ["sha256:nope"]


def test_gold_memory_is_bounded_and_can_be_off(fake: FakeService) -> None:
    with TurnScoreClient(fake.url, retry=FAST, gold_memory_size=2) as c:
        c.score([make_group(i) for i in range(3)])
        assert c.gold_memory is not None and len(c.gold_memory) == 2
    with TurnScoreClient(fake.url, retry=FAST, gold_refs=False) as c:
        c.score([make_group(0)])
        c.score([make_group(0)])
    assert "gold" in fake.posts()[-1].body["groups"][0]


def test_gzip_and_api_key(fake: FakeService) -> None:
    with TurnScoreClient(fake.url, retry=FAST, gzip_min_bytes=0, api_key="k1") as c:
        c.score([make_group(0)])
    seen = fake.posts()[0]
    assert seen.headers["Content-Encoding"] == "gzip" and seen.body["groups"][0]["id"] == "g0"
    assert seen.headers["Authorization"] == "Bearer k1"


def test_presets_health_and_advantages(fake: FakeService) -> None:
    with TurnScoreClient(fake.url, retry=FAST) as c:
        assert set(c.presets()) == {"matchtir-km", "toolrl"}
        h = c.health()
        assert h.ok and h.status == 200
        res = c.advantages([{"id": "a", "rollouts": [{"turn_rewards": [1.0, 0.0], "outcome_reward": 0.5}]}])
    assert res.groups[0].rollouts[0].num_turns == 2
    assert not TurnScoreClient(_dead_url()).health().ok


def test_openrlhf_body(fake: FakeService) -> None:
    with TurnScoreClient(fake.url, retry=FAST) as c, pytest.raises(APIError):  # the fake has no /v1/openrlhf
        c.openrlhf(["q"], ["p"], ["l"], step=1)
    (seen,) = fake.posts("/v1/openrlhf")
    assert seen.body == {"step": 1, "query": ["q"], "prompts": ["p"], "labels": ["l"]}


def test_local_mode_constructor_health_and_openrlhf_refusal() -> None:
    with TurnScoreClient.local_mode() as c:
        assert type(c) is TurnScoreClient and c.local and c.urls == []
        assert c.health() == Health(True, 200, {"status": "ok", "mode": "local"})
        with pytest.raises(TurnScoreError) as t:
            c.openrlhf(["q"], ["p"], ["l"])
    assert t.value.code == "not_available"


# ---- async twin ---------------------------------------------------------------------------------------


async def test_async_score_chunks_retries_and_gold_refs(fake: FakeService, fake2: FakeService) -> None:
    fake.faults = [Fault(503, {"error": {"code": "overloaded", "message": "busy"}}, {"Retry-After": "0"})]
    groups = [make_group(i) for i in range(5)]
    async with AsyncTurnScoreClient(
        [fake.url, fake2.url], retry=FAST, max_groups_per_request=2, max_concurrency=2
    ) as c:
        res = await c.score(groups, step=3)
        assert [g.id for g in res.groups] == [f"g{i}" for i in range(5)]
        assert c.stats.retries == 1
        fake.known_refs.clear()
        fake2.known_refs.clear()
        res2 = await c.score(groups)
        assert c.stats.gold_resends >= 1 and res2.returns == res.returns
        assert set(await c.presets()) == {"matchtir-km", "toolrl"}
        assert (await c.health()).ok


async def test_async_bounded_concurrency(fake: FakeService) -> None:
    fake.rendezvous = 3
    async with AsyncTurnScoreClient(fake.url, retry=FAST, max_groups_per_request=1, max_concurrency=3) as c:
        res = await asyncio.wait_for(c.score([make_group(i) for i in range(9)]), 60)
    assert len(res.groups) == 9 and fake.max_inflight == 3


async def test_async_errors_are_typed(fake: FakeService) -> None:
    fake.faults = [Fault(422, err("invalid_request", "m", {"path": "groups[0]"}))]
    async with AsyncTurnScoreClient(fake.url, retry=FAST) as c:
        with pytest.raises(ValidationError) as ei:
            await c.score([make_group(0)])
    assert ei.value.path == "groups[0]" and len(fake.posts()) == 1
    async with AsyncTurnScoreClient(_dead_url(), retry=FAST) as c:
        with pytest.raises(ConnectionFailed):
            await c.score([make_group(0)])


def test_a_failed_chunk_fails_the_call_with_its_typed_error(fake: FakeService) -> None:
    fake.faults = [Fault(422, err("invalid_request", "bad rollout", {"path": "groups[0].rollouts[1]"}))]
    client = TurnScoreClient(fake.url, retry=FAST, max_groups_per_request=1, max_concurrency=1)
    with client as c, pytest.raises(ValidationError, match="bad rollout"):
        c.score([make_group(i) for i in range(4)])
    assert len(fake.posts()) == 1  # sequential: nothing sent after the failure


async def test_async_failed_chunk_cancels_the_rest(fake: FakeService) -> None:
    fake.faults = [Fault(422, err("invalid_request", "bad", {"path": "groups[0]"}))]
    async with AsyncTurnScoreClient(fake.url, retry=FAST, max_groups_per_request=1, max_concurrency=1) as c:
        with pytest.raises(ValidationError):
            await c.score([make_group(i) for i in range(4)])
    assert len(fake.posts()) == 1


async def test_async_advantages_openrlhf_and_probes(fake: FakeService) -> None:
    groups = [
        {"id": f"a{i}", "rollouts": [{"turn_rewards": [1.0, 0.0], "outcome_reward": 0.5}]} for i in range(3)
    ]
    async with AsyncTurnScoreClient(fake.url, retry=FAST, max_groups_per_request=1) as c:
        res = await c.advantages(groups, step=2)
        assert [g.id for g in res.groups] == ["a0", "a1", "a2"] and res.groups[2].rollouts[0].num_turns == 2
        with pytest.raises(APIError):  # the fake has no /v1/openrlhf
            await c.openrlhf(["q"], ["p"], ["l"], preset="toolrl")
    assert [seen.body["step"] for seen in fake.posts("/v1/advantages")] == [2, 2, 2]
    (seen,) = fake.posts("/v1/openrlhf")
    assert seen.body == {"preset": "toolrl", "query": ["q"], "prompts": ["p"], "labels": ["l"]}
    async with AsyncTurnScoreClient(_dead_url(), retry=FAST) as c:
        assert not (await c.health()).ok


async def test_async_local_mode_constructor_health_and_openrlhf_refusal() -> None:
    async with AsyncTurnScoreClient.local_mode() as c:
        assert type(c) is AsyncTurnScoreClient and c.local and c.urls == []
        assert await c.health() == Health(True, 200, {"status": "ok", "mode": "local"})
        with pytest.raises(TurnScoreError) as t:
            await c.openrlhf(["q"], ["p"], ["l"])
    assert t.value.code == "not_available"
