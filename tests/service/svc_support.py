"""Helpers for the HTTP service tests: a ``turnscore serve`` subprocess, request builders, raw sockets."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable
from typing import Any

import httpx
from serve_support import ServeProcess


class Service(ServeProcess):
    """One ``turnscore serve`` subprocess; its log (JSON lines) goes to ``log_path``."""

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
