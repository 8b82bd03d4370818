"""(3) TurnScoreToolAgentLoop run end to end inside verl's ToolAgentLoop machinery (no model, no GPU).

Real parts: verl's ToolAgentLoop state machine, its Continuous Token builder (Qwen family) that builds the
response mask, the hermes tool parser, verl's FunctionTool, the turnscore service over a socket. Stand-ins:
the LLM server (a scripted ``generate`` returning fixed token ids: the model's output is test data) and a
small byte-level tokenizer with Qwen's special tokens and a ChatML template (no model download).
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import pytest
import verl
from hydra import compose, initialize_config_dir
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast
from turnscore_client import TurnScoreClient
from turnscore_client.tokens import find_segments, unpack_rewards
from turnscore_client.verl.agent_loop import TurnScoreAgentLoopOutput, TurnScoreToolAgentLoop
from verl.experimental.agent_loop.agent_loop import DictConfigWrap, ToolListWrap
from verl.tools.function_tool import FunctionTool
from verl.tools.schemas import OpenAIFunctionToolSchema
from verl.trainer.ppo.metric_utils import process_validation_metrics
from verl.workers.rollout.replica import TokenOutput

from tests.support.workloads import FLIGHT, HOTEL, WEATHER

CHATML = (
    "{% if tools %}<|im_start|>system\nTools: {{ tools | tojson }}<|im_end|>\n{% endif %}"
    "{% for m in messages %}"
    "{% if m.role == 'assistant' %}<|im_start|>assistant\n{{ m.content }}"
    "{% if m.tool_calls %}{% for tc in m.tool_calls %}\n<tool_call>\n"
    '{"name": "{{ tc.function.name }}", "arguments": {{ tc.function.arguments | tojson }}}\n</tool_call>'
    "{% endfor %}{% endif %}<|im_end|>\n"
    "{% elif m.role == 'tool' %}<|im_start|>user\n<tool_response>\n{{ m.content }}"
    "\n</tool_response><|im_end|>\n"
    "{% else %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def byte_tokenizer() -> PreTrainedTokenizerFast:
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    hf = PreTrainedTokenizerFast(tokenizer_object=tok)
    hf.add_special_tokens(
        {"pad_token": "<|endoftext|>", "additional_special_tokens": ["<|im_start|>", "<|im_end|>"]}
    )
    hf.add_tokens(["<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>"])
    hf.chat_template = CHATML
    return hf


def tool(name: str, params: list[str], result: str) -> FunctionTool:
    async def fn(**kwargs: Any) -> str:
        return result

    schema = OpenAIFunctionToolSchema.model_validate(
        {
            "type": "function",
            "function": {
                "name": name,
                "description": name,
                "parameters": {
                    "type": "object",
                    "properties": {p: {"type": "string", "description": p} for p in params},
                    "required": [],
                },
            },
        }
    )
    return FunctionTool(name=name, fn=fn, tool_schema=schema, is_async=True)


class ScriptedServer:
    """Stands in for verl's LLM server client: returns the next scripted assistant turn."""

    def __init__(self, tokenizer: PreTrainedTokenizerFast, turns: list[str]) -> None:
        self.ids = [tokenizer.encode(t, add_special_tokens=False) for t in turns]
        self.calls = 0

    async def generate(
        self, request_id: str, prompt_ids: list[int], sampling_params: dict[str, Any], **_: Any
    ) -> Any:
        out = self.ids[self.calls]
        self.calls += 1
        return TokenOutput(token_ids=out, log_probs=None, num_preempted=0)


def tc(c: dict[str, Any]) -> str:
    return "<tool_call>\n" + json.dumps(c) + "\n</tool_call>"


