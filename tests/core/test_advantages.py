"""Advantages (SCORING.md §5): hand-computed values for every estimator and option."""

from __future__ import annotations

import numpy as np
import pytest
from turnscore.core import engine
from turnscore.core.errors import InvalidRequest

EPS = 1e-6


def adv(groups, **config):
    req = {"config": config, "groups": [{"id": k, "rollouts": g} for k, g in enumerate(groups)]}
    return engine.advantages(req).body["groups"]


def R(turns, outcome=0.0):
    return {"turn_rewards": turns, "outcome_reward": outcome}


def test_trajectory_advantage_sample_std():
    out = adv([[R([1.0], 0.0), R([0.0], 0.0), R([0.5], 0.5)]], advantage="trajectory")
    x = np.array([1.0, 0.0, 1.0])
    want = (x - x.mean()) / (x.std(ddof=1) + EPS)
    got = [r["trajectory_advantage"] for r in out[0]["rollouts"]]
    assert got == pytest.approx(want.tolist())
    assert [r["advantages"] for r in out[0]["rollouts"]] == [[pytest.approx(w)] for w in want]


@pytest.mark.parametrize(("std", "ddof"), [("sample", 1), ("population", 0)])
def test_std_modes(std, ddof):
    out = adv([[R([1.0]), R([2.0]), R([4.0])]], std=std, advantage="trajectory")
    x = np.array([1.0, 2.0, 4.0])
    want = (x - x.mean()) / (x.std(ddof=ddof) + EPS)
    assert [r["trajectory_advantage"] for r in out[0]["rollouts"]] == pytest.approx(want.tolist())


def test_std_none_is_mean_centering():
    out = adv([[R([1.0]), R([2.0]), R([4.0])]], std="none", advantage="trajectory")
    assert [r["trajectory_advantage"] for r in out[0]["rollouts"]] == pytest.approx([-4 / 3, -1 / 3, 5 / 3])


def test_turn_returns_with_discounted_outcome():
    # R^l_t = sum_{k>=t} g^(k-t) r_k + g^(T-t+1) r^o
    g = 0.9
    r = [0.5, 0.25, 1.0]
    ro = 0.8
    out = adv([[R(r, ro), R([0.0, 0.0, 0.0], 0.0)]], gamma=g)
    rl = [
        r[0] + g * r[1] + g**2 * r[2] + g**3 * ro,
        r[1] + g * r[2] + g**2 * ro,
        r[2] + g * ro,
    ]
    # two rollouts, each turn position has values (rl_t, 0): sample std of two values = |a|/sqrt(2)
    for t in range(3):
        a = rl[t]
        mean, std = a / 2, abs(a) / np.sqrt(2)
        assert out[0]["rollouts"][0]["turn_advantages"][t] == pytest.approx((a - mean) / (std + EPS))
    traj = out[0]["rollouts"][0]["trajectory_advantage"]
    assert out[0]["rollouts"][0]["return"] == pytest.approx(sum(r) + ro)
    assert out[0]["rollouts"][0]["advantages"] == pytest.approx(
        [traj + x for x in out[0]["rollouts"][0]["turn_advantages"]]
    )


def test_turn_advantages_normalize_per_position_over_rollouts_that_have_it():
    out = adv([[R([1.0, 1.0]), R([0.0]), R([0.5, 0.0, 2.0])]], gamma=1.0)
    rows = out[0]["rollouts"]
    # position 2 exists only in rollout 2: singleton -> zero
    assert rows[2]["turn_advantages"][2] == 0.0
    # position 1: values (1.0, 2.0) from rollouts 0 and 2 (R^l_1 = 1.0 and 0.0 + 2.0)
    a, b = 1.0, 2.0
    m, s = (a + b) / 2, np.std([a, b], ddof=1)
    assert rows[0]["turn_advantages"][1] == pytest.approx((a - m) / (s + EPS))
    assert rows[2]["turn_advantages"][1] == pytest.approx((b - m) / (s + EPS))


