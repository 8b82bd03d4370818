"""The performance paths of the core give the same numbers as the plain ones.

- identical rollouts of a group are parsed and matched once (``engine._dedupe_key``);
- batched OT iterates and stops every problem as ``ot.sinkhorn`` does, across buckets;
- value keys take a fast path for exact ``str`` / ``int`` / ``float`` values.
"""

from __future__ import annotations

import copy
import random
import warnings
from pathlib import Path

import numpy as np
import ot
import pytest
from turnscore import workload
from turnscore.core import assign, engine, values

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "gold_sample.jsonl"


def _group_with_duplicates(seed: int) -> dict:
    recs = workload.load_traces([SAMPLE])
    rng = random.Random(seed)
    g = workload.make_group(recs[seed % len(recs)], 5, rng)
    g["rollouts"] = g["rollouts"] + copy.deepcopy(g["rollouts"][:3]) + [{"text": ""}, {"turns": []}]
    return g


@pytest.mark.parametrize("preset", ["matchtir-km", "matchtir-ot", "matchtir-reference-km", "toolrl"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_duplicate_rollouts_score_as_if_scored_separately(preset, seed):
    g = _group_with_duplicates(seed)
    deduped = engine.score({"preset": preset, "explain": True, "groups": [g]}).body
    # an extra key makes every rollout's dedupe key distinct: nothing is shared
    g2 = dict(g, rollouts=[dict(ro, meta=k) for k, ro in enumerate(g["rollouts"])])
    plain = engine.score({"preset": preset, "explain": True, "groups": [g2]}).body
    assert deduped["groups"] == plain["groups"]
    rows = deduped["groups"][0]["rollouts"]
    assert rows[5] == rows[0] and rows[6] == rows[1] and rows[7] == rows[2]


def test_dedupe_key():
    assert engine._dedupe_key({"text": "abc"}) == "abc"
    assert engine._dedupe_key({"turns": [{"answer": "x"}]}) == b'{"turns":[{"answer":"x"}]}'
    assert engine._dedupe_key({"turns": [{"tool_calls": [{"name": "f", "arguments": {1, 2}}]}]}) is None
    assert engine._dedupe_key(["not", "a", "rollout"]) is None
    # 1 and 1.0 score the same but are not deduplicated together (keys are byte-identical JSON only)
    assert engine._dedupe_key({"turns": [1]}) != engine._dedupe_key({"turns": [1.0]})


def test_unencodable_rollout_is_scored_without_dedupe():
    call = {"name": "f", "arguments": {"a": {1, 2}}}
    req = {
        "groups": [
            {
                "gold": {"calls": [{"name": "f", "arguments": {}}]},
                "rollouts": [{"turns": [{"tool_calls": [call]}]}] * 2,
            }
        ]
    }
    rows = engine.score(req).body["groups"][0]["rollouts"]
    assert rows[0]["num_calls"] == rows[1]["num_calls"] == 1


@pytest.mark.parametrize("cost", ["neg", "linear", "normalized", "exp"])
def test_batched_ot_equals_ot_sinkhorn_across_buckets(cost):
    """Mixed shapes (several buckets, some problems running the full 1000 iterations and so moving to
    the merged tail batch): every plan equals ``ot.sinkhorn``'s to rounding."""
    rng = np.random.default_rng(7)
    problems = []
    for _ in range(150):
        m, n = rng.integers(1, 20, size=2)
        problems.append(rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], size=(m, n)) * (rng.random((m, n)) < 0.5))
    plans = assign.ot_plans(problems, cost, 0.1, 0.1, 1000, 1e-9)
    for s, plan in zip(problems, plans, strict=True):
        m, n = s.shape
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = ot.sinkhorn(
                np.ones(m) / m,
                np.ones(n) / n,
                assign.ot_cost(s, cost, 0.1),
                0.1,
                numItermax=1000,
                stopThr=1e-9,
            )
        np.testing.assert_allclose(plan, ref, rtol=0, atol=1e-12)


def test_ot_cost_with_padding_mask_matches_unpadded():
    rng = np.random.default_rng(3)
    s = rng.random((3, 4))
    padded = np.zeros((3, 8))
    padded[:, :4] = s
    cols = (np.arange(8) < 4)[None, :]
    for cost in ("neg", "linear", "normalized", "exp"):
        np.testing.assert_allclose(
            assign.ot_cost(padded, cost, 0.1, cols)[:, :4], assign.ot_cost(s, cost, 0.1)
        )


def test_value_key_fast_paths_agree_with_isinstance_paths():
    class S(str):
        pass

    class I(int):  # noqa: E742
        pass

    for mode, key in values.KEY_FUNCS.items():
        assert key(S("a")) == key("a"), mode
        assert key(I(3)) == key(3), mode
        assert key(True) != key("True"), mode
    assert values.exact_key(True) != values.exact_key(1)
    assert values.python_key(True) == values.python_key(1) == values.python_key(1.0)


def test_hard_assignment_rewards_are_floats():
    a = assign.hungarian([(0, 0, 0.75)], 2, 1, 1)  # an int penalty
    assert a.rewards.dtype == np.float64
    assert a.rewards.tolist() == [0.75, -1.0]