SCRIPT = [
    "<think>check weather</think>\n"
    + tc({"name": "get_weather", "arguments": {"city": "Beijing", "date": "tomorrow"}})
    + "<|im_end|>",
    "<think>hotels</think>\n"
    + tc({"name": "search_hotels", "arguments": {"city": "Beijing", "stars": 5}})
    + "\n"
    + tc({"name": "book_flight", "arguments": {"to": "PEK"}})
    + "<|im_end|>",
    "<think>done</think><answer>15 degrees, hotel booked</answer><|im_end|>",
]
# the same rollout in the service's messages form (what the loop should have recorded)
EXPECTED_MESSAGES = [
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"name": "get_weather", "arguments": {"city": "Beijing", "date": "tomorrow"}}],
    },
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"name": "search_hotels", "arguments": {"city": "Beijing", "stars": 5}},
            {"name": "book_flight", "arguments": {"to": "PEK"}},
        ],
    },
    {"role": "assistant", "content": "<answer>15 degrees, hotel booked</answer>"},
]
GOLD = {"calls": [WEATHER, HOTEL, FLIGHT], "answer": "15 degrees, hotel booked"}


def make_loop(
    url: str, tokenizer: Any, server: ScriptedServer, response_length: int, *extra: str
) -> TurnScoreToolAgentLoop:
    d = os.path.join(os.path.dirname(verl.__file__), "trainer", "config")
    with initialize_config_dir(config_dir=d, version_base=None):
        cfg = compose(
            config_name="ppo_trainer",
            overrides=[
                "actor_rollout_ref.rollout.multi_turn.format=hermes",
                f"actor_rollout_ref.rollout.response_length={response_length}",
                "actor_rollout_ref.rollout.prompt_length=4096",
                "actor_rollout_ref.rollout.agent.default_agent_loop=turnscore_tool_agent",
                "algorithm.adv_estimator=turnscore_dual",
                f"+algorithm.turnscore_url={url}",
                "+algorithm.turnscore_backend=http",
                *extra,
            ],
        )
    tools = [
        tool("get_weather", ["city", "date"], "sunny"),
        tool("search_hotels", ["city", "stars"], "3 hotels"),
        tool("book_flight", ["from", "to", "day"], "ok"),
    ]
    return TurnScoreToolAgentLoop(
        trainer_config=DictConfigWrap(cfg),
        server_manager=server,
        tokenizer=tokenizer,
        processor=None,
        dataset_cls=None,
        data_config=DictConfigWrap(cfg.data),
        hf_model_type="qwen3",
        tools=ToolListWrap(tools),
    )


def sample_kwargs() -> dict[str, Any]:
    return {
        "raw_prompt": [{"role": "user", "content": "Weather in Beijing and a hotel?"}],
        "reward_model": {"ground_truth": json.dumps(GOLD), "style": "rule"},
        "extra_info": {},
        "uid": "uid-1",
        "global_steps": 3,
    }


