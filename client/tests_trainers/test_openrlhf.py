"""OpenRLHF 0.11.2's real reward client (openrlhf.utils.agent.SingleTurnAgentExecutor) against the real
service over a socket: ``--reward.remote_url http://HOST/v1/openrlhf`` and ``--reward.remote_url file.py``.

Only the generation engine is a stand-in (vLLM needs a GPU): it returns a fixed multi-turn tool-call
response as token ids of a real tokenizer. Everything from there on is OpenRLHF's code: it decodes
prompt + response with special tokens into the query, posts ``{"query", "prompts", "labels"}`` (or calls
the file's ``reward_func``), retries failed requests, and puts ``rewards``/``scores``/``extra_logs`` into the
sample.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import ROOT, FaultProxy, multi_call_records
from openrlhf.utils.agent import SingleTurnAgentExecutor
from turnscore_client import TurnScoreClient

from tests.support.serve import RealService
from tests.support.workloads import api_gold, chat_prompt, qwen_response

EXAMPLE = ROOT / "client" / "examples" / "openrlhf_reward_func.py"


class CannedEngine:
    """Stand-in for OpenRLHF's vLLM engine actor: ``generate`` returns one fixed response."""

    def __init__(self, tokenizer: Any, response: str) -> None:
        self.ids = tokenizer(text=response, add_special_tokens=False)["input_ids"]
        self.text = response

    async def generate(
        self, prompt_token_ids: list[int], sampling_params: Any, multi_modal_data: Any = None
    ) -> Any:
        out = SimpleNamespace(token_ids=list(self.ids), text=self.text, finish_reason="stop", logprobs=None)
        return SimpleNamespace(outputs=[out])


def _run(
    executor: SingleTurnAgentExecutor, tokenizer: Any, prompt: str, label: Any, response: str
) -> dict[str, Any]:
    params = SimpleNamespace(max_tokens=None, logprobs=None)
    coro = executor.execute(prompt, label, params, 4096, tokenizer, CannedEngine(tokenizer, response))
    return asyncio.run(coro)


def _expected(service: RealService, rec: dict[str, Any], responses: list[str]) -> list[float]:
    group = {"id": "x", "gold": api_gold(rec), "rollouts": [{"text": r} for r in responses]}
    return TurnScoreClient(service.url).score([group]).returns[0]


def _expected_summary(service: RealService, rec: dict[str, Any], response: str) -> dict[str, Any]:
    """``turnscore/<field>`` of the service's summary for the one-sample request OpenRLHF sent."""
    group = {"id": "x", "gold": api_gold(rec), "rollouts": [{"text": response}]}
    summary = TurnScoreClient(service.url).score([group]).summary
    assert summary is not None and summary.rollouts == 1
    fields = summary.to_dict()
    assert len(fields) == 19
    return {f"turnscore/{k}": [pytest.approx(v, abs=1e-9)] for k, v in fields.items()}


def _summary_logs(out: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in out["extra_logs"].items() if k.startswith("turnscore/")}


def _cases() -> list[tuple[dict[str, Any], str, str]]:
    out = []
    for rec in multi_call_records(3):
        turns = rec["gold"]["turns"]
        wrong = [[{"name": c["name"], "arguments": {"zz": 1}} for c in t] for t in turns]
        out.append((rec, qwen_response(turns), qwen_response(wrong[:1])))
    return out


def test_remote_url_http_with_retry_after_503(
    service: RealService, proxy: FaultProxy, tokenizer: Any
) -> None:
    executor = SingleTurnAgentExecutor(remote_rm_url=[proxy.url + "/v1/openrlhf"])
    for n, (rec, good, bad) in enumerate(_cases()):
        prompt = chat_prompt(rec.get("question") or "call the tools")
        label = (
            api_gold(rec) if n % 2 else json.dumps(api_gold(rec))
        )  # --data.label_key: object or JSON string
        proxy.faults = [503] if n == 0 else []
        out_good = _run(executor, tokenizer, prompt, label, good)
        out_bad = _run(executor, tokenizer, prompt, label, bad)
        exp_good, exp_bad = _expected(service, rec, [good, bad])
        assert out_good["reward"] == [pytest.approx(exp_good)] and out_good["scores"] == [
            pytest.approx(exp_good)
        ]
        assert out_bad["reward"] == [pytest.approx(exp_bad)]
        assert exp_good > exp_bad
        assert out_good["extra_logs"]["turnscore_errors"] == [0]
        assert out_good["extra_logs"]["turnscore_num_calls"] == [sum(len(t) for t in rec["gold"]["turns"])]
        # the summary of the request (OpenRLHF sends one sample per request) under turnscore/<field>
        for out, response in ((out_good, good), (out_bad, bad)):
            assert _summary_logs(out) == _expected_summary(service, rec, response)
    # the first POST got the injected 503, OpenRLHF's own retry loop sent it again and it went through
    posts = [status for path, status in proxy.log if path == "/v1/openrlhf"]
    assert posts[:2] == [503, 200] and posts.count(503) == 1 and len(posts) == 7


def test_unscorable_label_gets_zero_not_an_error(proxy: FaultProxy, tokenizer: Any) -> None:
    executor = SingleTurnAgentExecutor(remote_rm_url=proxy.url + "/v1/openrlhf")
    out = _run(executor, tokenizer, chat_prompt("q"), "this is not a gold trace", qwen_response([[]]))
    assert out["reward"] == [0.0] and out["extra_logs"]["turnscore_errors"] == [1]
    # an unscored sample keeps every key (OpenRLHF concatenates them per sample), at 0
    logs = _summary_logs(out)
    assert len(logs) == 19 and set(map(tuple, logs.values())) == {(0,)}


def test_remote_url_python_file(
    service: RealService, proxy: FaultProxy, tokenizer: Any, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    """``--reward.remote_url client/examples/openrlhf_reward_func.py``: OpenRLHF loads the shipped example
    file and calls its ``reward_func`` from a worker thread; the turnscore client retries the 503 itself."""
    monkeypatch.setenv("TURNSCORE_URL", proxy.url)
    monkeypatch.setenv("TURNSCORE_PRESET", "matchtir-km")
    assert Path(EXAMPLE).exists()
    executor = SingleTurnAgentExecutor(remote_rm_url=str(EXAMPLE))
    assert executor.reward_func is not None
    rec, good, bad = _cases()[0]
    proxy.faults = [503, 503]
    with caplog.at_level(logging.INFO):
        out_good = _run(executor, tokenizer, chat_prompt("q"), api_gold(rec), good)
    out_bad = _run(executor, tokenizer, chat_prompt("q"), json.dumps(api_gold(rec)), bad)
    exp_good, exp_bad = _expected(service, rec, [good, bad])
    assert out_good["reward"] == [pytest.approx(exp_good)] and out_bad["reward"] == [pytest.approx(exp_bad)]
    assert _summary_logs(out_good) == _expected_summary(service, rec, good)
    posts = [status for path, status in proxy.log if path == "/v1/openrlhf"]
    assert posts == [503, 503, 200, 200]
    # the retries were the client's (OpenRLHF's file path has no retry loop of its own)
    assert executor.reward_func.client.get().stats.retries == 2
