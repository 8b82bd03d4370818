"""Helpers for the gRPC tests: in-process servers on free ports, a `turnscore serve` subprocess, requests."""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import serve_support
from turnscore.grpc.server import GrpcServer
from turnscore.runtime import Runtime
from turnscore.settings import Settings
from turnscore.workload import load_traces, make_request

ROOT = Path(__file__).resolve().parents[2]
GOLD_DIR = Path(os.environ.get("TURNSCORE_GOLD_DIR", ROOT.parent / "shared" / "data" / "gold"))
SERVICE = "turnscore.v1.RewardService"


def gold_records() -> list[dict[str, Any]]:
    records = load_traces([GOLD_DIR])
    assert records, f"no gold traces under {GOLD_DIR}"
    return records


def real_requests(records: list[dict[str, Any]], n: int, seed: int = 0, **kw: Any) -> list[dict[str, Any]]:
    return [make_request(records, groups=4, group_size=4, seed=seed + i, **kw) for i in range(n)]


def error_body(err: grpc.RpcError) -> dict[str, Any]:
    """The API.md error body from the trailing metadata (asserts it is there)."""
    import orjson

    trailers = dict(err.trailing_metadata() or ())  # type: ignore[attr-defined]
    assert "turnscore-error-bin" in trailers, trailers
    body = orjson.loads(trailers["turnscore-error-bin"])
    assert trailers["turnscore-error-code"] == body["error"]["code"]
    return dict(body["error"])


@contextlib.asynccontextmanager
async def grpc_server(**settings: Any) -> AsyncIterator[tuple[GrpcServer, Runtime, grpc.aio.Channel]]:
    """Runtime + GrpcServer on a free port in this event loop, and a real channel to it."""
    s = Settings(host="127.0.0.1", grpc_port=0, grpc_drain_delay=0, **settings)
    runtime = Runtime(s)
    await runtime.start()
    server = GrpcServer(runtime)
    port = await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield server, runtime, channel
    finally:
        await channel.close()
        await server.stop(0)
        await runtime.close()


class ServeProcess(serve_support.ServeProcess):
    """`turnscore serve` in a subprocess: HTTP and gRPC on free ports (gRPC alone with ``http=False``),
    ready when gRPC health says SERVING (and ``/healthz`` answers)."""

    stop_timeout = 20.0

    def __init__(self, log_path: Path, *args: str, http: bool = True, env: dict[str, str] | None = None):
        super().__init__(log_path, *args, env=env, grpc=True, http=http)


def big_int_group() -> dict[str, Any]:
    """A group whose gold argument is 2**60: a double-based encoding could not tell 2**60 from 2**60 + 1."""
    gold = {"calls": [{"name": "transfer", "arguments": {"amount": 2**60, "to": "acct-1"}}], "answer": "done"}
    exact = {"turns": [{"tool_calls": gold["calls"]}, {"answer": "done"}]}
    off_by_one = {
        "turns": [
            {"tool_calls": [{"name": "transfer", "arguments": {"amount": 2**60 + 1, "to": "acct-1"}}]},
            {"answer": "done"},
        ]
    }
    as_float = {
        "turns": [
            {"tool_calls": [{"name": "transfer", "arguments": {"amount": 1.0 * 2**60, "to": "acct-1"}}]},
            {"answer": "done"},
        ]
    }
    return {"id": 17, "gold": gold, "rollouts": [exact, off_by_one, as_float]}


def random_advantages_request(seed: int, preset: str | None = None) -> dict[str, Any]:
    rng = random.Random(seed)
    groups = []
    for g in range(3):
        rollouts = []
        for _ in range(4):
            n = rng.randint(0, 4)
            rollouts.append(
                {
                    "turn_rewards": [round(rng.uniform(-1, 1), 6) for _ in range(n)],
                    "outcome_reward": rng.choice([0, 1, 0.5, rng.random()]),
                    "trajectory_reward": rng.random(),
                }
            )
        groups.append({"id": f"g{g}" if g else 3.5, "rollouts": rollouts})
    req: dict[str, Any] = {"groups": groups, "step": seed}
    if preset is not None:
        req["preset"] = preset
    return req