async def test_agent_loop_writes_per_turn_rewards(service_url: str) -> None:
    tok = byte_tokenizer()
    server = ScriptedServer(tok, SCRIPT)
    loop = make_loop(service_url, tok, server, response_length=2048)
    out = await loop.run({"temperature": 1.0}, **sample_kwargs())
    assert isinstance(out, TurnScoreAgentLoopOutput) and server.calls == 3
    assert len(loop.turnscore_turns) == 3
    assert [len(t["tool_calls"]) for t in loop.turnscore_turns] == [1, 2, 0]

    # verl's response mask: one run of 1s per assistant turn, each ending on <|im_end|>
    mask = np.array(out.response_mask)
    seg = find_segments(mask)
    assert seg.counts.tolist() == [3]
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    assert [out.response_ids[e] for e in seg.end.tolist()] == [im_end] * 3
    assert mask[seg.end[-1] + 1 :].sum() == 0

    with TurnScoreClient(service_url) as c:
        res = c.score([{"gold": GOLD, "rollouts": [{"messages": EXPECTED_MESSAGES}]}], step=3)
    expect = res.groups[0].rollouts[0]
    assert expect.num_turns == 3 and expect.num_calls == 3
    assert out.reward_score == pytest.approx(expect.return_)

    # reward_extra_info: the request's summary, field by field, beside the rollout's own numbers
    assert res.summary is not None
    summary = {f"turnscore/{k}": v for k, v in res.summary.to_dict().items()}
    assert len(summary) == 19 and summary["turnscore/calls"] == 3 and summary["turnscore/rollouts"] == 1
    info = out.extra_fields["reward_extra_info"]
    assert set(info) == {"turnscore_return", "turnscore_outcome_reward", "turnscore_num_turns", *summary}
    assert {k: info[k] for k in summary} == {k: pytest.approx(v) for k, v in summary.items()}
    # ... which verl's validation turns into val-aux/<data_source>/turnscore/<field>/mean@N (its own code)
    metrics = process_validation_metrics(
        ["toolcall"] * 2, ["uid-1"] * 2, {k: [v, v] for k, v in info.items()}
    )
    for key, value in summary.items():
        assert metrics["toolcall"][key]["mean@2"] == pytest.approx(value), key

    # the dict verl's v1 worker stores: rm_scores in the turnscore layout
    d = out.as_dict()
    rm = d["rm_scores"]
    assert rm.shape == d["response_mask"].shape
    turns, counts, outcome, stats = unpack_rewards(rm, d["response_mask"])
    assert counts.tolist() == [3] and stats.ok
    np.testing.assert_allclose(turns[0], expect.turn_rewards, atol=1e-6)
    assert outcome[0] == pytest.approx(expect.outcome_reward, abs=1e-6)
    assert float(rm.sum()) == pytest.approx(expect.return_, abs=1e-5)
    # get_weather(date=tomorrow) vs gold: S = 3/4; turn 2: hotel exact (1.0), book_flight partial
    assert expect.turn_rewards[0] == pytest.approx(0.75)
    assert expect.outcome_reward == pytest.approx(1.0)


async def test_truncated_last_turn_is_parsed_from_kept_tokens(service_url: str) -> None:
    tok = byte_tokenizer()
    server = ScriptedServer(tok, SCRIPT)
    probe = make_loop(service_url, tok, ScriptedServer(tok, SCRIPT), response_length=4096)
    full = await probe.run({"temperature": 1.0}, **sample_kwargs())
    seg = find_segments(np.array(full.response_mask))
    # cut inside the second turn, after its first tool call block is complete
    second = tok.decode(full.response_ids[seg.start[1] : seg.end[1] + 1])
    cut_chars = second.index("</tool_call>") + len("</tool_call>") + 3
    keep = len(tok.encode(second[:cut_chars], add_special_tokens=False))
    loop = make_loop(service_url, tok, server, response_length=int(seg.start[1]) + keep)
    out = await loop.run({"temperature": 1.0}, **sample_kwargs())
    assert server.calls == 2  # stopped by the length limit, before the tools of turn 2 ran
    assert len(out.response_ids) == int(seg.start[1]) + keep
    assert [len(t["tool_calls"]) for t in loop.turnscore_turns] == [1, 1]
    assert loop.turnscore_turns[1]["tool_calls"][0]["function"]["name"] == "search_hotels"
    d = out.as_dict()
    turns, counts, _outcome, stats = unpack_rewards(d["rm_scores"], d["response_mask"])
    assert counts.tolist() == [2] and stats.ok
    with TurnScoreClient(service_url) as c:
        expect = (
            c.score(
                [
                    {
                        "gold": GOLD,
                        "rollouts": [
                            {
                                "messages": [
                                    EXPECTED_MESSAGES[0],
                                    {
                                        "role": "assistant",
                                        "tool_calls": EXPECTED_MESSAGES[1]["tool_calls"][:1],
                                    },
                                ]
                            }
                        ],
                    }
                ]
            )
            .groups[0]
            .rollouts[0]
        )
    np.testing.assert_allclose(turns[0], expect.turn_rewards, atol=1e-6)


def test_legacy_trainer_is_refused(service_url: str) -> None:
    tok = byte_tokenizer()
    with pytest.raises(RuntimeError, match="use_v1"):
        make_loop(service_url, tok, ScriptedServer(tok, SCRIPT), 2048, "trainer.use_v1=False")
