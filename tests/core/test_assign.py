"""Assignments (SCORING.md §3): hungarian optimal, greedy reference order, OT batched == ot.sinkhorn."""

from __future__ import annotations

import math

import numpy as np
import ot
import pytest
from turnscore.core import assign, sinkhorn


def as_entries(s: np.ndarray) -> list[tuple[int, int, float]]:
    return [(i, j, float(s[i, j])) for i in range(s.shape[0]) for j in range(s.shape[1]) if s[i, j] > 0]


def test_greedy_is_not_optimal_and_hungarian_is():
    s = np.array([[0.9, 0.8], [0.7, 0.0]])
    e = as_entries(s)
    g = assign.greedy(e, 2, 2, 0.5)
    h = assign.hungarian(e, 2, 2, 0.5)
    # greedy takes (0,0)=0.9 first, leaving row 1 unmatched; hungarian takes 0.8 + 0.7
    assert g.rewards.tolist() == [0.9, -0.5]
    assert h.rewards.tolist() == [0.8, 0.7]
    assert h.rewards.sum() > g.rewards.sum()


def test_greedy_ties_keep_row_then_column_order():
    s = np.array([[0.5, 0.5], [0.5, 0.5]])
    g = assign.greedy(as_entries(s), 2, 2, 0.0)
    assert g.gold.tolist() == [0, 1]
    s = np.array([[0.0, 0.5], [0.5, 0.5]])
    g = assign.greedy(as_entries(s), 2, 2, 0.0)
    assert g.gold.tolist() == [1, 0]


def test_unmatched_get_minus_lambda_and_zero_similarity_never_matches():
    s = np.array([[1.0], [0.6], [0.0]])
    for fn in (assign.greedy, assign.hungarian):
        a = fn(as_entries(s), 3, 1, 0.25)
        assert a.rewards.tolist() == [1.0, -0.25, -0.25]
        assert a.gold.tolist() == [0, -1, -1]


def test_hungarian_fast_path_agrees_with_scipy_on_conflict_free_matrices():
    rng = np.random.default_rng(0)
    for _ in range(200):
        m, n = rng.integers(1, 7, size=2)
        s = np.zeros((m, n))
        perm = rng.permutation(max(m, n))
        for i in range(m):
            if perm[i] < n and rng.random() < 0.7:
                s[i, perm[i]] = rng.uniform(0.1, 1.0)
        a = assign.hungarian(as_entries(s), m, n, 0.5)
        from scipy.optimize import linear_sum_assignment

        r, c = linear_sum_assignment(s, maximize=True)
        expect = np.full(m, -0.5)
        for i, j in zip(r, c, strict=True):
            if s[i, j] > 0:
                expect[i] = s[i, j]
        assert a.rewards.tolist() == expect.tolist()


@pytest.mark.parametrize("cost", ["neg", "linear", "normalized", "exp"])
def test_batched_ot_agrees_with_ot_sinkhorn(cost):
    rng = np.random.default_rng(1)
    problems = []
    for _ in range(60):
        m, n = rng.integers(1, 12, size=2)
        s = rng.uniform(0, 1, size=(m, n)) * (rng.random((m, n)) < 0.6)
        problems.append(s)
    plans = sinkhorn.ot_plans(problems, cost, 0.1, 0.1, 1000, 1e-9)
    for s, plan in zip(problems, plans, strict=True):
        m, n = s.shape
        ref = ot.sinkhorn(
            np.ones(m) / m, np.ones(n) / n, assign.ot_cost(s, cost, 0.1), 0.1, numItermax=1000, stopThr=1e-9
        )
        np.testing.assert_allclose(plan, ref, atol=1e-6)
        np.testing.assert_allclose((plan * s).sum(1), (ref * s).sum(1), atol=1e-6)


def test_ot_rewards_and_row_normalize():
    s = np.array([[1.0, 0.0], [0.0, 1.0]])
    plan = sinkhorn.ot_plans([s], "neg", 0.1, 0.01, 1000, 1e-9)[0]
    a = assign.ot_assignment(s, plan, row_normalize=False)
    assert a.rewards == pytest.approx([0.5, 0.5], abs=1e-6)
    b = assign.ot_assignment(s, plan, row_normalize=True)
    assert b.rewards == pytest.approx([1.0, 1.0], abs=1e-6)
    assert a.gold.tolist() == [0, 1]


def test_ot_cost_variants():
    s = np.array([[1.0, 0.5], [0.0, 0.0]])
    np.testing.assert_allclose(assign.ot_cost(s, "neg", 0.1), -s)
    np.testing.assert_allclose(assign.ot_cost(s, "linear", 0.1), 1 - s)
    np.testing.assert_allclose(assign.ot_cost(s, "normalized", 0.1), [[0.0, 1.0], [0.5, 0.5]])
    e = np.exp(-s / 0.1)
    np.testing.assert_allclose(assign.ot_cost(s, "exp", 0.1), e / e.sum(1, keepdims=True))


def test_ot_small_reg_stays_finite():
    s = np.array([[1.0, 0.0, 0.2], [0.3, 0.9, 0.0]])
    plan = sinkhorn.ot_plans([s], "linear", 0.1, 1e-4, 1000, 1e-9)[0]
    assert np.all(np.isfinite(plan))


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_batched_ot_agrees_when_sinkhorn_does_not_converge():
    """Slowly converging problems (cost neg, tied similarities) run the full 1000 iterations in both."""
    rng = np.random.default_rng(2)
    problems = []
    for _ in range(400):
        m, n = rng.integers(2, 9, size=2)
        problems.append(rng.choice([0.0, 0.2, 0.4, 0.6, 0.8, 1.0], size=(m, n)) * (rng.random((m, n)) < 0.5))
    plans = sinkhorn.ot_plans(problems, "neg", 0.1, 0.1, 1000, 1e-9)
    unconverged = 0
    for s, plan in zip(problems, plans, strict=True):
        m, n = s.shape
        ref, log = ot.sinkhorn(
            np.ones(m) / m, np.ones(n) / n, -s, 0.1, numItermax=1000, stopThr=1e-9, log=True
        )
        unconverged += log["niter"] == 999
        np.testing.assert_allclose(plan, ref, atol=1e-9)
    assert unconverged > 0


def test_exp_in_place_is_the_c_librarys_exp():
    """OT's exp is ``math.exp`` entry by entry (the compiled core's), whatever numpy's vectorized exp does on
    this CPU; overflow gives inf as the C function does, NaN stays NaN, -inf gives 0."""
    x = -np.random.default_rng(7).random(19_993) * 50
    x = np.concatenate([x, [710.0, 800.0, np.inf, -np.inf, 0.0, -745.2, 709.7]])
    y = x.reshape(-1, 8).copy()
    assign.exp_in_place(y)
    expected = [math.exp(v) if v < 709.78 else math.inf for v in x.tolist()]
    assert y.ravel().tolist() == expected
    z = np.array([[np.nan, 1.0]])
    assign.exp_in_place(z)
    assert math.isnan(z[0, 0]) and z[0, 1] == math.e
