"""A small scripted HTTP service on a real socket, for the client's protocol tests (tests/client).

It answers API.md-shaped bodies (canned numbers), remembers the golds it has seen (like one replica's
tier-1 cache), answers 409 ``unknown_gold_ref`` for refs it does not know, and plays scripted faults
(503 with Retry-After, 429, 422, ...) in order before answering normally.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.serve import LoopbackServer


def gold_ref_of(gold: Any) -> str:
    text = json.dumps(gold, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def err(code: str, message: str = "m", details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


@dataclass
class Fault:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to stall before answering


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class FakeService(LoopbackServer):
    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.faults: list[Fault] = []
        self.known_refs: set[str] = set()
        self.lock = threading.Lock()
        self.inflight = 0
        self.max_inflight = 0
        # when > 0, the first `rendezvous` requests wait (up to 5 s) until that many are in flight together
        self.rendezvous = 0
        self._cond = threading.Condition(self.lock)
        svc = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    raw = gzip.decompress(raw)
                body = json.loads(raw) if raw else None
                with svc._cond:
                    svc.requests.append(Seen(method, self.path, dict(self.headers), body))
                    fault = svc.faults.pop(0) if svc.faults else None
                    svc.inflight += 1
                    svc.max_inflight = max(svc.max_inflight, svc.inflight)
                    svc._cond.notify_all()
                    if svc.rendezvous and len(svc.requests) <= svc.rendezvous:
                        svc._cond.wait_for(lambda: svc.max_inflight >= svc.rendezvous, timeout=5)
                try:
                    if fault is not None:
                        time.sleep(fault.delay)
                        self._send(fault.status, fault.body, fault.headers)
                    else:
                        self._send(*svc.answer(method, self.path, body))
                finally:
                    with svc._cond:
                        svc.inflight -= 1

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

        super().__init__(Handler)

    def posts(self, path: str = "/v1/score") -> list[Seen]:
        return [r for r in self.requests if r.method == "POST" and r.path == path]

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if method == "GET" and path == "/healthz":
            return 200, {"status": "ok"}
        if method == "GET" and path == "/v1/presets":
            return 200, {"presets": {"matchtir-km": {"assignment": "hungarian"}, "toolrl": {}}}
        if method == "POST" and path in ("/v1/score", "/v1/advantages"):
            groups = body["groups"]
            refs = [g["gold_ref"] for g in groups if "gold_ref" in g]
            missing = [r for r in refs if r not in self.known_refs]
            if missing:
                return 409, {
                    "error": {
                        "code": "unknown_gold_ref",
                        "message": f"{len(missing)} gold_ref(s) unknown",
                        "details": {"missing": sorted(set(missing))},
                    }
                }
            out = []
            for g in groups:
                ref = g.get("gold_ref")
                if "gold" in g:
                    ref = gold_ref_of(g["gold"])
                    with self.lock:
                        self.known_refs.add(ref)
                rollouts = []
                for r in g["rollouts"]:
                    n = len(r.get("turns") or r.get("turn_rewards") or [])
                    rollouts.append(
                        {
                            "turn_rewards": [0.5] * n,
                            "outcome_reward": 0.25,
                            "return": 0.5 * n + 0.25,
                            "trajectory_advantage": 0.0,
                            "turn_advantages": [0.0] * n,
                            "advantages": [0.1 * (t + 1) for t in range(n)],
                            "num_turns": n,
                            "num_calls": n,
                            "malformed_calls": 0,
                            "reference": 0,
                        }
                    )
                out.append({"id": g.get("id"), "gold_ref": ref, "rollouts": rollouts})
            return 200, {"preset": body.get("preset", "matchtir-km"), "config": {"gamma": 0.9}, "groups": out}
        return 404, {"detail": "Not Found"}
