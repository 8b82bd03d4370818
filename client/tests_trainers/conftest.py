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
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.gold import gold_records
from tests.support.serve import LoopbackServer, RealService
from tests.support.workloads import chat_prompt, qwen_response

ROOT = Path(__file__).resolve().parents[2]
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def turnscore_exe() -> str:
    """The main .venv's ``turnscore`` (``$TURNSCORE_BIN``): this environment has the client only."""
    exe = os.environ.get("TURNSCORE_BIN") or str(ROOT / ".venv" / "bin" / "turnscore")
    if not Path(exe).exists() and not shutil.which(exe):
        raise RuntimeError(f"turnscore executable not found: {exe} (run `make venv`, or set TURNSCORE_BIN)")
    return exe


def multi_call_records(n: int) -> list[dict[str, Any]]:
    """The first ``n`` BFCL multi-turn gold traces of at least two calls."""
    return gold_records(source="bfcl_v4/multi_turn", min_calls=2)[:n]


class FaultProxy(LoopbackServer):
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

        super().__init__(Handler)


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


@pytest.fixture(scope="session")
def tokenizer() -> Any:
    return build_tokenizer()


def build_tokenizer() -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = []
    for rec in multi_call_records(20):
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
