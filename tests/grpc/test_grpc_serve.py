"""`turnscore serve --grpc-port`: gRPC next to HTTP in one process (shared metrics) or alone; drain."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from turnscore_client._gen import turnscore_pb2 as pb
from turnscore_client._gen import turnscore_pb2_grpc as pb_grpc

from tests.support.serve import CLI, ServeProcess


def metric(url: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in httpx.get(url + "/metrics", timeout=30).text.splitlines():
        head, _, value = line.rpartition(" ")
        metric_name, _, label_text = head.partition("{")
        if metric_name == name and all(f'{k}="{v}"' in label_text for k, v in labels.items()):
            total += float(value)
    return total


def test_grpc_calls_in_the_shared_metrics(both: ServeProcess) -> None:
    name = "turnscore_request_duration_seconds_count"
    ok = {"endpoint": "/turnscore.v1.RewardService/Score", "status": "OK"}
    bad = {"endpoint": "/turnscore.v1.RewardService/Score", "status": "INVALID_ARGUMENT"}
    before_ok, before_bad = metric(both.url, name, **ok), metric(both.url, name, **bad)
    rollouts_before = metric(both.url, "turnscore_rollouts_scored_total")
    with grpc.insecure_channel(both.target) as ch:
        stub = pb_grpc.RewardServiceStub(ch)
        gold = b'{"calls": [{"name": "f", "arguments": {}}]}'
        stub.Score(
            pb.ScoreRequest(groups=[pb.Group(gold_json=gold, rollouts=[pb.Rollout(text="x")] * 3)]),
            timeout=30,
        )
        with pytest.raises(grpc.RpcError):
            stub.Score(pb.ScoreRequest(groups=[pb.Group(rollouts=[pb.Rollout(text="x")])]), timeout=30)
    assert metric(both.url, name, **ok) == before_ok + 1
    assert metric(both.url, name, **bad) == before_bad + 1
    assert metric(both.url, "turnscore_rollouts_scored_total") == rollouts_before + 3
    # one structured access-log line per RPC, like HTTP requests
    lines = [json.loads(x) for x in both.logs().splitlines() if x.startswith("{")]
    grpc_lines = [x for x in lines if x.get("logger") == "turnscore.access" and x.get("transport") == "grpc"]
    assert {x["status"] for x in grpc_lines} >= {"OK", "INVALID_ARGUMENT"}


def health_status(target: str) -> int | None:
    """SERVING (1) / NOT_SERVING (2), or None when the server does not answer."""
    with grpc.insecure_channel(target) as ch:
        try:
            return int(
                health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=1).status
            )
        except grpc.RpcError:
            return None


def watch_drain(proc: ServeProcess) -> list[int | None]:
    """Health answers from SIGTERM until the process exits (distinct consecutive values)."""
    proc.signal()
    seen: list[int | None] = []
    deadline = time.monotonic() + 30
    while proc.proc is not None and proc.proc.poll() is None and time.monotonic() < deadline:
        status = health_status(proc.target)
        if not seen or seen[-1] != status:
            seen.append(status)
        time.sleep(0.05)
    return seen


def test_grpc_alone_drains_on_sigterm(tmp_path: Path) -> None:
    proc = ServeProcess(tmp_path / "alone.log", "--grpc-drain-delay", "1.5", grpc=True, http=False).start()
    try:
        with pytest.raises(httpx.ConnectError):
            httpx.get(proc.url + "/healthz", timeout=2)  # no HTTP in this mode
        with grpc.insecure_channel(proc.target) as ch:
            assert pb_grpc.RewardServiceStub(ch).Presets(pb.PresetsRequest(), timeout=30).presets_json
        seen = watch_drain(proc)
        assert health_pb2.HealthCheckResponse.NOT_SERVING in seen, seen
        assert proc.wait() == 0, proc.logs()[-3000:]
    finally:
        proc.stop()


def test_http_and_grpc_drain_on_sigterm(tmp_path: Path) -> None:
    proc = ServeProcess(tmp_path / "both.log", "--grpc-drain-delay", "1.5", grpc=True).start()
    try:
        seen = watch_drain(proc)
        assert health_pb2.HealthCheckResponse.NOT_SERVING in seen, seen
        assert proc.wait() == 0, proc.logs()[-3000:]
    finally:
        proc.stop()


def test_no_http_needs_a_grpc_port() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CLI, "serve", "--no-http"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2 and "nothing to serve" in out.stderr
