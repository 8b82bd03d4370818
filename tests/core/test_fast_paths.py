"""The performance paths of the core give the same numbers as the plain ones.

- identical rollouts of a group are parsed and matched once (``request.dedupe_key``);
- batched OT (one block-diagonal system) iterates and stops every problem as ``ot.sinkhorn`` does;
- value keys take a fast path for exact ``str`` / ``int`` / ``float`` values.
"""

from __future__ import annotations

import copy
import random
import warnings

import numpy as np
import ot
import pytest
from turnscore import workload
from turnscore.core import assign, engine, request, sinkhorn, values

from tests.support.gold import gold_records


def _group_with_duplicates(seed: int) -> dict:
    recs = gold_records(sample=True)
    rng = random.Random(seed)
    g = workload.make_group(recs[seed % len(recs)], 5, rng)
    g["rollouts"] = g["rollouts"] + copy.deepcopy(g["rollouts"][:3]) + [{"text": ""}, {"turns": []}]
    return g


@pytest.mark.parametrize("preset", ["matchtir-km", "matchtir-ot", "matchtir-reference-km", "toolrl"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_duplicate_rollouts_score_as_if_scored_separately(preset, seed, monkeypatch):
    g = _group_with_duplicates(seed)
    deduped = engine.score({"preset": preset, "explain": True, "groups": [g]}).body
    # no dedupe key: nothing is shared
    monkeypatch.setattr(engine, "dedupe_key", lambda rollout: None)
    plain = engine.score({"preset": preset, "explain": True, "groups": [g]}).body
    assert deduped["groups"] == plain["groups"]
    rows = deduped["groups"][0]["rollouts"]
    assert rows[5] == rows[0] and rows[6] == rows[1] and rows[7] == rows[2]


def test_dedupe_key():
    assert request.dedupe_key({"text": "abc"}) == "abc"
    assert request.dedupe_key({"turns": [{"answer": "x"}]}) == b'{"turns":[{"answer":"x"}]}'
    assert request.dedupe_key({"turns": [{"tool_calls": [{"name": "f", "arguments": {1, 2}}]}]}) is None
    assert request.dedupe_key(["not", "a", "rollout"]) is None
    # 1 and 1.0 score the same but are not deduplicated together (keys are byte-identical JSON only)
    assert request.dedupe_key({"turns": [1]}) != request.dedupe_key({"turns": [1.0]})


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


def _sinkhorn_ref(s, cost, reg=0.1, max_iter=1000, stop_thr=1e-9):
    m, n = s.shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ot.sinkhorn(
            np.ones(m) / m,
            np.ones(n) / n,
            assign.ot_cost(s, cost, 0.1),
            reg,
            numItermax=max_iter,
            stopThr=stop_thr,
        )


@pytest.mark.parametrize("cost", ["neg", "linear", "normalized", "exp"])
def test_batched_ot_equals_ot_sinkhorn_across_buckets(cost):
    """Mixed shapes (some problems running the full 1000 iterations, in the compacted tail of the
    system): every plan equals ``ot.sinkhorn``'s to rounding."""
    rng = np.random.default_rng(7)
    problems = []
    for _ in range(150):
        m, n = rng.integers(1, 20, size=2)
        problems.append(rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], size=(m, n)) * (rng.random((m, n)) < 0.5))
    plans = sinkhorn.ot_plans(problems, cost, 0.1, 0.1, 1000, 1e-9)
    for s, plan in zip(problems, plans, strict=True):
        np.testing.assert_allclose(plan, _sinkhorn_ref(s, cost), rtol=0, atol=1e-12)


