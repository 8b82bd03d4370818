"""The simple path: async compute_score (reward.custom_reward_function) gives the trajectory return."""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest
from omegaconf import OmegaConf
from turnscore_client import TurnScoreClient
from verl.trainer.ppo.reward import get_custom_reward_fn

from tests.support.workloads import verl_groups, verl_score_groups


def decoded_text(messages: list[dict[str, Any]]) -> str:
    """What verl's reward manager decodes (skip_special_tokens=True) from a Qwen3 hermes rollout."""
    pieces = []
    for m in messages:
        body = m.get("content") or ""
        for c in m.get("tool_calls") or []:
            fn = c["function"]
            body += (
                "\n<tool_call>\n"
                + json.dumps({"name": fn["name"], "arguments": fn["arguments"]})
                + "\n</tool_call>"
            )
        pieces.append(body)
    # <|im_end|>\n<|im_start|>user\n<tool_response>...<|im_end|>\n<|im_start|>assistant\n minus special tokens
    return '\nuser\n<tool_response>\n{"ok": true}\n</tool_response>\nassistant\n'.join(pieces)


@pytest.mark.parametrize("backend", ["http", "local"])
async def test_compute_score_is_the_trajectory_return(service_url: str, backend: str) -> None:
    cfg = OmegaConf.create(
        {
            "reward": {
                "custom_reward_function": {
                    "path": "pkg://turnscore_client.verl.reward",
                    "name": "compute_score",
                    "reward_kwargs": {"turnscore_url": service_url, "turnscore_backend": backend},
                }
            }
        }
    )
    fn = get_custom_reward_fn(cfg)  # verl's own loader (async function -> awaitable partial)
    assert fn is not None and inspect.iscoroutinefunction(fn.func)
    with TurnScoreClient(service_url) as c:
        expect = c.score(verl_score_groups(verl_groups()))
    for g, eg in zip(verl_groups(), expect.groups, strict=True):
        for msgs, er in zip(g["rollouts"], eg.rollouts, strict=True):
            got = await fn(
                data_source="toolcall",
                solution_str=decoded_text(msgs),
                ground_truth=json.dumps(g["gold"]),
                extra_info={},
            )
            assert got["score"] == pytest.approx(er.return_, abs=1e-9)
            assert got["turnscore_num_turns"] == er.num_turns
            own = {
                "score",
                "turnscore_outcome_reward",
                "turnscore_turn_reward_sum",
                "turnscore_num_turns",
                "turnscore_malformed_calls",
            }
            # the rest: the summary of the one-rollout request it sent, field by field
            summary = single_rollout_summary(service_url, g["gold"], decoded_text(msgs))
            assert set(got) == own | set(summary)
            assert {k: got[k] for k in summary} == summary
            assert got["turnscore/calls"] == er.num_calls and got["turnscore/rollouts"] == 1


def single_rollout_summary(url: str, gold: Any, text: str) -> dict[str, Any]:
    """``turnscore/<field>`` of what the service answers for one decoded response scored alone."""
    fmt = {"turn_separator": "\nassistant\n"}
    with TurnScoreClient(url) as c:
        res = c.score([{"gold": gold, "rollouts": [{"text": text}]}], config={"format": fmt})
    assert res.summary is not None
    fields = res.summary.to_dict()
    assert len(fields) == 19
    return {f"turnscore/{k}": pytest.approx(v, abs=1e-9) for k, v in fields.items()}
