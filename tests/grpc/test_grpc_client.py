"""turnscore_client's gRPC clients: the HTTP clients' surface, results and typed errors (real channels)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from typing import Any

import grpc
import pytest
from turnscore_client import (
    AsyncTurnScoreClient,
    AuthenticationError,
    ConnectionFailed,
    PayloadTooLargeError,
    RetryPolicy,
    ServiceUnavailableError,
    TurnScoreClient,
    TurnScoreError,
    UnknownGoldRefError,
    ValidationError,
)
from turnscore_client.grpc import AsyncGrpcTurnScoreClient, GrpcTurnScoreClient

from tests.support.gold import gold_records
from tests.support.grpc_service import grpc_server
from tests.support.serve import ServeProcess, free_port
from tests.support.workloads import random_advantages_request, real_requests

GOLD = {"calls": [{"name": "get_weather", "arguments": {"city": "Beijing"}}], "answer": "15 degrees"}
TURNS = [
    {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Beijing"}}]},
    {"answer": "15 degrees"},
]
NO_RETRY = RetryPolicy(max_attempts=1)


def group(i: int = 0) -> dict[str, Any]:
    return {"id": f"g{i}", "gold": GOLD, "rollouts": [{"turns": TURNS}, {"text": "no calls"}]}


def raw(resp: Any) -> list[Any]:
    return [(g.raw, [r.raw for r in g.rollouts]) for g in resp.groups]


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return gold_records()


def test_same_results_as_http_client(both: ServeProcess, records: Any) -> None:
    groups = [g for req in real_requests(records, 3, seed=11) for g in req["groups"]]
    kw: dict[str, Any] = {"max_groups_per_request": 5, "max_concurrency": 2}
    with TurnScoreClient(both.url, **kw) as h, GrpcTurnScoreClient(both.target, **kw) as g:
        for preset, explain, step in (
            ("matchtir-km", True, 0),
            ("matchtir-ot", False, 5),
            ("toolrl", False, 3),
        ):
            via_http = h.score(groups, preset=preset, explain=explain, step=step)
            via_grpc = g.score(groups, preset=preset, explain=explain, step=step)
            assert via_grpc == via_http and raw(via_grpc) == raw(via_http)
            assert len(via_grpc.groups) == len(groups)
        # the second round goes out as gold_ref only, with the same results
        refs_before = g.stats.gold_refs_sent
        again = g.score(groups, preset="matchtir-km", explain=True)
        assert g.stats.gold_refs_sent - refs_before == len(groups)
        assert raw(again) == raw(h.score(groups, preset="matchtir-km", explain=True))

        adv = [random_advantages_request(s) for s in range(2)]
        adv_groups = [x for req in adv for x in req["groups"]]
        cfg = {"reward_scheme": "trajectory+outcome"}
        assert raw(g.advantages(adv_groups, config=cfg, step=2)) == raw(
            h.advantages(adv_groups, config=cfg, step=2)
        )
        assert g.presets() == h.presets()
        health = g.health()
        assert health.ok and health.body == {"status": "SERVING"}
        assert g.health(ready=True).ok


def test_typed_errors(both: ServeProcess) -> None:
    with GrpcTurnScoreClient(both.target, retry=NO_RETRY) as g:
        with pytest.raises(ValidationError) as v:
            g.score([group()], config={"no_such_setting": 1})
        assert (
            v.value.status == 422
            and v.value.code == "invalid_config"
            and v.value.path == "config.no_such_setting"
        )

        with pytest.raises(ValidationError) as v:
            g.score([{"gold": GOLD, "rollouts": [{"messages": "not a list"}]}])
        assert v.value.path is not None and v.value.path.startswith("groups[0].rollouts[0].messages")

        with pytest.raises(UnknownGoldRefError) as u:
            g.score([{"gold_ref": "sha256:" + "1" * 64, "rollouts": [{"turns": TURNS}]}])
        assert u.value.status == 409 and u.value.missing == ["sha256:" + "1" * 64]

        # not expressible in the typed messages: refused before sending, like the service would
        sent = g.stats.requests
        with pytest.raises(ValidationError) as v:
            g.score([{"gold": GOLD, "rollouts": [{"text": "a", "turns": TURNS}]}])
        assert v.value.path == "groups[0].rollouts[0]" and g.stats.requests == sent

        with pytest.raises(TurnScoreError) as t:
            g.openrlhf(["q"], ["p"], [GOLD])
        assert t.value.code == "not_available"


async def test_local_mode_constructors_keep_the_grpc_classes() -> None:
    with GrpcTurnScoreClient.local_mode() as g:
        assert type(g) is GrpcTurnScoreClient and g.local and g.targets == []
        assert g.health().body == {"status": "ok", "mode": "local"}
    async with AsyncGrpcTurnScoreClient.local_mode() as a:
        assert type(a) is AsyncGrpcTurnScoreClient and a.local and a.targets == []
        assert (await a.health()).body == {"status": "ok", "mode": "local"}
        with pytest.raises(TurnScoreError) as t:
            await a.openrlhf(["q"], ["p"], [GOLD])
    assert t.value.code == "not_available"


def test_connection_failure_retries_then_local_fallback() -> None:
    dead = f"127.0.0.1:{free_port()}"
    policy = RetryPolicy(max_attempts=2, backoff_base=0.0, deadline=30)
    with GrpcTurnScoreClient(dead, retry=policy, timeout=5) as g:
        with pytest.raises(ConnectionFailed) as c:
            g.score([group()])
        assert c.value.attempts == 2 and g.stats.attempts == 2
        assert not g.health().ok
    with GrpcTurnScoreClient(dead, retry=policy, timeout=5, local_fallback=True) as g:
        res = g.score([group()])
        assert g.stats.local_fallbacks == 1 and res.groups[0].rollouts[0].num_calls == 1


def test_client_works_without_the_service_package() -> None:
    code = (
        "import sys; sys.modules['turnscore'] = None\n"
        "from turnscore_client.grpc import GrpcTurnScoreClient, score_request\n"
        "req = score_request({'groups': [{'id': 1, 'gold': {'calls': []}, 'rollouts': [{'text': 'x'}]}]})\n"
        "assert req.groups[0].id_json == b'1'\n"
        "GrpcTurnScoreClient('127.0.0.1:1').close()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


async def test_server_side_errors_and_resend() -> None:
    """Auth, size limits and overload map to the HTTP clients' exceptions; a gold_ref the service lost is
    resent in full (FAILED_PRECONDITION → transparent resend)."""
    async with grpc_server(api_keys="secret", max_inflight=1, max_groups=3, retry_after=0) as (
        server,
        runtime,
        _,
    ):
        target = f"127.0.0.1:{server.port}"

        def errors_and_resend() -> None:
            with GrpcTurnScoreClient(target, retry=NO_RETRY) as anon:
                with pytest.raises(AuthenticationError) as a:
                    anon.score([group()])
                assert a.value.status == 401 and a.value.code == "unauthorized"
            with GrpcTurnScoreClient(target, api_key="secret", retry=NO_RETRY, max_groups_per_request=4) as g:
                with pytest.raises(PayloadTooLargeError) as p:
                    g.score([group(i) for i in range(4)])
                assert p.value.status == 413 and p.value.details["limit"] == "max_groups"
                first = g.score([group(1)])
                runtime.cache.memory.clear()
                second = g.score([group(1)])
                assert g.stats.gold_resends == 1 and raw(second) == raw(first)

        def overloaded() -> None:
            policy = RetryPolicy(max_attempts=2, backoff_base=0.0, retry_after_max=0.0)
            with GrpcTurnScoreClient(target, api_key="secret", retry=policy) as g:
                with pytest.raises(ServiceUnavailableError) as o:
                    g.score([group()])
                assert o.value.code == "overloaded" and o.value.attempts == 2 and o.value.retry_after == 0

        await asyncio.to_thread(errors_and_resend)
        assert runtime.try_admit()  # hold the only admission slot
        try:
            await asyncio.to_thread(overloaded)
        finally:
            runtime.release()


async def test_async_client_same_as_sync(both: ServeProcess, records: Any) -> None:
    groups = real_requests(records, 1, seed=3)[0]["groups"]
    async with AsyncGrpcTurnScoreClient(both.target) as g, AsyncTurnScoreClient(both.url) as h:
        assert raw(await g.score(groups, explain=True)) == raw(await h.score(groups, explain=True))
        adv = random_advantages_request(1)["groups"]
        assert raw(await g.advantages(adv)) == raw(await h.advantages(adv))
        assert await g.presets() == await h.presets()
        assert (await g.health()).ok
        with pytest.raises(ValidationError):
            await g.score([group()], config={"gamma": "high"})


async def test_async_client_deadline() -> None:
    """A per-attempt timeout shorter than the scoring: DEADLINE_EXCEEDED, retried, then ConnectionFailed."""
    async with grpc_server(scoring_threads=1) as (server, runtime, _):
        gate = threading.Event()
        blocker = runtime.executor.submit(gate.wait, 30)
        try:
            policy = RetryPolicy(max_attempts=2, backoff_base=0.0, deadline=30)
            async with AsyncGrpcTurnScoreClient(f"127.0.0.1:{server.port}", retry=policy, timeout=0.3) as g:
                with pytest.raises(ConnectionFailed) as c:
                    await g.score([group()])
            assert c.value.code == "deadline_exceeded" and c.value.attempts == 2
        finally:
            gate.set()
            blocker.result(timeout=30)


def test_gzip_and_targets_from_env(both: ServeProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURNSCORE_GRPC_TARGET", f"grpc://{both.target}, {both.target}")
    monkeypatch.setenv("TURNSCORE_MAX_ATTEMPTS", "1")
    with GrpcTurnScoreClient.from_env(compression=grpc.Compression.Gzip) as g, TurnScoreClient(both.url) as h:
        assert g.targets == [both.target, both.target] and g.retry.max_attempts == 1
        groups = [group(i) for i in range(3)]
        assert raw(g.score(groups, explain=True)) == raw(h.score(groups, explain=True))


def test_every_transport_raises_the_same_errors(both: ServeProcess) -> None:
    """The same refused requests over HTTP, gRPC and in-process: the same exception, kind, code, message,
    details and status."""
    refused: list[tuple[list[dict[str, Any]], dict[str, Any]]] = [
        ([group()], {"config": {"no_such_setting": 1}}),
        ([group()], {"preset": "no-such-preset"}),
        ([{"id": "g", "gold": GOLD, "rollouts": [{"messages": "not a list"}]}], {}),
        ([{"id": "g", "gold_ref": "sha256:" + "1" * 64, "rollouts": [{"turns": TURNS}]}], {}),
        ([{"id": "g", "references": [GOLD] * 65, "rollouts": [{"turns": TURNS}]}], {}),
    ]
    with (
        TurnScoreClient(both.url, retry=NO_RETRY) as h,
        GrpcTurnScoreClient(both.target, retry=NO_RETRY) as g,
        TurnScoreClient.local_mode() as local,
    ):
        for groups, kw in refused:
            seen = []
            for client in (h, g, local):
                with pytest.raises(TurnScoreError) as e:
                    client.score(groups, **kw)
                err = e.value
                seen.append((type(err), err.kind, err.code, err.message, err.details, err.status))
            assert seen[0] == seen[1] == seen[2], seen
            assert seen[0][0] in (ValidationError, UnknownGoldRefError, PayloadTooLargeError)
