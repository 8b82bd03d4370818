"""Issue 19, findings 1-3 against a real ``turnscore serve`` (HTTP and gRPC on loopback): bounded work per
request (limits checked before the work, under a memory ceiling), request patterns on RE2 (no
backtracking), a request deadline that frees the replica, and JSON nested inside strings never a 500."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from turnscore.core.limits import MAX_NESTED_JSON_DEPTH, Limits
from turnscore_client._gen import turnscore_pb2_grpc as pb_grpc
from turnscore_client.transports.grpc_messages import score_request as pb_score_request

from tests.support.gold import gold_records, num_calls
from tests.support.serve import CLI, ServeProcess

pytestmark = pytest.mark.timeout(300)

GOLD = {"calls": [{"name": "get_weather", "arguments": {"city": "Beijing"}}], "answer": "sunny"}
CALL = '<tool_call>{"name": "get_weather", "arguments": {"city": "Beijing"}}</tool_call>'


def nested_object(depth: int) -> str:
    """A JSON object ``depth`` levels deep: ``{"a": {"a": ... 1}}``."""
    return '{"a": ' * depth + "1" + "}" * depth


def text_call(arguments: str) -> str:
    return f'<tool_call>{{"name": "get_weather", "arguments": {arguments}}}</tool_call>'


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """HTTP + gRPC, two scoring threads (so one heavy request leaves a thread), default limits."""
    log = tmp_path_factory.mktemp("chaos-work") / "serve.log"
    svc = ServeProcess(log, "--scoring-threads", "2", grpc=True, env={"TURNSCORE_REQUEST_TIMEOUT": "3"})
    svc.start()
    yield svc
    svc.stop()


def error(r: httpx.Response) -> dict[str, Any]:
    body = r.json()
    assert set(body) == {"error"}, body
    return dict(body["error"])


def grpc_error(err: grpc.RpcError) -> dict[str, Any]:
    for key, value in err.trailing_metadata() or ():
        if key == "turnscore-error-bin":
            return dict(json.loads(value)["error"])
    raise AssertionError(f"no error body: {err}")


def grpc_score(svc: ServeProcess, body: dict[str, Any], timeout: float = 60) -> Any:
    with grpc.insecure_channel(svc.target) as ch:
        return pb_grpc.RewardServiceStub(ch).Score(pb_score_request(body), timeout=timeout)


# -- finding 2: bounded work per request ----------------------------------------------------------------


def test_defaults_cover_every_real_trace_with_a_wide_margin() -> None:
    records = gold_records()
    assert records
    most = max(num_calls(r) for r in records)
    limits = Limits()
    assert limits.max_gold_calls >= 4 * most
    # a full group of real traces (every rollout as long as the longest gold, 4 references) fits
    assert limits.max_match_cells >= 64 * most * most * 4
    assert limits.max_ot_cells >= 64 * most * most * 4


def test_readyz_reports_the_limits(server: ServeProcess) -> None:
    limits = server.readyz()["limits"]
    for name in ("max_gold_calls", "max_match_cells", "max_ot_cells", "max_calls_per_rollout"):
        assert limits[name] == getattr(Limits(), name)
    assert limits["request_timeout"] == 3


def test_limits_are_configurable(tmp_path: Path) -> None:
    env = {"TURNSCORE_MAX_GOLD_CALLS": "3", "TURNSCORE_MAX_MATCH_CELLS": "10"}
    svc = ServeProcess(tmp_path / "small.log", "--max-ot-cells", "5", env=env).start()
    try:
        assert svc.readyz()["limits"]["max_ot_cells"] == 5
        gold4 = {"calls": [GOLD["calls"][0]] * 4}
        r = svc.post("/v1/score", json={"groups": [{"gold": gold4, "rollouts": [{"text": CALL}]}]})
        assert r.status_code == 413 and error(r)["details"]["limit"] == "max_gold_calls"
        gold3 = {"calls": [GOLD["calls"][0]] * 3}
        r = svc.post("/v1/score", json={"groups": [{"gold": gold3, "rollouts": [{"text": CALL * 4}]}]})
        assert r.status_code == 413 and error(r)["details"] == {
            "limit": "max_match_cells",
            "max": 10,
            "path": "groups",
            "actual": 12,
        }
        r = svc.post(
            "/v1/score",
            json={"preset": "matchtir-ot", "groups": [{"gold": gold3, "rollouts": [{"text": CALL * 2}]}]},
        )
        assert r.status_code == 413 and error(r)["details"]["limit"] == "max_ot_cells"
        r = svc.post("/v1/score", json={"groups": [{"gold": gold3, "rollouts": [{"text": CALL * 3}]}]})
        assert r.status_code == 200, r.text
    finally:
        svc.stop()


def hostile_ot_body(gold_calls: int, rollouts: int, calls: int) -> dict[str, Any]:
    """The issue's 2.3 MB request: one name everywhere, so every pair is a similarity cell; distinct
    rollouts (identical ones are scored once)."""
    gold = {"calls": [{"name": "f", "arguments": {"x": j}} for j in range(gold_calls)]}
    texts = [
        f'<tool_call>{{"name": "f", "arguments": {{"x": {k}}}}}</tool_call>' * calls for k in range(rollouts)
    ]
    return {"preset": "matchtir-ot", "groups": [{"gold": gold, "rollouts": [{"text": t} for t in texts]}]}


def hostile_hungarian_body(gold_calls: int, calls: int) -> dict[str, Any]:
    gold = {"calls": [{"name": "f", "arguments": {"x": j}} for j in range(gold_calls)]}
    rollouts = [
        {"turns": [{"tool_calls": [{"name": "f", "arguments": {"x": k}}] * calls}]} for k in range(64)
    ]
    return {"preset": "matchtir-km", "groups": [{"gold": gold, "rollouts": rollouts}]}


def test_hostile_requests_under_a_memory_ceiling(tmp_path: Path) -> None:
    """The issue's requests that took 72 s and 1.8 GB (or 500 under 3 GB): a clean 413 within seconds,
    the process alive, under a 1.5 GB address-space ceiling (``prlimit --as``)."""
    ceiling = 1536 * 1024 * 1024
    command = ["prlimit", f"--as={ceiling}", sys.executable, "-c", CLI]
    env = {"MALLOC_ARENA_MAX": "2", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    svc = ServeProcess(tmp_path / "ceiling.log", "--scoring-threads", "2", command=command, env=env).start()
    try:
        cases = [
            (hostile_ot_body(1000, 64, 1024), "max_gold_calls"),  # gold of 1,000 calls
            (hostile_ot_body(256, 64, 1024), "max_ot_cells"),  # 16.7 M dense OT cells
            (hostile_hungarian_body(256, 1024), "max_match_cells"),  # 16.7 M similarity pairs
        ]
        for body, limit in cases:
            t0 = time.perf_counter()
            r = svc.post("/v1/score", json=body, timeout=120)
            assert r.status_code == 413, r.text[:300]
            assert error(r)["code"] == "limit_exceeded" and error(r)["details"]["limit"] == limit
            assert time.perf_counter() - t0 < 20
        # model output over max_calls_per_rollout: the calls beyond it are not matched (malformed, warned)
        r = svc.post("/v1/score", json=hostile_ot_body(200, 1, 1100), timeout=120)
        assert r.status_code == 200, r.text[:300]
        assert r.json()["groups"][0]["rollouts"][0]["malformed_calls"] == 1100 - 1024
        assert [w["count"] for w in r.json()["warnings"] if w["code"] == "calls_over_limit"] == [1100 - 1024]
        # the same requests at their limits still score, within the ceiling
        ok = hostile_ot_body(250, 4, 1000)  # 1.0 M OT cells
        r = svc.post("/v1/score", json=ok, timeout=120)
        assert r.status_code == 200, r.text[:300]
        assert svc.proc is not None and svc.proc.poll() is None
        assert svc.get("/healthz").status_code == 200
    finally:
        svc.stop()


# -- finding 1: request patterns never backtrack ------------------------------------------------------


def test_hostile_pattern_costs_milliseconds_and_health_answers(server: ServeProcess) -> None:
    body = {
        "config": {"format": {"tool_call_pattern": "(?:a+)+$", "answer_pattern": "(?:a+)+$"}},
        "groups": [{"gold": GOLD, "rollouts": [{"text": "a" * 29 + "!"}, {"text": "a" * 200_000 + "!"}]}],
    }
    t0 = time.perf_counter()
    r = server.post("/v1/score", json=body, timeout=30)
    assert r.status_code == 200, r.text
    assert time.perf_counter() - t0 < 2.0
    # the pattern matches nothing here: no call, no answer
    assert [x["num_calls"] for x in r.json()["groups"][0]["rollouts"]] == [0, 0]
    # the same over gRPC
    t0 = time.perf_counter()
    grpc_score(server, body)
    assert time.perf_counter() - t0 < 2.0


def test_request_patterns_run_on_re2_and_still_find_calls(server: ServeProcess) -> None:
    body = {
        "config": {"format": {"tool_call_pattern": r"\[CALL\]\s*(.*?)\s*\[/CALL\]"}},
        "groups": [
            {
                "gold": GOLD,
                "rollouts": [
                    {"text": '[CALL] {"name": "get_weather", "arguments": {"city": "Beijing"}} [/CALL]'}
                ],
            }
        ],
    }
    r = server.post("/v1/score", json=body)
    assert r.status_code == 200, r.text
    row = r.json()["groups"][0]["rollouts"][0]
    assert row["num_calls"] == 1 and row["turn_rewards"][0] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("key", "pattern"),
    [
        ("tool_call_pattern", r"<(t)>(.*?)</\1>"),
        ("answer_pattern", r"(?<=x)<a>(.*?)</a>"),
        ("answer_pattern", "("),
    ],
)
def test_patterns_re2_refuses_are_422_naming_the_key(server: ServeProcess, key: str, pattern: str) -> None:
    body = {"config": {"format": {key: pattern}}, "groups": [{"gold": GOLD, "rollouts": [{"text": CALL}]}]}
    r = server.post("/v1/score", json=body)
    assert r.status_code == 422, r.text
    err = error(r)
    assert err["code"] == "invalid_config" and err["details"]["key"] == f"format.{key}"


# -- finding 3 (the slow-request part): a deadline frees the replica ------------------------------------


def slow_body() -> dict[str, Any]:
    """OT at its iteration cap on many rollouts: tens of seconds of CPU (a small ``reg`` keeps Sinkhorn from
    converging early, so the compiled similarity path cannot make it fast), under every size limit."""
    gold = {"calls": [{"name": "f", "arguments": {"x": j, "y": j % 3}} for j in range(30)]}
    rollouts = [  # 1,024 distinct rollouts x 30 calls x 30 gold calls: 0.92 M OT cells (max_ot_cells: 1 M)
        {
            "turns": [
                {"tool_calls": [{"name": "f", "arguments": {"x": (k + i) % 37, "y": k}} for i in range(30)]}
            ]
        }
        for k in range(1024)
    ]
    config = {"ot_max_iter": 10_000, "ot_stop_thr": 1e-300, "reg": 0.001}
    return {"preset": "matchtir-ot", "config": config, "groups": [{"gold": gold, "rollouts": rollouts}]}


@pytest.fixture()
def impatient_server(tmp_path: Path) -> Iterator[ServeProcess]:
    """A server whose requests may run 0.5 s: the slow body takes about 30 s of CPU on a quiet machine (on
    either core), so it is always past its deadline."""
    svc = ServeProcess(
        tmp_path / "serve.log", "--scoring-threads", "2", env={"TURNSCORE_REQUEST_TIMEOUT": "0.5"}
    )
    svc.start()
    yield svc
    svc.stop()


def test_request_past_its_deadline_stops_and_health_answers_meanwhile(impatient_server: ServeProcess) -> None:
    server = impatient_server
    body = slow_body()
    result: dict[str, Any] = {}

    def heavy() -> None:
        t0 = time.perf_counter()
        result["response"] = server.post("/v1/score", json=body, timeout=120)
        result["seconds"] = time.perf_counter() - t0

    worker = threading.Thread(target=heavy)
    worker.start()
    health: list[float] = []
    while worker.is_alive():
        t0 = time.perf_counter()
        assert server.get("/healthz", timeout=5).status_code == 200
        health.append(time.perf_counter() - t0)
        time.sleep(0.05)
    worker.join()
    r = result["response"]
    assert r.status_code == 408, r.text[:300]
    assert error(r)["code"] == "deadline_exceeded"
    assert result["seconds"] < 0.5 + 2.5  # request_timeout = 0.5: stopped soon after it
    assert health and max(health) < 1.0
    # the slot and the thread are free again
    assert server.readyz()["inflight"] == 0
    r = server.post("/v1/score", json={"groups": [{"gold": GOLD, "rollouts": [{"text": CALL}]}]})
    assert r.status_code == 200


def test_grpc_deadline_stops_the_core(server: ServeProcess) -> None:
    t0 = time.perf_counter()
    with pytest.raises(grpc.RpcError) as info:
        grpc_score(server, slow_body(), timeout=0.3)  # the body takes about a second of CPU
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # the core stopped at the call's deadline: a scoring request right after runs at once
    r = server.post("/v1/score", json={"groups": [{"gold": GOLD, "rollouts": [{"text": CALL}]}]}, timeout=30)
    assert r.status_code == 200
    assert time.perf_counter() - t0 < 4.0
    deadline = time.monotonic() + 5
    while server.readyz()["inflight"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.readyz()["inflight"] == 0


# -- finding 3: JSON nested inside strings ----------------------------------------------------------------


def test_over_deep_arguments_in_model_output_are_malformed_calls(server: ServeProcess) -> None:
    deep = MAX_NESTED_JSON_DEPTH + 1
    rollouts = [
        {"text": text_call("[" * 500 + "]" * 500)},  # the issue's ~500 deep, in a text rollout
        {"text": text_call(nested_object(deep))},
        {"text": text_call(nested_object(MAX_NESTED_JSON_DEPTH - 1))},  # within the limit: a call
        {
            "messages": [
                {
                    "role": "assistant",
                    "tool_calls": [{"function": {"name": "get_weather", "arguments": nested_object(600)}}],
                }
            ]
        },
        {
            "turns": [
                {"tool_calls": [{"name": "get_weather", "arguments": nested_object(600)}], "answer": None}
            ]
        },
    ]
    body = {"groups": [{"gold": GOLD, "rollouts": rollouts}]}
    r = server.post("/v1/score", json=body)
    assert r.status_code == 200, r.text[:500]
    rows = r.json()["groups"][0]["rollouts"]
    assert [x["malformed_calls"] for x in rows] == [1, 1, 0, 1, 1]
    assert rows[2]["num_calls"] == 1
    reply = grpc_score(server, body)
    assert [x.malformed_calls for x in reply.groups[0].rollouts] == [1, 1, 0, 1, 1]


def test_over_deep_gold_arguments_are_422_naming_the_path(server: ServeProcess) -> None:
    gold = {"calls": [GOLD["calls"][0], {"name": "g", "arguments": nested_object(300)}]}
    body = {"groups": [{"gold": gold, "rollouts": [{"text": CALL}]}]}
    r = server.post("/v1/score", json=body)
    assert r.status_code == 422, r.text[:500]
    assert error(r)["details"]["path"] == "groups[0].gold.calls[1].arguments"
    with pytest.raises(grpc.RpcError) as info:
        grpc_score(server, body)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert grpc_error(info.value)["details"]["path"] == "groups[0].gold.calls[1].arguments"


def test_openrlhf_over_deep_model_output_is_scored(server: ServeProcess) -> None:
    prompt = "P:"
    queries = [prompt + text_call("[" * 500 + "]" * 500), prompt + CALL + "<answer>sunny</answer>"]
    deep_label = {"calls": [{"name": "g", "arguments": nested_object(300)}]}
    r = server.post(
        "/v1/openrlhf",
        json={
            "query": [*queries, prompt + CALL],
            "prompts": [prompt] * 3,
            "labels": [GOLD, GOLD, deep_label],
        },
    )
    assert r.status_code == 200, r.text[:500]
    rewards = r.json()["rewards"]
    assert len(rewards) == 3 and rewards[1] > rewards[0]
    assert rewards[2] == 0.0  # an invalid label: reward 0, counted, never a 500
