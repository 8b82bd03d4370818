"""Property tests (hypothesis) over the scoring core."""

from __future__ import annotations

import math
import random

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from turnscore.core import engine
from turnscore.core.calls import Call
from turnscore.core.gold import compile_gold
from turnscore.core.similarity import PredTables, matrix

NAMES = ["f", "g", "h", "F"]
KEYS = ["a", "b", "c", "d"]
values = st.one_of(
    st.integers(-3, 3),
    st.booleans(),
    st.sampled_from(["x", "y", "X ", "1"]),
    st.none(),
    st.floats(-2, 2, allow_nan=False).map(lambda v: round(v, 1)),
)
calls = st.builds(
    lambda n, a: {"name": n, "arguments": a},
    st.sampled_from(NAMES),
    st.dictionaries(st.sampled_from(KEYS), values, max_size=4),
)
turns = st.lists(
    st.builds(
        lambda c, a: {"tool_calls": c, "answer": a},
        st.lists(calls, max_size=4),
        st.one_of(st.none(), st.sampled_from(["x y", "z", "x"])),
    ),
    max_size=5,
)
golds = st.builds(
    lambda c, a: {"calls": c, "answer": a},
    st.lists(calls, max_size=6),
    st.one_of(st.none(), st.sampled_from(["x y", "z"])),
)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(
    st.lists(calls, min_size=1, max_size=5),
    st.lists(calls, min_size=1, max_size=5),
    st.sampled_from(["exact", "normalized", "python"]),
)
def test_similarity_in_unit_interval(pred, gold, mode):
    g = compile_gold({"calls": gold})
    p = PredTables([Call(c["name"], c["arguments"]) for c in pred], False)
    s = matrix(p, g, mode, False)
    assert np.all((s >= 0) & (s <= 1))


def _rows(preset, gold, rollouts, **kw):
    req = {"preset": preset, "groups": [{"gold": gold, "rollouts": [{"turns": t} for t in rollouts]}], **kw}
    return engine.score(req).body["groups"][0]["rollouts"]


@SETTINGS
@given(golds, st.lists(turns, min_size=1, max_size=4), st.floats(0, 2))
def test_hard_call_rewards_are_minus_lambda_or_in_0_1(gold, rollouts, lam):
    for assignment in ("hungarian", "greedy"):
        for r in engine.score(
            {
                "config": {"assignment": assignment, "unmatched_penalty": lam},
                "explain": True,
                "groups": [{"gold": gold, "rollouts": [{"turns": t} for t in rollouts]}],
            }
        ).body["groups"][0]["rollouts"]:
            for m in r["matches"]:
                assert m["reward"] == -lam or 0 < m["reward"] <= 1


@SETTINGS
@given(golds, st.lists(turns, min_size=1, max_size=4))
def test_optimal_total_at_least_greedy_total(gold, rollouts):
    h = engine.score(
        {"explain": True, "groups": [{"gold": gold, "rollouts": [{"turns": t} for t in rollouts]}]}
    ).body
    g = engine.score(
        {
            "explain": True,
            "config": {"assignment": "greedy"},
            "groups": [{"gold": gold, "rollouts": [{"turns": t} for t in rollouts]}],
        }
    ).body
    for a, b in zip(h["groups"][0]["rollouts"], g["groups"][0]["rollouts"], strict=True):
        sa = sum(m["similarity"] for m in a["matches"] if m["gold"] is not None)
        sb = sum(m["similarity"] for m in b["matches"] if m["gold"] is not None)
        assert sa >= sb - 1e-12


@SETTINGS
@given(golds, st.lists(turns, min_size=1, max_size=4), st.randoms(use_true_random=False))
def test_permuting_gold_order_keeps_hungarian_totals(gold, rollouts, rnd: random.Random):
    """The optimal total similarity does not depend on gold order (how ties split across turns may)."""
    shuffled = dict(gold, calls=rnd.sample(gold["calls"], len(gold["calls"])))

    def totals(g):
        req = {"explain": True, "groups": [{"gold": g, "rollouts": [{"turns": t} for t in rollouts]}]}
        rows = engine.score(req).body["groups"][0]["rollouts"]
        return [sum(m["reward"] for m in r["matches"]) for r in rows]

    for x, y in zip(totals(gold), totals(shuffled), strict=True):
        assert math.isclose(x, y, abs_tol=1e-9)


@SETTINGS
@given(
    golds,
    st.lists(turns, min_size=1, max_size=6),
    st.sampled_from(list(engine.presets())),  # every preset (tests/core/test_engine.py lists them)
)
def test_advantages_finite_and_deterministic(gold, rollouts, preset):
    a = _rows(preset, gold, rollouts)
    b = _rows(preset, gold, rollouts)
    assert a == b
    for r in a:
        vals = (
            r["advantages"]
            + r["turn_advantages"]
            + r["turn_rewards"]
            + [r["trajectory_advantage"], r["return"], r["outcome_reward"]]
        )
        assert all(math.isfinite(v) for v in vals)
        assert len(r["advantages"]) == r["num_turns"] == len(r["turn_rewards"])


@SETTINGS
@given(
    st.lists(st.lists(st.floats(-5, 5), min_size=0, max_size=4), min_size=2, max_size=8),
    st.sampled_from(["sample", "population"]),
)
def test_trajectory_advantages_have_mean_zero(turn_rewards, std):
    req = {
        "config": {"advantage": "trajectory", "std": std},
        "groups": [{"rollouts": [{"turn_rewards": t, "outcome_reward": 0.0} for t in turn_rewards]}],
    }
    rows = engine.advantages(req).body["groups"][0]["rollouts"]
    adv = [r["trajectory_advantage"] for r in rows]
    assert abs(sum(adv) / len(adv)) < 1e-6
