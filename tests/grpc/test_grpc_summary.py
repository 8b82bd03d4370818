"""``summary`` and ``explain: "matrix"`` over every transport (issue 15): HTTP and gRPC of one real served
process, and the client over HTTP, gRPC and in process. On the real gold traces under several presets the
summaries agree with the per-call ``matches`` of the same response, the matrices with the matches, and all
transports with each other; a client that splits a request into chunks merges their summaries."""

from __future__ import annotations

from typing import Any

import grpc
import httpx
import pytest
from turnscore_client import TurnScoreClient
from turnscore_client._gen import turnscore_pb2_grpc as pb_grpc
from turnscore_client.errors import ValidationError
from turnscore_client.grpc import GrpcTurnScoreClient, advantages_request, response_dict, score_request
from turnscore_client.types import Summary

from tests.support.gold import gold_records
from tests.support.serve import ServeProcess
from tests.support.summaries import answered_flags, check_matrices, check_summaries
from tests.support.workloads import random_advantages_request, real_requests

PRESETS = ("matchtir-km", "matchtir-reference-km", "matchtir-ot", "turnscore-v1", "toolrl")


@pytest.fixture(scope="module")
def stub(both: ServeProcess) -> Any:
    with grpc.insecure_channel(both.target) as ch:
        yield pb_grpc.RewardServiceStub(ch)


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return gold_records(per_source=4)


def http_post(both: ServeProcess, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(both.url + path, json=body, timeout=60)


@pytest.mark.parametrize("preset", PRESETS)
def test_summary_and_matrix_agree_over_every_transport(
    both: ServeProcess, stub: Any, records: list[dict[str, Any]], preset: str
) -> None:
    (req,) = real_requests(records, 1, seed=23, preset=preset)
    req["explain"] = "matrix"
    r = http_post(both, "/v1/score", req)
    assert r.status_code == 200, r.text
    via_http = r.json()
    check_summaries(req, via_http, answered_flags(req))
    assert check_matrices(via_http, ot=preset == "matchtir-ot") > 0
    via_grpc = response_dict(stub.Score(score_request(req), timeout=60))
    assert via_grpc == via_http

    expected = Summary.from_dict(via_http["summary"])
    groups = req["groups"]
    with (
        TurnScoreClient(both.url) as h,
        GrpcTurnScoreClient(both.target) as g,
        TurnScoreClient(local=True) as local,
    ):
        for client in (h, g, local):
            res = client.score(groups, preset=preset, explain="matrix")
            assert res.summary == expected
            assert [grp.summary for grp in res.groups] == [
                Summary.from_dict(grp["summary"]) for grp in via_http["groups"]
            ]
            rollouts = [r for grp in via_http["groups"] for r in grp["rollouts"]]
            for typed, raw in zip(res.rollouts, rollouts, strict=True):
                assert typed.matrix is not None
                assert typed.matrix.similarity == raw["matrix"]["similarity"]
                assert typed.matrix.plan == raw["matrix"].get("plan")
                assert [(p.turn, p.call, p.name) for p in typed.matrix.predicted] == [
                    (m.turn, m.call, m.name) for m in typed.matches or []
                ] or preset == "toolrl"


def test_chunked_client_merges_summaries(both: ServeProcess, records: list[dict[str, Any]]) -> None:
    (req,) = real_requests(records, 1, seed=31, preset="matchtir-km")
    whole = http_post(both, "/v1/score", req).json()["summary"]
    with (
        TurnScoreClient(both.url, max_groups_per_request=1) as h,
        GrpcTurnScoreClient(both.target, max_groups_per_request=3) as g,
    ):
        for client in (h, g):
            res = client.score(req["groups"], preset="matchtir-km")
            assert res.summary is not None
            assert res.summary.to_dict() == pytest.approx(whole, rel=1e-9, abs=1e-12)


def test_advantages_summary_over_both_transports(both: ServeProcess, stub: Any) -> None:
    req = random_advantages_request(3)
    via_http = http_post(both, "/v1/advantages", req).json()
    via_grpc = response_dict(stub.Advantages(advantages_request(req), timeout=60))
    assert via_grpc == via_http
    assert set(via_http["summary"]) == {
        "rollouts",
        "turns_mean",
        "outcome_mean",
        "return_mean",
        "return_std",
        "advantage_abs_mean",
    }
    assert via_http["summary"]["rollouts"] == sum(len(g["rollouts"]) for g in req["groups"])
    with TurnScoreClient(both.url) as h:
        summary = h.advantages(req["groups"], step=req["step"]).summary
    assert summary is not None and summary.calls is None
    assert summary.to_dict() == pytest.approx(via_http["summary"])


@pytest.mark.parametrize("value", ["full", 2])
def test_bad_explain_is_named(both: ServeProcess, value: Any) -> None:
    req = {"explain": value, "groups": []}
    r = http_post(both, "/v1/score", req)
    assert r.status_code == 422
    assert r.json()["error"]["details"]["path"] == "explain"
    with pytest.raises(ValidationError) as info:
        score_request(req)
    assert info.value.details == {"path": "explain"}
