"""HTTP and gRPC answer the same requests with the same results (one process serves both).

The requests are the real gold traces (``tests.support.gold``) perturbed into rollouts in all three forms
(``turnscore.workload.make_request``), under every preset, with and without ``explain``.
"""

from __future__ import annotations

from typing import Any

import grpc
import httpx
import pytest
from turnscore.core import engine
from turnscore_client._gen import turnscore_pb2 as pb
from turnscore_client._gen import turnscore_pb2_grpc as pb_grpc
from turnscore_client.grpc import advantages_request, presets_dict, response_dict, score_request

from tests.support.gold import gold_records
from tests.support.serve import ServeProcess
from tests.support.workloads import big_int_group, random_advantages_request, real_requests


@pytest.fixture(scope="module")
def stub(both: ServeProcess) -> Any:
    with grpc.insecure_channel(both.target) as ch:
        yield pb_grpc.RewardServiceStub(ch)


def http_post(both: ServeProcess, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = httpx.post(both.url + path, json=body, timeout=60)
    assert r.status_code == 200, r.text
    return dict(r.json())


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return gold_records()


@pytest.mark.parametrize("preset", sorted(engine.presets()))
def test_score_same_results_real_traces(both: ServeProcess, stub: Any, records: Any, preset: str) -> None:
    for i, req in enumerate(real_requests(records, 2, seed=hash(preset) % 1000, preset=preset)):
        req["explain"] = i == 0
        req["step"] = 7 * i
        via_http = http_post(both, "/v1/score", req)
        via_grpc = response_dict(stub.Score(score_request(req), timeout=60))
        assert via_grpc == via_http
        assert via_grpc["groups"] and all(g["rollouts"] for g in via_grpc["groups"])


def test_exact_values_and_ids(both: ServeProcess, stub: Any) -> None:
    """2**60 vs 2**60 + 1 and int vs float arguments survive the trip; numeric ids come back as numbers."""
    req = {"groups": [big_int_group()], "explain": True, "config": {"value_match": "exact"}}
    via_http = http_post(both, "/v1/score", req)
    via_grpc = response_dict(stub.Score(score_request(req), timeout=60))
    assert via_grpc == via_http
    group = via_grpc["groups"][0]
    assert group["id"] == 17 and isinstance(group["id"], int)
    exact, off_by_one, as_float = (r["turn_rewards"][0] for r in group["rollouts"])
    assert exact > off_by_one  # a double-based encoding would have made these equal
    assert as_float == exact  # `value_match: exact` treats 1 and 1.0 alike, on both transports


def test_score_gold_ref_shared_cache(both: ServeProcess, stub: Any, records: Any) -> None:
    """A gold trace sent over HTTP is known to gRPC by its gold_ref (one cache per process)."""
    req = real_requests(records, 1, seed=99)[0]
    first = http_post(both, "/v1/score", req)
    by_ref = {
        "groups": [
            {"id": g["id"], "gold_ref": r["gold_ref"], "rollouts": g["rollouts"]}
            for g, r in zip(req["groups"], first["groups"], strict=True)
        ]
    }
    via_grpc = response_dict(stub.Score(score_request(by_ref), timeout=60))
    assert via_grpc == first


def test_references_and_gold_refs(both: ServeProcess, stub: Any, records: Any) -> None:
    req = real_requests(records, 1, seed=5)[0]
    g0, g1 = req["groups"][0], req["groups"][1]
    refs_req = {
        "groups": [{"id": "multi", "references": [g0["gold"], g1["gold"]], "rollouts": g0["rollouts"]}]
    }
    via_http = http_post(both, "/v1/score", refs_req)
    assert via_grpc_equal(stub, refs_req, via_http)
    refs = via_http["groups"][0]["gold_refs"]
    by_refs = {"groups": [{"id": "multi", "gold_refs": refs, "rollouts": g0["rollouts"]}]}
    assert via_grpc_equal(stub, by_refs, http_post(both, "/v1/score", by_refs))


def via_grpc_equal(stub: Any, req: dict[str, Any], via_http: dict[str, Any]) -> bool:
    return bool(response_dict(stub.Score(score_request(req), timeout=60)) == via_http)


@pytest.mark.parametrize(
    ("preset", "config"),
    [
        ("matchtir-km", None),
        ("grpo-outcome", None),
        ("matchtir-km", {"reward_scheme": "trajectory+outcome"}),
        ("mt-grpo", {"mt_grpo_mode": "cae"}),
        ("gigpo", {"gigpo_mode": "mean_std_norm"}),
    ],
)
def test_advantages_same_results(
    both: ServeProcess, stub: Any, preset: str, config: dict[str, Any] | None
) -> None:
    for seed in range(3):
        req = random_advantages_request(seed, preset)
        if config:
            req["config"] = config
        if preset == "gigpo":  # anchor states: any JSON, null for unknown (zero-turn rollouts: [])
            for g in req["groups"]:
                for k, r in enumerate(g["rollouts"]):
                    r["states"] = [
                        None if (t + k) % 3 == 2 else {"t": t, "k": k % 2}
                        for t in range(len(r["turn_rewards"]))
                    ]
        via_http = http_post(both, "/v1/advantages", req)
        via_grpc = response_dict(stub.Advantages(advantages_request(req), timeout=60))
        assert via_grpc == via_http
        assert via_grpc["groups"][1]["id"] == "g1" and via_grpc["groups"][0]["id"] == 3.5
        if config and "reward_scheme" in config:
            assert all("trajectory_reward" in r for g in via_grpc["groups"] for r in g["rollouts"])
        if preset == "gigpo":
            assert all(
                len(r["step_group_sizes"]) == r["num_turns"]
                for g in via_grpc["groups"]
                for r in g["rollouts"]
            )


def test_presets_same(both: ServeProcess, stub: Any) -> None:
    r = httpx.get(both.url + "/v1/presets", timeout=30)
    assert r.status_code == 200
    assert presets_dict(stub.Presets(pb.PresetsRequest(), timeout=30)) == r.json()
