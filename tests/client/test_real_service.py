"""The client against the real service (``turnscore serve`` on a socket) and the real core (local mode),
on real gold traces (``tests.support.gold``)."""

from __future__ import annotations

import math
import socket
import sys
from typing import Any

import pytest
from turnscore_client import (
    AsyncTurnScoreClient,
    AuthenticationError,
    ConnectionFailed,
    LocalModeUnavailable,
    RetryPolicy,
    TurnScoreClient,
    ValidationError,
    gold_from_record,
    local_available,
)

from tests.support.gold import gold_records
from tests.support.serve import RealService
from tests.support.workloads import rollouts_for

FAST = RetryPolicy(max_attempts=3, backoff_base=0.01, backoff_max=0.05, deadline=60)


def _groups(per_file: int = 3) -> list[dict[str, Any]]:
    return [
        {"id": rec["id"], "gold": gold_from_record(rec), "rollouts": rollouts_for(rec)}
        for rec in gold_records(per_file, min_calls=1)
    ]


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_remote_equals_local_on_real_traces(service: RealService) -> None:
    groups = _groups()
    assert len(groups) >= 12
    with TurnScoreClient(service.url, retry=FAST, max_groups_per_request=5) as remote:
        res = remote.score(groups, explain=True)
    local = TurnScoreClient.local_mode().score(groups, explain=True)
    assert [g.id for g in res.groups] == [g["id"] for g in groups]
    for rg, lg in zip(res.groups, local.groups, strict=True):
        assert rg.gold_ref == lg.gold_ref and rg.gold_ref is not None
        for rr, lr in zip(rg.rollouts, lg.rollouts, strict=True):
            assert rr.return_ == pytest.approx(lr.return_, abs=1e-9)
            assert rr.advantages == pytest.approx(lr.advantages, abs=1e-9)
            assert len(rr.advantages) == rr.num_turns and all(math.isfinite(a) for a in rr.advantages)
        perfect, wrong, nothing = rg.rollouts
        # reproducing the gold beats wrong arguments, which beat a call to a tool that does not exist
        assert perfect.return_ > wrong.return_ > nothing.return_, rg.id
        assert perfect.matches is not None and all(m.gold is not None for m in perfect.matches)


def test_gold_refs_after_first_request(service: RealService) -> None:
    groups = _groups(1)
    with TurnScoreClient(service.url, retry=FAST) as c:
        first = c.score(groups)
        second = c.score(groups)
        assert c.stats.gold_refs_sent == len(groups) and c.stats.gold_resends == 0
    assert second.returns == first.returns


def test_unknown_gold_ref_on_another_replica_is_resent(service: RealService, service2: RealService) -> None:
    groups = _groups(1)
    # Two replicas without Redis: the second has never seen these golds, so it answers 409 to refs.
    with TurnScoreClient([service.url, service2.url], retry=FAST) as c:
        first = c.score(groups)  # -> replica 1, full golds
        second = c.score(groups)  # -> replica 2, refs only -> real 409 -> full resend (round robin)
        assert c.stats.gold_refs_sent >= len(groups) and c.stats.gold_resends == 1
    assert second.returns == first.returns


def test_server_errors_are_typed(service: RealService) -> None:
    with TurnScoreClient(service.url, retry=FAST) as c:
        with pytest.raises(ValidationError) as ei:
            c.score(_groups(1)[:1], preset="no-such-preset")
        assert ei.value.status == 422 and ei.value.code == "unknown_preset" and ei.value.attempts == 1
        with pytest.raises(ValidationError) as ei:
            c.score(_groups(1)[:1], config={"gama": 0.9})
        assert ei.value.code == "invalid_config" and "gama" in ei.value.message
        presets = c.presets()
        assert {"matchtir-km", "matchtir-ot", "toolrl", "grpo-outcome"} <= set(presets)
        assert presets["matchtir-km"]["assignment"] == "hungarian"


def test_advantages_endpoint_matches_local(service: RealService) -> None:
    groups = [
        {
            "id": "a",
            "rollouts": [
                {"turn_rewards": [1.0, 0.5], "outcome_reward": 1.0},
                {"turn_rewards": [0.0], "outcome_reward": 0.0},
                {"turn_rewards": [0.75, -0.5, 0.0], "outcome_reward": 0.4},
            ],
        }
    ]
    with TurnScoreClient(service.url, retry=FAST) as c:
        res = c.advantages(groups)
    local = TurnScoreClient.local_mode().advantages(groups)
    assert res.returns[0] == pytest.approx(local.returns[0])
    assert res.returns[0][0] == pytest.approx(1.0 + 0.5 + 1.0)
    assert [r.num_turns for r in res.groups[0].rollouts] == [2, 1, 3]


async def test_async_client_against_real_service(service: RealService) -> None:
    groups = _groups(2)
    client = AsyncTurnScoreClient(service.url, retry=FAST, max_groups_per_request=3, max_concurrency=3)
    async with client as c:
        res = await c.score(groups, preset="matchtir-ot")
        assert res.preset == "matchtir-ot"
        assert (await c.health(ready=True)).ok
    sync = TurnScoreClient(service.url).score(groups, preset="matchtir-ot")
    # OT is solved batched per request, and these requests are chunked differently: equal to 1e-9
    for a, b in zip(res.returns, sync.returns, strict=True):
        assert a == pytest.approx(b, abs=1e-9)


async def test_async_local_mode() -> None:
    groups = _groups(1)
    async with AsyncTurnScoreClient.local_mode() as c:
        res = await c.score(groups)
    assert res.returns == TurnScoreClient.local_mode().score(groups).returns


def test_local_fallback_when_unreachable() -> None:
    groups = _groups(1)
    policy = RetryPolicy(max_attempts=2, backoff_base=0.01, deadline=10)
    with TurnScoreClient(_dead_url(), retry=policy, local_fallback=True) as c:
        res = c.score(groups)
        assert c.stats.local_fallbacks == 1
    assert res.returns == TurnScoreClient.local_mode().score(groups).returns
    with TurnScoreClient(_dead_url(), retry=policy) as c, pytest.raises(ConnectionFailed):
        c.score(groups)  # without the opt-in, no fallback


def test_local_mode_without_the_core_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    assert local_available()
    for mod in [m for m in sys.modules if m == "turnscore" or m.startswith("turnscore.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "turnscore", None)  # what an environment without the package sees
    assert not local_available()
    with pytest.raises(LocalModeUnavailable, match="pip install"):
        TurnScoreClient.local_mode()
    with pytest.raises(LocalModeUnavailable):
        AsyncTurnScoreClient(local=True)


def test_gzip_bodies_and_api_keys_with_the_real_service() -> None:
    svc = RealService("--api-keys", "k-test-1")
    try:
        groups = _groups(1)
        with TurnScoreClient(svc.url, retry=FAST, api_key="k-test-1", gzip_min_bytes=0) as c:
            res = c.score(groups)
        assert res.returns == TurnScoreClient.local_mode().score(groups).returns
        with (
            TurnScoreClient(svc.url, retry=FAST, api_key="wrong") as c,
            pytest.raises(AuthenticationError) as ei,
        ):
            c.score(groups)
        assert ei.value.status == 401 and ei.value.attempts == 1
    finally:
        svc.stop()
