"""The compiled soft assignment (native/src/sinkhorn.rs, ``ot_solve``) against the Python reference.

The reference is :func:`sinkhorn.ot_plans` (iterations per problem included) and
:func:`assign.ot_assignment`, run under ``native.select("python")``. Criterion: every plan entry, reward and
similarity within 1e-12 relative of the reference, or 1e-15 absolute (a plan is a distribution of total
mass 1: an entry below 1e-15 is below the rounding of the entries that carry the mass, so its relative
value is noise); gold indices and iteration counts equal. (The two compute the same operations in the
same order, so in practice they agree bit for bit.) Inputs: the similarity matrices of the real gold traces
(all of them when the full set is present) perturbed into rollouts, under each OT preset's settings, and
hypothesis-built matrices (1..16 x 1..16) under many cost / tau / reg / iteration settings, including a
tiny ``reg`` whose plain iteration underflows (those problems go back to the Python fallback).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from turnscore import workload
from turnscore.core import native, similarity, sinkhorn, soft
from turnscore.core.assign import Assignment, ot_assignment
from turnscore.core.calls import call_from_obj
from turnscore.core.config import PRESETS
from turnscore.core.errors import DeadlineExceeded
from turnscore.core.gold import compile_gold

from tests.support.gold import gold_records
from tests.support.native import require_native

REL, ABS = 1e-12, 1e-15
OT_PRESETS = [name for name, c in PRESETS.items() if c.assignment == "ot"]
Setting = tuple[str, float, float, int, float, bool]  # cost, tau, reg, max_iter, stop_thr, row_normalize


@pytest.fixture
def ext() -> Iterator[Any]:
    """The extension, with the Python core selected (the reference functions run in Python)."""
    require_native()
    before = native.active()
    native.select("python")
    import turnscore_native

    yield turnscore_native
    native.select(before)


def close(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal shapes, every entry within REL relative or ABS absolute (NaN nowhere)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= np.maximum(REL * np.abs(a), ABS)))


def same_assignment(a: Assignment, b: Assignment) -> bool:
    assert a.plan is not None and b.plan is not None
    return (
        close(a.plan, b.plan)
        and close(a.rewards, b.rewards)
        and np.array_equal(a.gold, b.gold)
        and close(a.similarity, b.similarity)
    )


def check(ext: Any, problems: list[np.ndarray], setting: Setting) -> list[int]:
    """Both paths on ``problems``: plans, iterations and assignments agree. Returns the problems that
    ``ot_solve`` handed back (non-finite plans)."""
    cost, tau, reg, max_iter, stop_thr, row_normalize = setting
    iterations = np.zeros(len(problems), dtype=np.int64)
    plans = sinkhorn.ot_plans(problems, cost, tau, reg, max_iter, stop_thr, iterations=iterations)
    res = ext.ot_solve(problems, cost, tau, reg, max_iter, stop_thr, row_normalize, None)
    assert res is not None
    buf, fallback, got_iterations = res
    assert got_iterations == iterations.tolist()
    flat = np.frombuffer(buf, dtype=np.float64)
    start = 0
    for k, (s, plan) in enumerate(zip(problems, plans, strict=True)):
        got = flat[start : start + s.size].reshape(s.shape)
        start += s.size
        if k in fallback:
            assert not np.all(np.isfinite(got))
        else:
            assert close(plan, got), (k, setting, s)
    ref = [ot_assignment(s, z, row_normalize) for s, z in zip(problems, plans, strict=True)]
    native.select("native")
    try:
        out = soft.ot_assignments(problems, cost, tau, reg, max_iter, stop_thr, row_normalize)
    finally:
        native.select("python")
    assert all(same_assignment(a, b) for a, b in zip(ref, out, strict=True))
    assert len(out) == len(ref)
    return list(fallback)


def real_problems(mode: str, case_sensitive: bool) -> list[np.ndarray]:
    """S of two perturbed rollouts of every gold record against it (problems with m, n >= 1)."""
    rng = random.Random(18)
    out = []
    for record in gold_records():
        gold = compile_gold(workload.gold_of(record))
        for _ in range(2):
            turns = workload.perturb_turns(record["gold"]["turns"], rng, rng.random())
            calls = [c for c in (call_from_obj(x) for t in turns for x in t) if c is not None]
            if calls and gold.calls:
                pred = similarity.PredTables(calls, case_sensitive)
                out.append(similarity.matrix(pred, gold, mode, case_sensitive))
    return out


def preset_setting(name: str) -> Setting:
    c = PRESETS[name]
    return (c.cost, c.tau, c.reg, c.ot_max_iter, c.ot_stop_thr, c.row_normalize)


@pytest.mark.parametrize("preset", OT_PRESETS)
def test_real_traces_under_the_ot_presets(ext: Any, preset: str) -> None:
    c = PRESETS[preset]
    problems = real_problems(c.value_match, c.name_case_sensitive)
    assert len(problems) > 100
    assert check(ext, problems, preset_setting(preset)) == []
    # the same matrices under every cost, a row-normalized variant and a tiny reg (the fallback)
    for cost in ("neg", "linear", "normalized", "exp"):
        check(ext, problems, (cost, 0.5, 0.05, 1000, 1e-9, True))
    assert check(ext, problems[:300], ("neg", 0.1, 1e-4, 20, 1e-9, False))


def test_presets_exist() -> None:
    assert {"matchtir-ot", "matchtir-reference-ot"} <= set(OT_PRESETS)


MATRIX = st.integers(1, 16).flatmap(
    lambda m: st.integers(1, 16).flatmap(
        lambda n: st.lists(
            st.one_of(
                st.just(0.0), st.just(1.0), st.floats(0.0, 1.0), st.sampled_from([0.25, 0.5, 1 / 3, 2 / 3])
            ),
            min_size=m * n,
            max_size=m * n,
        ).map(lambda v: np.array(v, dtype=np.float64).reshape(m, n))
    )
)
COSTS = st.sampled_from(["neg", "linear", "normalized", "exp"])
TAUS = st.sampled_from([0.1, 0.5, 1.0, 2.0])
STOPS = st.sampled_from([1e-9, 1e-6, 1e-3, 0.0])
# a tiny reg only with few iterations: its fallback (POT's log-domain Sinkhorn) takes ~1 s per problem
SETTING = st.one_of(
    st.tuples(
        COSTS,
        TAUS,
        st.sampled_from([0.1, 0.05, 0.01, 1.0, 10.0]),
        st.sampled_from([0, 1, 9, 10, 11, 50, 1000]),
        STOPS,
        st.booleans(),
    ),
    st.tuples(
        COSTS, TAUS, st.sampled_from([1e-3, 1e-4]), st.sampled_from([1, 10, 11, 30]), STOPS, st.booleans()
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems=st.lists(MATRIX, min_size=1, max_size=6), setting=SETTING)
def test_hypothesis_matrices(problems: list[np.ndarray], setting: Setting) -> None:
    require_native()
    before = native.active()
    native.select("python")
    import turnscore_native

    try:
        check(turnscore_native, problems, setting)
    finally:
        native.select(before)


def test_tiny_reg_goes_to_the_fallback(ext: Any) -> None:
    """reg 1e-4: the plain iteration overflows, so the problems go back to Python, whose ``ot.sinkhorn``
    (log-domain) fallback gives finite plans; both cores agree on the result. (Few problems: that fallback
    takes ~1 s per problem.)"""
    rng = np.random.default_rng(18)
    problems = [rng.random((int(rng.integers(2, 9)), int(rng.integers(2, 9)))) for _ in range(4)]
    fallback = check(ext, problems, ("neg", 0.1, 1e-4, 1000, 1e-9, False))
    assert fallback  # non-vacuous
    native.select("native")
    out = soft.ot_assignments(problems, "neg", 0.1, 1e-4, 1000, 1e-9, False)
    assert all(a.plan is not None and np.all(np.isfinite(a.plan)) for a in out)


def test_one_by_one_is_exactly_one(ext: Any) -> None:
    buf, fallback, iterations = ext.ot_solve([np.array([[0.3]])], "exp", 0.1, 0.1, 1000, 1e-9, True, None)
    assert np.frombuffer(buf)[0] == 1.0 and fallback == [] and iterations == [1]


@pytest.mark.parametrize(
    "problems, cost",
    [
        ([np.zeros(3)], "neg"),  # 1-D
        ([np.zeros((2, 2), dtype=np.float32)], "neg"),
        ([np.zeros((0, 2))], "neg"),
        ([np.zeros((2, 4))[:, ::2]], "neg"),  # not contiguous
        (["ab"], "neg"),
        ([np.zeros((2, 2))], "squared"),
    ],
)
def test_what_it_does_not_handle_goes_back_to_python(ext: Any, problems: list[Any], cost: str) -> None:
    assert ext.ot_solve(problems, cost, 0.1, 0.1, 1000, 1e-9, False, None) is None


def test_deadline(ext: Any) -> None:
    """Past its budget ``ot_solve`` hands back; in ``soft.ot_assignments`` that is DeadlineExceeded."""
    problems = [np.random.default_rng(1).random((16, 16)) for _ in range(50)]
    assert ext.ot_solve(problems, "exp", 0.1, 1e-3, 100000, 0.0, False, 0.0) is None
    assert ext.ot_solve(problems, "exp", 0.1, 0.1, 5, 0.0, False, 60.0) is not None
    native.select("native")
    with pytest.raises(DeadlineExceeded):
        soft.ot_assignments(problems, "exp", 0.1, 1e-3, 100000, 0.0, False, time.monotonic() + 0.05)
