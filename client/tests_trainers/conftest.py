"""Fixtures for the trainer suite (run by .venv-trainers, see mk/trainers.mk).

- ``service``: the real service, ``turnscore serve`` from the main .venv (``$TURNSCORE_BIN``), on a socket.
- ``proxy``: a reverse proxy on a real socket in front of it that answers scripted faults (503 with
  Retry-After) before forwarding, to drive the trainers' and the client's retry paths.
- ``tokenizer``: a real byte-level BPE tokenizer (``tokenizers`` + ``transformers``), trained here on
  chat-formatted tool-call text, with Qwen's chat special tokens (no download).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
# tests/serve_support.py: the `turnscore serve` subprocess helper of every suite (stdlib + httpx only)
sys.path.append(str(ROOT / "tests"))
from serve_support import RealService  # noqa: E402

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def turnscore_exe() -> str:
    """The main .venv's ``turnscore`` (``$TURNSCORE_BIN``): this environment has the client only."""
    exe = os.environ.get("TURNSCORE_BIN") or str(ROOT / ".venv" / "bin" / "turnscore")
    if not Path(exe).exists() and not shutil.which(exe):
        raise RuntimeError(f"turnscore executable not found: {exe} (run `make venv`, or set TURNSCORE_BIN)")
    return exe


class FaultProxy:
    """Forwards every request to ``upstream``, except that the first ``len(faults)`` POSTs get the scripted
    status (with ``Retry-After: 0``) instead. ``log`` records (path, status answered)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.faults: list[int] = []
        self.log: list[tuple[str, int]] = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _forward(self, method: str) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with proxy.lock:
                    fault = proxy.faults.pop(0) if method == "POST" and proxy.faults else None
                if fault is not None:
                    body = json.dumps(
                        {"error": {"code": "overloaded", "message": "injected by the test proxy"}}
                    )
                    proxy.log.append((self.path, fault))
                    self._reply(
                        fault, body.encode(), {"Content-Type": "application/json", "Retry-After": "0"}
                    )
                    return
                fwd = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                r = httpx.request(method, proxy.upstream + self.path, content=raw, headers=fwd, timeout=60)
                proxy.log.append((self.path, r.status_code))
                self._reply(r.status_code, r.content, {"Content-Type": r.headers.get("content-type", "")})

            def do_GET(self) -> None:
                self._forward("GET")

            def do_POST(self) -> None:
                self._forward("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def service() -> Iterator[RealService]:
    svc = RealService(binary=turnscore_exe())
    yield svc
    svc.stop()


@pytest.fixture
def proxy(service: RealService) -> Iterator[FaultProxy]:
    p = FaultProxy(service.url)
    yield p
    p.close()


def gold_records(n: int = 6) -> list[dict[str, Any]]:
    """Real multi-call gold traces (shared/data/gold, else the repo's sample)."""
    shared = Path(os.environ.get("TURNSCORE_GOLD_DIR", ROOT.parent / "shared" / "data" / "gold"))
    path = shared / "bfcl_multi_turn.jsonl"
    if not path.exists():
        path = ROOT / "tests" / "data" / "gold_sample.jsonl"
    out = []
    with path.open() as fh:
        for line in fh:
            rec = json.loads(line)
            if sum(len(t) for t in rec["gold"]["turns"]) >= 2:
                out.append(rec)
            if len(out) == n:
                break
    return out


def api_gold(rec: dict[str, Any]) -> dict[str, Any]:
    calls = [c for turn in rec["gold"]["turns"] for c in turn]
    return {"calls": calls, "answer": rec["gold"].get("answer"), "accepted_values": None}


def qwen_response(turns: list[list[dict[str, Any]]]) -> str:
    """A decoded Qwen multi-turn response (assistant turns with tool calls, tool responses between)."""
    pieces = []
    for calls in turns:
        body = "".join(f"<tool_call>\n{json.dumps(c)}\n</tool_call>" for c in calls)
        pieces.append(
            f"<think>ok</think>\n{body}<|im_end|>\n<|im_start|>user\n<tool_response>\n{{}}\n</tool_response>"
        )
    return "<|im_end|>\n<|im_start|>assistant\n".join(pieces) + "<|im_end|>"


def chat_prompt(question: str) -> str:
    system = "<|im_start|>system\nYou call tools.<|im_end|>\n"
    return f"{system}<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"


@pytest.fixture(scope="session")
def tokenizer() -> Any:
    return build_tokenizer()


def build_tokenizer() -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = []
    for rec in gold_records(20):
        corpus.append(chat_prompt(rec.get("question") or "") + qwen_response(rec["gold"]["turns"]))
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(corpus, trainer)
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
        clean_up_tokenization_spaces=False,
    )
    return hf