@pytest.mark.parametrize("cost", ["neg", "linear", "normalized", "exp"])
def test_batched_ot_trivial_shapes(cost):
    """1 x n and m x 1 problems (at the fixed point after one iteration: 1/n, 1/m) among others equal
    ``ot.sinkhorn``'s plans; a 1 x 1 plan is exactly [[1]]."""
    rng = np.random.default_rng(8)
    shapes = [(1, 1), (1, 2), (2, 1), (1, 7), (9, 1), (1, 1), (3, 4), (1, 16), (16, 1), (1, 1)]
    problems = [rng.choice([0.0, 0.5, 1.0], size=shape) for shape in shapes]
    plans = sinkhorn.ot_plans(problems, cost, 0.1, 0.1, 1000, 1e-9)
    for s, plan in zip(problems, plans, strict=True):
        m, n = s.shape
        assert plan.shape == (m, n)
        if (m, n) == (1, 1):
            assert plan.tolist() == [[1.0]]
            continue
        np.testing.assert_allclose(plan, _sinkhorn_ref(s, cost), rtol=0, atol=1e-12)
        if min(m, n) == 1:
            np.testing.assert_allclose(plan, 1.0 / (m * n), rtol=1e-12)
    assert sinkhorn.ot_plans([np.ones((1, 1))], cost, 0.1, 0.1, 1000, 1e-9)[0].tolist() == [[1.0]]
    assert sinkhorn.ot_plans([], cost, 0.1, 0.1, 1000, 1e-9) == []


@pytest.mark.parametrize("compact", [0.0, 0.25, 1.0])
@pytest.mark.parametrize(
    ("max_iter", "stop_thr"), [(1000, 1e-9), (1, 1e-9), (10, 1e-9), (11, 1e-9), (25, 1e-9), (300, 1e-12)]
)
def test_batched_ot_stops_as_ot_sinkhorn(compact, max_iter, stop_thr):
    """Compaction after every check where a problem finishes (0), after a quarter of the entries, or
    only the K^T build at iteration 10 (1), and iteration caps around the first checks: each plan
    equals ``ot.sinkhorn``'s, converged or not."""
    rng = np.random.default_rng(9)
    problems = []
    for _ in range(80):
        m, n = rng.integers(1, 14, size=2)
        problems.append(rng.choice([0.0, 0.2, 0.6, 1.0], size=(m, n)) * (rng.random((m, n)) < 0.5))
    plans = sinkhorn.ot_plans(problems, "neg", 0.1, 0.1, max_iter, stop_thr, compact=compact)
    for s, plan in zip(problems, plans, strict=True):
        if s.shape != (1, 1):
            np.testing.assert_allclose(
                plan, _sinkhorn_ref(s, "neg", 0.1, max_iter, stop_thr), rtol=0, atol=1e-12
            )


@pytest.mark.parametrize("cost", ["normalized", "exp"])
def test_batched_ot_row_normalized_costs_in_chunks(cost):
    """The row-normalized costs are built a chunk of rows at a time (here many chunks); a row of ones
    has a zero ``normalized`` cost, as in :func:`assign.ot_cost`."""
    rng = np.random.default_rng(10)
    problems = [rng.random((int(rng.integers(2, 30)), int(rng.integers(2, 30)))) for _ in range(160)]
    for s in problems[::3]:
        s[0] = 1.0
    plans = sinkhorn.ot_plans(problems, cost, 0.1, 0.1, 1000, 1e-9)
    assert sum(s.size for s in problems) > 4 * sinkhorn._CHUNK
    for s, plan in zip(problems, plans, strict=True):
        np.testing.assert_allclose(plan, _sinkhorn_ref(s, cost), rtol=0, atol=1e-12)


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


@pytest.mark.parametrize("cost", ["neg", "normalized"])
def test_batched_ot_public_scipy_kernels_give_the_same_plans(cost, monkeypatch):
    """If a scipy release moves its private compiled kernels, the public-API fallback takes over with
    identical plans (the same operations, in the same order)."""
    from turnscore.core import sparse

    rng = np.random.default_rng(11)
    problems = [rng.random((int(rng.integers(1, 12)), int(rng.integers(1, 12)))) for _ in range(60)]
    compiled = [p.copy() for p in sinkhorn.ot_plans(problems, cost, 0.1, 0.1, 1000, 1e-9)]
    for name, fn in sparse.PUBLIC.items():
        monkeypatch.setattr(sparse, name, fn)
    public = sinkhorn.ot_plans(problems, cost, 0.1, 0.1, 1000, 1e-9)
    for a, b, s in zip(compiled, public, problems, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-15)
        if s.size > 1:
            np.testing.assert_allclose(b, _sinkhorn_ref(s, cost), rtol=0, atol=1e-12)
