"""TRL's GRPOTrainer (real trl, CPU) calling turnscore's reward functions against the real service.

The policy is a tiny randomly initialised Qwen2 built here (no download) with a real tokenizer. Two levels:
``GRPOTrainer._calculate_rewards`` (the trainer's reward-calling path: it builds the keyword arguments from
the dataset columns, runs sync functions directly and async ones on its event loop) with crafted completions
whose rewards are known, and one real ``trainer.train()`` step end to end.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch
from conftest import multi_call_records
from datasets import Dataset
from transformers import Qwen2Config, Qwen2ForCausalLM
from trl import GRPOConfig, GRPOTrainer
from turnscore_client import ScoreResponse, TurnScoreClient
from turnscore_client.trl import AsyncTurnScoreReward, TurnScoreReward

from tests.support.serve import RealService
from tests.support.workloads import api_gold, qwen_response

G = 4  # completions per prompt


def _model(tokenizer: Any) -> Qwen2ForCausalLM:
    torch.manual_seed(0)
    cfg = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=1024,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        tie_word_embeddings=True,
    )
    return Qwen2ForCausalLM(cfg)


def _dataset(n: int = 2) -> Dataset:
    rows = [
        {
            "prompt": f"Question {i}: {(rec.get('question') or rec['id'])[:80]}",
            "gold": json.dumps(api_gold(rec)),
        }
        for i, rec in enumerate(multi_call_records(n))
    ]
    return Dataset.from_list(rows)


def _trainer(tmp_path: Any, tokenizer: Any, reward: Any, **cfg: Any) -> GRPOTrainer:
    args = GRPOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=G,
        num_generations=G,
        max_completion_length=8,
        max_steps=1,
        learning_rate=1e-4,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        use_cpu=True,
        bf16=False,
        seed=0,
        **cfg,
    )
    return GRPOTrainer(
        model=_model(tokenizer),
        reward_funcs=[reward],
        args=args,
        train_dataset=_dataset(),
        processing_class=tokenizer,
    )


def _completions(rec: dict[str, Any]) -> list[str]:
    turns = rec["gold"]["turns"]
    wrong = [[{"name": c["name"], "arguments": {"zz": 1}} for c in t] for t in turns]
    return [qwen_response(turns), qwen_response(turns[:1]), qwen_response(wrong[:1]), "I cannot help."]


def _inputs(
    tokenizer: Any,
) -> tuple[list[dict[str, Any]], list[str], list[str], list[list[int]], list[list[float]]]:
    ds = _dataset()
    inputs, prompts, completions, ids = [], [], [], []
    for row, rec in zip(ds, multi_call_records(2), strict=True):
        for c in _completions(rec):
            inputs.append({"prompt": row["prompt"], "gold": row["gold"]})
            prompts.append(row["prompt"])
            completions.append(c)
            ids.append(tokenizer(text=c, add_special_tokens=False)["input_ids"])
    return inputs, prompts, completions, ids, []


def _scored(service: RealService) -> ScoreResponse:
    groups = [
        {"id": str(i), "gold": api_gold(rec), "rollouts": [{"text": c} for c in _completions(rec)]}
        for i, rec in enumerate(multi_call_records(2))
    ]
    return TurnScoreClient(service.url).score(groups)


def _expected(service: RealService) -> list[float]:
    return [r.return_ for r in _scored(service).rollouts]


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_calculate_rewards_path(service: RealService, tokenizer: Any, tmp_path: Any, kind: str) -> None:
    reward: Any
    if kind == "sync":
        reward = TurnScoreReward(base_url=service.url, gold_column="gold")
    else:
        reward = AsyncTurnScoreReward(base_url=service.url, gold_column="gold")
    trainer = _trainer(tmp_path, tokenizer, reward)
    inputs, prompts, completions, ids, _ = _inputs(tokenizer)
    rewards = trainer._calculate_rewards(inputs, prompts, completions, ids)
    assert rewards.shape == (2 * G, 1)
    expected = _expected(service)
    assert rewards[:, 0].tolist() == pytest.approx(expected, abs=1e-6)
    for g in range(2):  # in each group: the full trace > a partial one > wrong arguments > no call at all
        r = expected[g * G : (g + 1) * G]
        assert r[0] > r[1] > r[2] and r[1] > r[3], r
    if kind == "sync":
        # one request for the whole call (2 prompts x 4 completions), grouped by prompt
        assert reward.client.stats.requests == 1
    # the request's summary went to TRL's metric log (log_metric), one value per field for this call
    summary = _scored(service).summary
    assert summary is not None and summary.rollouts == 2 * G and summary.calls
    for field, value in summary.to_dict().items():
        assert trainer._pending_metrics[f"turnscore/{field}"] == [pytest.approx(value)], field


class RecordingClient(TurnScoreClient):
    """The real client, keeping what every ``score`` call sent (to ask the service again)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[tuple[list[dict[str, Any]], dict[str, Any]]] = []

    def score(self, groups: Any, **kwargs: Any) -> ScoreResponse:  # type: ignore[override]
        self.sent.append((json.loads(json.dumps(list(groups))), dict(kwargs)))
        return super().score(groups, **kwargs)


def test_grpo_train_step_calls_the_service(service: RealService, tokenizer: Any, tmp_path: Any) -> None:
    client = RecordingClient(service.url)
    reward = TurnScoreReward(client, gold_column="gold")
    trainer = _trainer(tmp_path, tokenizer, reward)
    trainer.train()
    assert reward.client.stats.requests >= 1 and reward.client.stats.attempts == reward.client.stats.requests
    logged = {k for entry in trainer.state.log_history for k in entry}
    assert any(k.startswith("rewards/turnscore") for k in logged), logged
    # the step's log holds the summary of the request the reward function sent, field by field (TRL
    # averages log_metric values over a logging step: one request here)
    (step_log,) = [entry for entry in trainer.state.log_history if "turnscore/calls" in entry]
    ((groups, kwargs),) = client.sent
    summary = TurnScoreClient(service.url).score(groups, **kwargs).summary
    assert summary is not None and summary.rollouts == G
    expected = {f"turnscore/{k}": v for k, v in summary.to_dict().items()}
    assert len(expected) == 19
    assert {k: step_log[k] for k in expected} == {
        k: pytest.approx(v, rel=1e-6, abs=1e-6) for k, v in expected.items()
    }
