"""Helpers for the HTTP service tests: a ``turnscore serve`` subprocess, request builders, raw sockets."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


CLI = "import sys; from turnscore.cli import app; sys.argv[0] = 'turnscore'; app()"


class Service:
    """One ``turnscore serve`` subprocess; its log (JSON lines) goes to ``log_path``."""

    def __init__(self, log_path: Path, args: list[str], env: dict[str, str]) -> None:
        self.port = free_port()
        self.log_path = log_path
        self.args = args
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> Service:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TURNSCORE_")}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        env.update(self.env)
        env["PYTHONUNBUFFERED"] = "1"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    CLI,
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    *self.args,
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"service exited with {self.proc.returncode}:\n{self.logs()[-4000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    return self
            if time.monotonic() > deadline:
                raise RuntimeError(f"service did not become healthy:\n{self.logs()[-4000:]}")
            time.sleep(0.05)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def signal(self, sig: int = signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 20.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(self.url + path, timeout=kw.pop("timeout", 30.0), **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.post(self.url + path, timeout=kw.pop("timeout", 30.0), **kw)

    def readyz(self) -> dict[str, Any]:
        r = self.get("/readyz")
        assert r.status_code == 200, r.text
        return dict(r.json())

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels`` (0 if none)."""
        total = 0.0
        for line in self.get("/metrics").text.splitlines():
            if line.startswith("#") or not line.startswith(name):
                continue
            head, _, value = line.rpartition(" ")
            metric, _, label_text = head.partition("{")
            if metric != name:
                continue
            if all(f'{k}="{v}"' in label_text for k, v in labels.items()):
                total += float(value)
        return total


# -- request builders -----------------------------------------------------------------------------------


ServiceFactory = Callable[..., Service]


def weather_gold(city: str = "Beijing", answer: str = "15 degrees, wear a jacket") -> dict[str, Any]:
    return {
        "calls": [{"name": "get_weather", "arguments": {"city": city, "date": "today"}}],
        "answer": answer,
    }


def weather_rollouts(city: str = "Beijing") -> list[dict[str, Any]]:
    call = {"name": "get_weather", "arguments": {"city": city, "date": "tomorrow"}}
    return [
        {"turns": [{"tool_calls": [call]}, {"answer": "15 degrees"}]},
        {
            "text": '<think>x</think>\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "'
            + city
            + '", "date": "today"}}\n</tool_call>\n<|im_start|>assistant\n'
            + "<answer>15 degrees, wear a jacket</answer>"
        },
        {
            "messages": [
                {"role": "assistant", "content": "", "tool_calls": [call]},
                {"role": "tool", "content": "15"},
            ]
        },
        {"text": "<tool_call>{not json}</tool_call>"},
    ]


def score_request(**groups_kw: Any) -> dict[str, Any]:
    return {"groups": [{"id": "p", "gold": weather_gold(), "rollouts": weather_rollouts(), **groups_kw}]}


def heavy_request(max_iter: int = 10_000, groups: int = 6, rollouts: int = 8) -> dict[str, Any]:
    """A small body that costs ~1 s of CPU: many Sinkhorn iterations (optimal transport, tiny threshold)."""
    rng = random.Random(0)
    n = 16
    gold = [{"name": f"tool_{k % 4}", "arguments": {"a": k, "b": str(k % 3)}} for k in range(n)]

    def rollout() -> dict[str, Any]:
        calls = [
            {
                "name": f"tool_{rng.randrange(4)}",
                "arguments": {"a": rng.randrange(16), "b": str(rng.randrange(3))},
            }
            for _ in range(n)
        ]
        return {"turns": [{"tool_calls": calls[k : k + 4]} for k in range(0, n, 4)]}

    return {
        "preset": "matchtir-ot",
        "config": {"ot_max_iter": max_iter, "ot_stop_thr": 1e-300, "reg": 0.01},
        "groups": [
            {"gold": {"calls": gold}, "rollouts": [rollout() for _ in range(rollouts)]} for _ in range(groups)
        ],
    }


def raw_http_request(
    port: int, path: str, body: bytes, headers: dict[str, str] | None = None
) -> socket.socket:
    """Open a connection and send the request head only; the caller sends ``body`` (maybe slowly)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    head.append(f"Content-Length: {len(body)}")
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    return sock


def read_http_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read one HTTP/1.1 response (Content-Length framed) from ``sock``."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed before a response head: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:length]


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
