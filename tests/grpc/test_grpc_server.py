"""The grpc.aio server over real channels: status mapping, auth, overload, deadlines, health, reflection."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import grpc
import orjson
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from turnscore import metrics
from turnscore_client._gen import turnscore_pb2 as pb
from turnscore_client._gen import turnscore_pb2_grpc as pb_grpc
from turnscore_client.grpc import response_dict, score_request

from tests.support.grpc_service import SERVICE, error_body, grpc_server

GOLD = {"calls": [{"name": "get_weather", "arguments": {"city": "Beijing"}}], "answer": "15 degrees"}
TURNS = [
    {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Beijing"}}]},
    {"answer": "15 degrees"},
]


def one_group(**group: Any) -> pb.ScoreRequest:
    return score_request({"groups": [{"id": "g", "gold": GOLD, "rollouts": [{"turns": TURNS}], **group}]})


async def expect_error(
    call: Any, code: grpc.StatusCode
) -> tuple[grpc.aio.AioRpcError, dict[str, Any] | None]:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    err = info.value
    assert err.code() == code, (err.code(), err.details())
    trailers = dict(err.trailing_metadata() or ())
    return err, (error_body(err) if "turnscore-error-bin" in trailers else None)


def counter(c: Any) -> float:
    return float(c._value.get())


async def test_score_advantages_presets_rpcs() -> None:
    async with grpc_server() as (_, _, ch):
        stub = pb_grpc.RewardServiceStub(ch)
        body = response_dict(await stub.Score(one_group(), timeout=30))
        r = body["groups"][0]["rollouts"][0]
        assert body["groups"][0]["gold_ref"].startswith("sha256:")
        assert r["num_turns"] == 2 and r["num_calls"] == 1 and r["turn_rewards"][0] > 0
        adv = await stub.Advantages(
            pb.AdvantagesRequest(
                groups=[pb.RewardGroup(id="a", rollouts=[pb.RewardRollout(turn_rewards=[1, 0])])]
            ),
            timeout=30,
        )
        assert response_dict(adv)["groups"][0]["rollouts"][0]["turn_rewards"] == [1.0, 0.0]
        presets = await stub.Presets(pb.PresetsRequest(), timeout=30)
        assert "matchtir-km" in presets.presets_json
        assert orjson.loads(presets.presets_json["matchtir-km"])["assignment"] == "hungarian"


async def test_invalid_argument_names_the_field() -> None:
    async with grpc_server() as (_, _, ch):
        stub = pb_grpc.RewardServiceStub(ch)
        bad_messages = pb.ScoreRequest(
            groups=[
                pb.Group(id="g", gold_json=orjson.dumps(GOLD), rollouts=[pb.Rollout(messages_json=b'"x"')])
            ]
        )
        _, body = await expect_error(stub.Score(bad_messages, timeout=30), grpc.StatusCode.INVALID_ARGUMENT)
        assert body is not None and body["details"]["path"].startswith("groups[0].rollouts[0].messages")

        no_form = pb.ScoreRequest(groups=[pb.Group(gold_json=orjson.dumps(GOLD), rollouts=[pb.Rollout()])])
        err, body = await expect_error(stub.Score(no_form, timeout=30), grpc.StatusCode.INVALID_ARGUMENT)
        assert body is not None and body["details"]["path"] == "groups[0].rollouts[0]"
        assert "groups[0].rollouts[0]" in (err.details() or "")

        req = one_group()
        req.config_json = b'{"no_such_setting": 1}'
        _, body = await expect_error(stub.Score(req, timeout=30), grpc.StatusCode.INVALID_ARGUMENT)
        assert body is not None and body["code"] == "invalid_config"
        assert body["details"]["path"] == "config.no_such_setting"

        req = one_group()
        req.preset = "nope"
        _, body = await expect_error(stub.Score(req, timeout=30), grpc.StatusCode.INVALID_ARGUMENT)
        assert body is not None and body["code"] == "unknown_preset" and body["details"]["path"] == "preset"

        broken = pb.ScoreRequest(groups=[pb.Group(gold_json=b'{"calls": [', rollouts=[pb.Rollout(text="x")])])
        _, body = await expect_error(stub.Score(broken, timeout=30), grpc.StatusCode.INVALID_ARGUMENT)
        assert (
            body is not None
            and body["code"] == "malformed_json"
            and body["details"]["path"] == "groups[0].gold"
        )

        adv = pb.AdvantagesRequest(
            groups=[pb.RewardGroup(rollouts=[pb.RewardRollout(turn_rewards=[float("nan")])])]
        )
        _, body = await expect_error(stub.Advantages(adv, timeout=30), grpc.StatusCode.INVALID_ARGUMENT)
        assert body is not None and body["details"]["path"] == "groups[0].rollouts[0].turn_rewards[0]"


async def test_unknown_gold_ref_is_failed_precondition() -> None:
    async with grpc_server() as (_, runtime, ch):
        stub = pb_grpc.RewardServiceStub(ch)
        known = response_dict(await stub.Score(one_group(), timeout=30))["groups"][0]["gold_ref"]
        missing = "sha256:" + "0" * 64
        req = score_request(
            {
                "groups": [
                    {"gold_ref": known, "rollouts": [{"turns": TURNS}]},
                    {"gold_ref": missing, "rollouts": [{"turns": TURNS}]},
                ]
            }
        )
        _, body = await expect_error(stub.Score(req, timeout=30), grpc.StatusCode.FAILED_PRECONDITION)
        assert body is not None and body["code"] == "unknown_gold_ref"
        assert body["details"]["missing"] == [missing]
        runtime.cache.memory.clear()  # the known ref is forgotten too once the cache loses it
        _, body = await expect_error(stub.Score(req, timeout=30), grpc.StatusCode.FAILED_PRECONDITION)
        assert body is not None and sorted(body["details"]["missing"]) == sorted([known, missing])


async def test_limits_are_resource_exhausted() -> None:
    async with grpc_server(max_groups=2, max_json_depth=12, grpc_max_message_bytes=64 * 1024) as (_, _, ch):
        stub = pb_grpc.RewardServiceStub(ch)
        group = {"gold": GOLD, "rollouts": [{"turns": TURNS}]}
        _, body = await expect_error(
            stub.Score(score_request({"groups": [group] * 3}), timeout=30), grpc.StatusCode.RESOURCE_EXHAUSTED
        )
        assert (
            body is not None and body["code"] == "limit_exceeded" and body["details"]["limit"] == "max_groups"
        )

        # depth counts from the root of the equivalent JSON body, as over HTTP: 5 levels above messages
        deep: Any = "x"
        for _ in range(8):
            deep = [deep]
        req = pb.ScoreRequest(
            groups=[
                pb.Group(
                    gold_json=orjson.dumps(GOLD), rollouts=[pb.Rollout(messages_json=orjson.dumps(deep))]
                )
            ]
        )
        _, body = await expect_error(stub.Score(req, timeout=30), grpc.StatusCode.RESOURCE_EXHAUSTED)
        assert body is not None and body["details"]["limit"] == "max_json_depth"
        assert body["details"]["path"] == "groups[0].rollouts[0].messages" and body["details"]["actual"] == 13

        huge = score_request({"groups": [{"gold": GOLD, "rollouts": [{"text": "x" * 100_000}]}]})
        err, _ = await expect_error(stub.Score(huge, timeout=30), grpc.StatusCode.RESOURCE_EXHAUSTED)
        assert (
            "larger than max" in (err.details() or "").lower() or "message" in (err.details() or "").lower()
        )


async def test_overload_is_resource_exhausted_with_retry_after() -> None:
    async with grpc_server(max_inflight=1, retry_after=3) as (_, runtime, ch):
        stub = pb_grpc.RewardServiceStub(ch)
        assert runtime.try_admit()  # the one slot is taken (as by a request being scored)
        try:
            err, body = await expect_error(
                stub.Score(one_group(), timeout=30), grpc.StatusCode.RESOURCE_EXHAUSTED
            )
            assert body is not None and body["code"] == "overloaded"
            assert dict(err.trailing_metadata() or ())["retry-after"] == "3"
        finally:
            runtime.release()
        await stub.Score(one_group(), timeout=30)  # the slot is free again
        assert runtime.inflight == 0


async def test_api_keys_from_metadata() -> None:
    async with grpc_server(api_keys="k1,k2") as (_, _, ch):
        stub = pb_grpc.RewardServiceStub(ch)
        before = counter(metrics.REJECTED.labels("unauthorized"))
        _, body = await expect_error(stub.Score(one_group(), timeout=30), grpc.StatusCode.UNAUTHENTICATED)
        assert body is not None and body["code"] == "unauthorized"
        await expect_error(
            stub.Presets(pb.PresetsRequest(), timeout=30, metadata=(("authorization", "Bearer nope"),)),
            grpc.StatusCode.UNAUTHENTICATED,
        )
        assert counter(metrics.REJECTED.labels("unauthorized")) == before + 2
        await stub.Score(one_group(), timeout=30, metadata=(("authorization", "Bearer k2"),))
        # health and reflection stay public, like /healthz
        health = health_pb2_grpc.HealthStub(ch)
        assert (await health.Check(health_pb2.HealthCheckRequest(), timeout=30)).status == 1


async def test_deadline_exceeded_abandons_queued_work() -> None:
    """The scoring pool is busy; the call's deadline expires while it waits: DEADLINE_EXCEEDED, and the
    queued scoring never runs."""
    async with grpc_server(scoring_threads=1) as (_, runtime, ch):
        stub = pb_grpc.RewardServiceStub(ch)
        gate = threading.Event()
        blocker = runtime.executor.submit(gate.wait, 30)
        scored_before = counter(metrics.GROUPS_SCORED)
        try:
            await expect_error(stub.Score(one_group(), timeout=0.5), grpc.StatusCode.DEADLINE_EXCEEDED)
            # the server notices the expiry too (cancellation); wait until it let go of the admission slot
            for _ in range(200):
                if runtime.inflight == 0:
                    break
                await asyncio.sleep(0.02)
            assert runtime.inflight == 0
        finally:
            gate.set()
        blocker.result(timeout=30)
        await asyncio.get_running_loop().run_in_executor(runtime.executor, lambda: None)  # pool drained
        assert counter(metrics.GROUPS_SCORED) == scored_before  # the abandoned request was never scored
        await stub.Score(one_group(), timeout=30)
        assert counter(metrics.GROUPS_SCORED) == scored_before + 1


async def test_expired_deadline_is_refused_before_work() -> None:
    async with grpc_server() as (_, _, ch):
        stub = pb_grpc.RewardServiceStub(ch)
        await expect_error(stub.Score(one_group(), timeout=0.000001), grpc.StatusCode.DEADLINE_EXCEEDED)


async def test_health_not_serving_while_draining_then_stop() -> None:
    async with grpc_server(scoring_threads=1) as (server, runtime, ch):
        stub = pb_grpc.RewardServiceStub(ch)
        health = health_pb2_grpc.HealthStub(ch)
        for name in ("", SERVICE):
            assert (await health.Check(health_pb2.HealthCheckRequest(service=name), timeout=30)).status == 1

        await server.begin_drain()
        for name in ("", SERVICE):
            got = await health.Check(health_pb2.HealthCheckRequest(service=name), timeout=30)
            assert got.status == health_pb2.HealthCheckResponse.NOT_SERVING
        await stub.Score(one_group(), timeout=30)  # still served while draining

        # an RPC in flight when the server stops completes; new RPCs are refused
        gate = threading.Event()
        blocker = runtime.executor.submit(gate.wait, 30)
        inflight = asyncio.ensure_future(stub.Score(one_group(), timeout=30))
        for _ in range(500):
            if runtime.inflight == 1:
                break
            await asyncio.sleep(0.01)
        assert runtime.inflight == 1
        stopping = asyncio.ensure_future(server.stop(grace=20))
        await asyncio.sleep(0.1)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.Presets(pb.PresetsRequest(), timeout=5)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        gate.set()
        blocker.result(timeout=30)
        assert response_dict(await inflight)["groups"][0]["rollouts"][0]["num_calls"] == 1
        await stopping


async def test_reflection_lists_the_service() -> None:
    async with grpc_server() as (server, _, _):
        # the reflection database client is synchronous: run it off the loop
        def lookup() -> tuple[list[str], list[str]]:
            with grpc.insecure_channel(f"127.0.0.1:{server.port}") as sync_ch:
                db = ProtoReflectionDescriptorDatabase(sync_ch)
                services = list(db.get_services())
                method_names = [
                    m.name
                    for m in db.FindFileContainingSymbol(SERVICE).service[0].method  # type: ignore[attr-defined]
                ]
                return services, method_names

        services, methods = await asyncio.to_thread(lookup)
        assert SERVICE in services and "grpc.health.v1.Health" in services
        assert methods == ["Score", "Advantages", "Presets"]


async def test_unknown_keys_in_json_parts_are_invalid_argument_with_path_and_suggestion() -> None:
    """The JSON-carrying parts of a gRPC request go through the core's strict checks, as over HTTP."""
    cases = [
        (
            pb.Group(id="g", gold_json=b'{"call": []}', rollouts=[pb.Rollout(text="x")]),
            "groups[0].gold.call",
            "calls",
        ),
        (
            pb.Group(
                id="g", gold_json=b'{"calls": [{"name": "f", "args": {}}]}', rollouts=[pb.Rollout(text="x")]
            ),
            "groups[0].gold.calls[0].args",
            "arguments",
        ),
        (
            pb.Group(
                gold_json=orjson.dumps(GOLD),
                rollouts=[pb.Rollout(turns_json=b'[{"tool_call": [{"name": "f", "arguments": {}}]}]')],
            ),
            "groups[0].rollouts[0].turns[0].tool_call",
            "tool_calls",
        ),
        (
            pb.Group(
                gold_json=orjson.dumps(GOLD),
                rollouts=[pb.Rollout(messages_json=b'[{"role": "assistant", "contents": "hi"}]')],
            ),
            "groups[0].rollouts[0].messages[0].contents",
            "content",
        ),
        (
            pb.Group(
                references_json=orjson.dumps([GOLD, {**GOLD, "anwser": "x"}]), rollouts=[pb.Rollout(text="x")]
            ),
            "groups[0].references[1].anwser",
            "answer",
        ),
    ]
    async with grpc_server() as (_, _, ch):
        stub = pb_grpc.RewardServiceStub(ch)
        for group, path, suggestion in cases:
            call = stub.Score(pb.ScoreRequest(groups=[group]), timeout=30)
            err, body = await expect_error(call, grpc.StatusCode.INVALID_ARGUMENT)
            assert body is not None and body["code"] == "invalid_request", body
            assert body["details"]["path"] == path and body["details"]["suggestion"] == suggestion, body
            assert path in (err.details() or "")
        req = one_group()
        req.config_json = b'{"gama": 0.5}'
        _, body = await expect_error(stub.Score(req, timeout=30), grpc.StatusCode.INVALID_ARGUMENT)
        assert body is not None and body["details"]["path"] == "config.gama"
        assert body["details"]["suggestion"] == "gamma"
        # a whole gold-data record in gold_json is read as its gold (the same gold_ref)
        record = {"id": "r", "source": "s", "gold": GOLD, "accepted_values": None}
        as_record = response_dict(await stub.Score(one_group(gold=record), timeout=30))
        as_gold = response_dict(await stub.Score(one_group(), timeout=30))
        assert as_record["groups"][0]["rollouts"] == as_gold["groups"][0]["rollouts"]
        assert as_record["groups"][0]["gold_ref"] == as_gold["groups"][0]["gold_ref"]