def test_group_turn_normalization_pools_all_turns():
    out = adv([[R([1.0, 0.0]), R([0.0])]], gamma=0.0, turn_normalization="group")
    vals = np.array([1.0, 0.0, 0.0])
    want = (vals - vals.mean()) / (vals.std(ddof=1) + EPS)
    got = out[0]["rollouts"][0]["turn_advantages"] + out[0]["rollouts"][1]["turn_advantages"]
    assert got == pytest.approx(want.tolist())


def test_combine_mean_and_estimators():
    groups = [[R([1.0, 0.0], 0.5), R([0.0, 1.0], 0.0), R([0.5], 1.0)]]
    s = adv(groups, combine="sum")[0]["rollouts"]
    m = adv(groups, combine="mean")[0]["rollouts"]
    t = adv(groups, advantage="turn")[0]["rollouts"]
    g = adv(groups, advantage="trajectory")[0]["rollouts"]
    for a, b, c, d in zip(s, m, t, g, strict=True):
        for k in range(len(a["advantages"])):
            assert b["advantages"][k] == pytest.approx(a["advantages"][k] / 2)
            assert c["advantages"][k] == pytest.approx(a["turn_advantages"][k])
            assert d["advantages"][k] == pytest.approx(a["trajectory_advantage"])


def test_singleton_group_zero_and_raw():
    z = adv([[R([0.5, 1.0], 0.25)]])[0]["rollouts"][0]
    assert z["trajectory_advantage"] == 0.0
    assert z["advantages"] == [0.0, 0.0]
    raw = adv([[R([0.5, 1.0], 0.25)]], singleton="raw", gamma=0.5)[0]["rollouts"][0]
    assert raw["trajectory_advantage"] == pytest.approx(1.75 / (1 + EPS))
    assert raw["turn_advantages"] == pytest.approx(
        [(0.5 + 0.5 * 1.0 + 0.25 * 0.25) / (1 + EPS), (1.0 + 0.125) / (1 + EPS)]
    )


def test_all_ties_give_zero_finite_advantages():
    out = adv([[R([0.3, 0.3], 0.1)] * 5])
    for r in out[0]["rollouts"]:
        assert r["trajectory_advantage"] == 0.0
        assert r["advantages"] == [0.0, 0.0]


def test_answer_turn_placement_drops_outcome():
    out = adv([[R([1.0, 0.5], 0.9), R([0.0, 0.2], 0.1)]], outcome_placement="answer_turn", gamma=0.5)
    r0 = out[0]["rollouts"][0]
    assert r0["return"] == pytest.approx(1.5)
    assert r0["outcome_reward"] == pytest.approx(0.9)  # reported, not added


def test_reward_schemes():
    grp = [[R([1.0, 0.5], 0.9), R([0.0, 0.2], 0.1)]]
    assert adv(grp, reward_scheme="turn")[0]["rollouts"][0]["return"] == pytest.approx(1.5)
    o = adv(grp, reward_scheme="outcome")[0]["rollouts"][0]
    assert o["return"] == pytest.approx(0.9)
    assert o["turn_rewards"] == [0.0, 0.0]
    with pytest.raises(InvalidRequest) as err:
        adv(grp, reward_scheme="trajectory")
    assert err.value.path == "groups[0].rollouts[0].trajectory_reward"
    t = adv(
        [[dict(R([1.0], 0.5), trajectory_reward=0.25)]], reward_scheme="trajectory+outcome", singleton="raw"
    )
    assert t[0]["rollouts"][0]["return"] == pytest.approx(0.75)


def test_groups_are_independent_and_zero_turn_rollouts_are_fine():
    out = adv([[R([1.0]), R([])], [R([5.0]), R([7.0])]])
    assert out[0]["rollouts"][1]["advantages"] == []
    assert out[0]["rollouts"][1]["num_turns"] == 0
    a = out[1]["rollouts"]
    assert a[0]["trajectory_advantage"] == pytest.approx(-a[1]["trajectory_advantage"])


def test_bad_rewards_name_the_field():
    for bad in [None, "x", True, 1e300]:
        with pytest.raises(InvalidRequest) as err:
            adv([[R([0.0, bad])]])
        assert err.value.path == "groups[0].rollouts[0].turn_rewards[1]"
