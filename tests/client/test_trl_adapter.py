"""The TRL reward functions' call contract (no trl needed): TRL's keyword arguments in, one float per
completion out, one request per call grouped by prompt. The trainer itself is exercised in
client/tests_trainers (real trl)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from turnscore_client import TurnScoreClient, gold_from_record
from turnscore_client.trl import AsyncTurnScoreReward, TurnScoreReward

from tests.support.fake_service import FakeService
from tests.support.gold import gold_records
from tests.support.serve import RealService


def _call(rec: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"name": c["name"], "arguments": c["arguments"]} for t in rec["gold"]["turns"] for c in t]


def _conversational(recs: list[dict[str, Any]]) -> tuple[list[Any], list[Any], list[str]]:
    prompts, completions, golds = [], [], []
    for i, rec in enumerate(recs):
        calls = _call(rec)
        good = [
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {"type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
                ],
            }
            for c in calls
        ]
        bad = [{"role": "assistant", "content": "I would rather not."}]
        for completion in (good, bad, good[:1]):
            prompts.append([{"role": "user", "content": f"task {i}"}])
            completions.append(completion)
            golds.append(json.dumps(gold_from_record(rec)))
    return prompts, completions, golds


def test_conversational_completions_against_real_service(service: RealService) -> None:
    recs = [r for r in gold_records(3, min_calls=1) if len(_call(r)) >= 2][:3]
    prompts, completions, golds = _conversational(recs)
    metrics: dict[str, float] = {}
    reward = TurnScoreReward(base_url=service.url)
    out = reward(
        prompts=prompts,
        completions=completions,
        completion_ids=None,
        gold=golds,
        trainer_state=SimpleNamespace(global_step=12),
        log_metric=metrics.__setitem__,
    )
    assert len(out) == len(completions) and reward.client.stats.requests == 1
    groups = [
        {
            "id": str(i),
            "gold": gold_from_record(r),
            "rollouts": [{"messages": c} for c in completions[3 * i : 3 * i + 3]],
        }
        for i, r in enumerate(recs)
    ]
    expected = TurnScoreClient(service.url).score(groups, step=12)
    assert out == pytest.approx([x for g in expected.returns for x in g])
    assert all(out[3 * i] > out[3 * i + 1] for i in range(len(recs)))
    # the request's summary went to TRL's log_metric, one metric per field
    summary = expected.summary.to_dict() if expected.summary is not None else {}
    assert len(summary) == 19 and summary["calls"] == sum(r.num_calls for r in expected.rollouts)
    assert {k: v for k, v in metrics.items() if k != "turnscore/warnings"} == {
        f"turnscore/{k}": pytest.approx(v) for k, v in summary.items()
    }


async def test_async_twin_groups_by_prompt_in_one_request(fake: FakeService) -> None:
    rec = gold_records(1, min_calls=1)[0]
    gold = json.dumps(gold_from_record(rec))
    prompts = ["p1", "p2", "p1", "p2", "p1"]
    completions = ["a", "b", "c", "d", "e"]
    reward = AsyncTurnScoreReward(base_url=fake.url, value="outcome_reward", name="ts")
    out = await reward(prompts=prompts, completions=completions, completion_ids=None, gold=[gold] * 5)
    (req,) = fake.posts()
    assert [len(g["rollouts"]) for g in req.body["groups"]] == [3, 2]
    assert [r["text"] for r in req.body["groups"][0]["rollouts"]] == ["a", "c", "e"]
    assert out == [0.25] * 5 and reward.__name__ == "ts"


def test_missing_gold_column_is_a_clear_error(fake: FakeService) -> None:
    reward = TurnScoreReward(base_url=fake.url, gold_column="gold_trace")
    with pytest.raises(KeyError, match="gold_trace"):
        reward(prompts=["p"], completions=["c"], completion_ids=None, answer=["x"])
    with pytest.raises(ValueError, match="value must be one of"):
        TurnScoreReward(base_url=fake.url, value="advantages")


def _qwen3_completion(
    calls: list[dict[str, Any]], think: str = "I should call the tools."
) -> list[dict[str, Any]]:
    """TRL's conversational completion: one assistant message holding the Qwen3 chat template's text."""
    blocks = "\n".join(
        "<tool_call>\n" + json.dumps({"name": c["name"], "arguments": c["arguments"]}) + "\n</tool_call>"
        for c in calls
    )
    return [{"role": "assistant", "content": f"<think>\n{think}\n</think>\n\n{blocks}"}]


def test_tool_calls_written_in_conversational_content_score(service: RealService, caplog: Any) -> None:
    """TRL puts the decoded completion in `content`: the Hermes/Qwen calls written there are the calls."""
    recs = [r for r in gold_records(3, min_calls=1) if len(_call(r)) >= 2][:3]
    prompts, completions, golds = [], [], []
    for i, rec in enumerate(recs):
        calls = _call(rec)
        fake_call = "<tool_call>\n" + json.dumps({"name": "noop", "arguments": {}}) + "\n</tool_call>"
        for completion in (
            _qwen3_completion(calls),  # correct
            _qwen3_completion([], think="Maybe " + fake_call),  # its only call is inside <think>
            [{"role": "assistant", "content": "I would rather not."}],
        ):
            prompts.append([{"role": "user", "content": f"task {i}"}])
            completions.append(completion)
            golds.append(json.dumps(gold_from_record(rec)))
    metrics: dict[str, float] = {}
    reward = TurnScoreReward(base_url=service.url)
    with caplog.at_level("WARNING", logger="turnscore_client.trl"):
        out = reward(
            prompts=prompts,
            completions=completions,
            completion_ids=None,
            gold=golds,
            log_metric=metrics.__setitem__,
        )
    for i in range(len(recs)):
        correct, in_think, refusal = out[3 * i : 3 * i + 3]
        assert correct == pytest.approx(1.0)  # every gold call matched in one turn, no answer given
        assert in_think == refusal == 0.0
    assert metrics["turnscore/warnings"] > 0
    assert "calls_in_think_ignored" in caplog.text
