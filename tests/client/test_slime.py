"""slime group reward function against the real service.

slime (THUDM/slime) is not installable from PyPI (the PyPI ``slime`` is an unrelated project), so the samples
here are a stand-in with the fields of slime's documented ``Sample`` dataclass (slime/utils/types.py) that the
reward path reads or writes: ``group_index``, ``index``, ``prompt``, ``response``, ``label``, ``reward``,
``metadata``. The call shape is slime's: ``await rm(args, samples)`` under ``--group-rm`` (the returned list
is zipped onto the samples), ``await rm(args, sample)`` without it.
"""

from __future__ import annotations

import json
from argparse import Namespace
from dataclasses import dataclass, field
from typing import Any

import pytest
from turnscore_client import TurnScoreClient, gold_from_record
from turnscore_client.errors import ClientUsageError
from turnscore_client.slime import group_rm, log_rollout_data

from tests.support.fake_service import FakeService
from tests.support.gold import gold_records
from tests.support.serve import RealService
from tests.support.workloads import qwen_text


@dataclass
class Sample:  # stand-in: the fields of slime.utils.types.Sample this adapter uses
    group_index: int | None = None
    index: int | None = None
    prompt: str | list[dict[str, str]] = ""
    response: str = ""
    label: str | None = None
    reward: float | dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def _group(rec: dict[str, Any], gi: int) -> list[Sample]:
    turns = [t for t in rec["gold"]["turns"] if t]
    bad = [[{"name": "unknown_tool", "arguments": {}}]]
    responses = [qwen_text(turns), qwen_text(turns[:1]), qwen_text(bad), "no tool call at all"]
    label = json.dumps(rec["gold"])  # slime keeps the --label-key column as a string
    return [
        Sample(group_index=gi, index=gi * 4 + i, prompt="p", response=r, label=label)
        for i, r in enumerate(responses)
    ]


async def test_group_rm_scores_one_group_in_one_request(
    service: RealService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TURNSCORE_URL", raising=False)
    rec = next(r for r in gold_records(4, min_calls=1) if sum(len(t) for t in r["gold"]["turns"]) >= 2)
    samples = _group(rec, 3)
    args = Namespace(rm_url=service.url, rollout_id=5)  # slime's --rm-url names the service
    rewards = await group_rm(args, samples)
    assert rewards == [s.reward for s in samples]
    # the reference numbers: the same rollouts scored through the plain client
    expected = TurnScoreClient(service.url).score(
        [{"id": "x", "gold": gold_from_record(rec), "rollouts": [{"text": s.response} for s in samples]}],
        step=5,
    )
    assert rewards == pytest.approx(expected.returns[0])
    assert rewards[0] > rewards[2] and rewards[0] >= rewards[1]
    meta = samples[0].metadata["turnscore"]
    assert len(meta["advantages"]) == len(meta["turn_rewards"]) >= 1 and meta["gold_ref"].startswith(
        "sha256:"
    )
    # every sample carries the summary of the request (the group), the same request id
    assert expected.summary is not None and len(expected.summary.to_dict()) == 19
    for s in samples:
        assert s.metadata["turnscore"]["summary"] == pytest.approx(expected.summary.to_dict())
        assert s.metadata["turnscore"]["request"] == meta["request"]


async def test_log_rollout_data_adds_the_steps_summary(
    service: RealService, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """slime's --custom-rollout-log-function-path: the step's requests (one per group under --group-rm)
    merged into one summary, added to the rollout metrics slime logs; False lets slime's logging run."""
    monkeypatch.delenv("TURNSCORE_URL", raising=False)
    recs = [r for r in gold_records(6, min_calls=1) if sum(len(t) for t in r["gold"]["turns"]) >= 2][:2]
    groups = [_group(rec, gi) for gi, rec in enumerate(recs)]
    args = Namespace(rm_url=service.url, rollout_id=2)
    for samples in groups:
        await group_rm(args, samples)
    flat = [s for samples in groups for s in samples]
    assert len({s.metadata["turnscore"]["request"] for s in flat}) == 2
    metrics: dict[str, Any] = {"rollout/custom": 1.0}  # what the rollout function returned
    assert log_rollout_data(2, args, flat, metrics, 1.5) is False
    # the same rollouts in one request give the same summary
    both = TurnScoreClient(service.url).score(
        [
            {
                "id": str(gi),
                "gold": gold_from_record(rec),
                "rollouts": [{"text": s.response} for s in samples],
            }
            for gi, (rec, samples) in enumerate(zip(recs, groups, strict=True))
        ],
        step=2,
    )
    assert both.summary is not None and both.summary.rollouts == len(flat) == 8
    expected = {f"turnscore/{k}": pytest.approx(v, abs=1e-9) for k, v in both.summary.to_dict().items()}
    assert metrics == {"rollout/custom": 1.0, **expected}
    # a sample slime trimmed from a group does not change what its request counts
    trimmed: dict[str, Any] = {}
    assert log_rollout_data(2, args, flat[:-1], trimmed, 1.5) is False
    assert trimmed == expected
    # a rollout function that returned no metrics: nothing to add to, said once, slime's logging still runs
    with caplog.at_level("WARNING", logger="turnscore_client.slime"):
        assert log_rollout_data(3, args, flat, None, 1.5) is False
    assert "rollout 3: the rollout function returned no metrics dict" in caplog.text


async def test_group_rm_single_sample_and_env_url(
    service: RealService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TURNSCORE_URL", service.url)
    rec = gold_records(1, min_calls=1)[0]
    (s, *_) = _group(rec, 0)
    reward = await group_rm(Namespace(rm_url=None), s)
    assert isinstance(reward, float) and reward == s.reward


async def test_group_rm_one_request_per_group(fake: FakeService, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURNSCORE_URL", fake.url)
    rec = gold_records(1, min_calls=1)[0]
    samples = _group(rec, 0)
    await group_rm(Namespace(), samples)
    (req,) = fake.posts()
    assert len(req.body["groups"]) == 1 and len(req.body["groups"][0]["rollouts"]) == 4


async def test_group_rm_bad_label_names_the_sample(
    fake: FakeService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TURNSCORE_URL", fake.url)
    samples = [Sample(index=7, response="x", label="not json")]
    with pytest.raises(ClientUsageError, match="sample 7"):
        await group_rm(Namespace(), samples)
    assert fake.posts() == []
