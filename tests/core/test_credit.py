"""Turn-level credit presets (issue 16): the MatchTIR ablations, intra-trajectory weighting, MT-GRPO.

Expected numbers are computed by hand from each estimator's definition (SCORING.md §5), never by the code
under test."""

from __future__ import annotations

import math

import pytest
from turnscore.core import engine
from turnscore.core.config import PRESETS
from turnscore.core.errors import ConfigError

EPS = 1e-6


def adv(groups, preset=None, **config):
    req = {"config": config, "groups": [{"id": k, "rollouts": g} for k, g in enumerate(groups)]}
    if preset is not None:
        req["preset"] = preset
    return engine.advantages(req).body["groups"]


def R(turns, outcome=0.0, trajectory=None):
    row = {"turn_rewards": turns, "outcome_reward": outcome}
    if trajectory is not None:
        row["trajectory_reward"] = trajectory
    return row


def znorm(xs, eps=EPS):
    """(x - mean) / (sample std + eps), written out."""
    n = len(xs)
    mean = sum(xs) / n
    std = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    return [(x - mean) / (std + eps) for x in xs]


ABLATIONS = {
    "outcome": ("outcome", "trajectory", "position"),
    "trajectory": ("trajectory", "trajectory", "position"),
    "trajectory-outcome": ("trajectory+outcome", "trajectory", "position"),
    "turn": ("turn", "turn", "position"),
    "turn-outcome-nodual": ("turn+outcome", "turn", "position"),
    "turn-outcome-dual": ("turn+outcome", "dual", "position"),
    "adv-trajectory": ("turn+outcome", "trajectory", "position"),
    "adv-turn": ("turn+outcome", "turn", "position"),
    "adv-intra": ("turn+outcome", "dual", "trajectory"),
    "adv-dual": ("turn+outcome", "dual", "position"),
}


@pytest.mark.parametrize("name", sorted(ABLATIONS))
def test_ablation_presets_are_matchtir_km_with_one_change(name):
    scheme, estimator, norm = ABLATIONS[name]
    cfg = engine.presets()[f"matchtir-ablation-{name}"]
    base = engine.presets()["matchtir-km"]
    assert (cfg["reward_scheme"], cfg["advantage"], cfg["turn_normalization"]) == (scheme, estimator, norm)
    changed = {k for k in cfg if cfg[k] != base[k]}
    assert changed <= {"reward_scheme", "advantage", "turn_normalization"}


def test_ablation_outcome_uses_only_the_outcome():
    out = adv([[R([1.0, 0.0], 0.2), R([0.0, 0.0], 0.8), R([0.5, 0.5], 0.5)]], "matchtir-ablation-outcome")
    want = znorm([0.2, 0.8, 0.5])
    for r, w in zip(out[0]["rollouts"], want, strict=True):
        assert r["advantages"] == [pytest.approx(w), pytest.approx(w)]


def test_ablation_trajectory_outcome_adds_the_outcome_to_the_trajectory_score():
    rows = [R([1.0], 0.2, trajectory=0.5), R([0.0], 0.8, trajectory=0.1), R([0.0], 0.0, trajectory=0.3)]
    out = adv([rows], "matchtir-ablation-trajectory-outcome")
    want = znorm([0.7, 0.9, 0.3])
    assert [r["advantages"][0] for r in out[0]["rollouts"]] == pytest.approx(want)
    only = adv([rows], "matchtir-ablation-trajectory")
    assert [r["advantages"][0] for r in only[0]["rollouts"]] == pytest.approx(znorm([0.5, 0.1, 0.3]))


def test_ablation_turn_only_drops_the_outcome_and_nodual_keeps_it():
    g = 0.9
    rows = [R([1.0, 0.0], 1.0), R([0.0, 1.0], 0.0)]
    turn = adv([rows], "matchtir-ablation-turn")[0]["rollouts"]
    # R^l without outcome: rollout 0 (1 + 0.9*0, 0), rollout 1 (0.9, 1); two values per position
    for t, (a, b) in enumerate([(1.0, g), (0.0, 1.0)]):
        assert turn[0]["advantages"][t] == pytest.approx(znorm([a, b])[0])
    nodual = adv([rows], "matchtir-ablation-turn-outcome-nodual")[0]["rollouts"]
    for t, (a, b) in enumerate([(1.0 + g**2, g), (g, 1.0)]):
        assert nodual[0]["advantages"][t] == pytest.approx(znorm([a, b])[0])
        assert nodual[1]["advantages"][t] == pytest.approx(znorm([a, b])[1])


def test_intra_trajectory_turn_advantages_normalize_within_each_rollout():
    g = 0.9
    rows = [R([1.0, 0.0, 0.5], 1.0), R([0.0, 0.0], 0.0), R([0.25], 0.5)]
    out = adv([rows], "matchtir-ablation-adv-intra")[0]["rollouts"]
    returns = [1.0 + 0.0 + 0.5 + 1.0, 0.0, 0.25 + 0.5]
    traj = znorm(returns)
    # rollout 0: R^l = (1 + g*0 + g^2*0.5 + g^3*1, 0 + g*0.5 + g^2*1, 0.5 + g*1)
    rl0 = [1.0 + g**2 * 0.5 + g**3, g * 0.5 + g**2, 0.5 + g]
    for t, a in enumerate(znorm(rl0)):
        assert out[0]["turn_advantages"][t] == pytest.approx(a)
        assert out[0]["advantages"][t] == pytest.approx(traj[0] + a)
    # rollout 1: equal returns -> 0; rollout 2: a set of one turn -> singleton zero
    assert out[1]["turn_advantages"] == [0.0, 0.0]
    assert out[1]["advantages"] == pytest.approx([traj[1], traj[1]])
    assert out[2]["turn_advantages"] == [0.0]
    assert out[2]["advantages"] == pytest.approx([traj[2]])
    # the within-rollout turn advantages sum to zero: only the trajectory advantage ranks rollouts
    assert sum(out[0]["turn_advantages"]) == pytest.approx(0.0, abs=1e-9)


def test_dual_ablation_equals_matchtir_km():
    rows = [R([1.0, 0.0], 0.5), R([0.0, 1.0], 0.0), R([0.5], 1.0)]
    assert adv([rows], "matchtir-ablation-adv-dual")[0] == adv([rows], "matchtir-km")[0]


# ---- MT-GRPO -----------------------------------------------------------------------------------------
# The reference (SiliangZeng/Multi-Turn-RL-Agent, verifiers/trainers/mt_grpo_env_trainer.py), for a
# rollout whose tool result comes after the first assistant turn:
#   A^T = (r_turn - mean) / (torch.std + 1e-4), A^O likewise for r_outcome, both over the group;
#   aae: tokens before the result get A^O + turn_advantage_coef * A^T, tokens after it A^O;
#   cae: before: normalize(r_turn + discount_factor * r_outcome), after: A^O.
REF_EPS = 1e-4


def _two_turn_group():
    # (turn reward of the tool turn, outcome); the final turn's own turn reward is not used by MT-GRPO
    data = [(1.0, 1.0), (0.5, 0.0), (0.0, 1.0), (0.25, 0.0)]
    return data, [R([t, 0.3], o) for t, o in data]


def test_mt_grpo_aae_two_turns_equals_reference_formulas():
    data, rows = _two_turn_group()
    a_t = znorm([t for t, _ in data], REF_EPS)
    a_o = znorm([o for _, o in data], REF_EPS)
    out = adv([rows], "mt-grpo")[0]["rollouts"]
    for i, r in enumerate(out):
        assert r["advantages"] == [pytest.approx(a_o[i] + a_t[i]), pytest.approx(a_o[i])]
    coef = adv([rows], "mt-grpo", turn_advantage_coef=0.5)[0]["rollouts"]
    for i, r in enumerate(coef):
        assert r["advantages"] == [pytest.approx(a_o[i] + 0.5 * a_t[i]), pytest.approx(a_o[i])]


def test_mt_grpo_numbers_written_from_the_reference():
    # turn rewards (1, .5, 0, .25): mean .4375, sample std sqrt(.546875 / 3) = 0.4269563, so A^T =
    # (1.31716, 0.14635, -1.02446, -0.43905); outcomes (1, 0, 1, 0): mean .5, std sqrt(1/3), A^O = ±0.86588
    _, rows = _two_turn_group()
    out = adv([rows], "mt-grpo")[0]["rollouts"]
    got = [r["advantages"] for r in out]
    want = [[2.18303, 0.86588], [-0.71952, -0.86588], [-0.15858, 0.86588], [-1.30493, -0.86588]]
    for g, w in zip(got, want, strict=True):
        assert g == pytest.approx(w, abs=1e-5)


def test_mt_grpo_cae_two_turns_equals_reference_formulas():
    data, rows = _two_turn_group()
    for d in (1.0, 0.5):
        c = znorm([t + d * o for t, o in data], REF_EPS)
        a_o = znorm([o for _, o in data], REF_EPS)
        out = adv([rows], "mt-grpo", mt_grpo_mode="cae", gamma=d)[0]["rollouts"]
        for i, r in enumerate(out):
            assert r["advantages"] == [pytest.approx(c[i]), pytest.approx(a_o[i])]


def test_mt_grpo_more_turns_normalizes_each_position_and_one_turn_gets_the_trajectory_advantage():
    rows = [R([1.0, 0.0, 9.0], 1.0), R([0.0, 1.0, 9.0], 0.0), R([0.5], 1.0)]
    out = adv([rows], "mt-grpo")[0]["rollouts"]
    a_o = znorm([1.0, 0.0, 1.0], REF_EPS)
    p0 = znorm([1.0, 0.0, 0.5], REF_EPS)  # position 0: every rollout has it
    p1 = znorm([0.0, 1.0], REF_EPS)  # position 1: the two three-turn rollouts
    assert out[0]["advantages"] == pytest.approx([a_o[0] + p0[0], a_o[0] + p1[0], a_o[0]])
    assert out[1]["advantages"] == pytest.approx([a_o[1] + p0[1], a_o[1] + p1[1], a_o[1]])
    traj = znorm([1.0 + 0.0 + 9.0 + 1.0, 0.0 + 1.0 + 9.0 + 0.0, 0.5 + 1.0], REF_EPS)
    assert out[2]["advantages"] == pytest.approx([traj[2]])


def test_mt_grpo_cae_three_turns_cumulative_return_before_the_final_turn():
    g = 0.5
    rows = [R([1.0, 0.0, 9.0], 1.0), R([0.0, 1.0, 9.0], 0.0)]
    out = adv([rows], "mt-grpo", mt_grpo_mode="cae", gamma=g)[0]["rollouts"]
    # C_t = sum_{k=t..T-1} g^(k-t) r_k + g^(T-t) r^o, T = 3 (the final turn's reward excluded)
    c0 = [1.0 + g * 0.0 + g**2 * 1.0, 0.0 + g * 1.0 + g**2 * 0.0]
    c1 = [0.0 + g * 1.0, 1.0 + g * 0.0]
    a_o = znorm([1.0, 0.0], REF_EPS)
    for i in range(2):
        want = [znorm(c0, REF_EPS)[i], znorm(c1, REF_EPS)[i], a_o[i]]
        assert out[i]["advantages"] == pytest.approx(want)


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"mt_grpo_mode": "xae"}, "mt_grpo_mode"),
        ({"turn_advantage_coef": -1}, "turn_advantage_coef"),
        ({"turn_advantage_coef": "1"}, "turn_advantage_coef"),
        ({"turn_normalization": "rollout"}, "turn_normalization"),
    ],
)
def test_new_settings_are_validated(config, key):
    with pytest.raises(ConfigError) as exc:
        adv([[R([1.0])]], **config)
    assert exc.value.details["key"] == key


def test_existing_presets_keep_their_settings():
    for name in ("matchtir-km", "matchtir-ot", "turnscore-v1", "toolrl", "grpo-outcome"):
        cfg = PRESETS[name]
        assert cfg.advantage in ("dual", "trajectory")
        assert cfg.turn_normalization == "position"


# ---- GiGPO -------------------------------------------------------------------------------------------
# The reference (verl-agent, gigpo/core_gigpo.py): episode advantage of the summed reward, its mean and
# std over the group's steps (compute_mean_std_cross_steps), a group of one step having mean 0, std 1;
# step advantage of the discounted step return in groups of identical anchor observations (a group of one:
# its own mean, std 1, so 0); mean_norm drops the std; scores = episode + step_advantage_w * step.


def S(turns, outcome, states):
    return {"turn_rewards": turns, "outcome_reward": outcome, "states": states}


def test_gigpo_mean_norm_by_hand():
    g = 0.95
    rows = [
        S([1.0, 0.0], 1.0, ["s0", "s1"]),
        S([0.0, 0.5], 0.0, ["s0", "s1"]),
        S([0.5, 0.0], 1.0, ["s0", "s2"]),
    ]
    out = adv([rows], "gigpo")[0]["rollouts"]
    # R = sum r_t + r^o: 2, 0.5, 1.5; every rollout has two steps, so the step-weighted mean is 4/3
    ep = [2.0 - 4 / 3, 0.5 - 4 / 3, 1.5 - 4 / 3]
    # G_2 = r_2 + r^o, G_1 = r_1 + g * G_2
    g2 = [0.0 + 1.0, 0.5 + 0.0, 0.0 + 1.0]
    g1 = [1.0 + g * g2[0], 0.0 + g * g2[1], 0.5 + g * g2[2]]
    m1 = sum(g1) / 3  # anchor s0: all three first steps
    m2 = (g2[0] + g2[1]) / 2  # anchor s1: rollouts 0 and 1; s2 alone
    step = [[g1[0] - m1, g2[0] - m2], [g1[1] - m1, g2[1] - m2], [g1[2] - m1, 0.0]]
    for i, r in enumerate(out):
        assert r["trajectory_advantage"] == pytest.approx(ep[i])
        assert r["turn_advantages"] == pytest.approx(step[i])
        assert r["advantages"] == pytest.approx([ep[i] + step[i][0], ep[i] + step[i][1]])
    assert [r["step_group_sizes"] for r in out] == [[3, 2], [3, 2], [3, 1]]
    half = adv([rows], "gigpo", step_advantage_w=0.5)[0]["rollouts"]
    assert half[2]["advantages"] == pytest.approx([ep[2] + 0.5 * step[2][0], ep[2]])


def test_gigpo_mean_std_norm_and_unequal_lengths_weight_the_episode_by_steps():
    # reference numbers: steps' episode scores [1, 0, 0] (rollout 0 one step with R 1, rollout 1 two steps
    # with R 0): mean 1/3, torch.std = sqrt(1/3) = 0.577350 -> 1.154699 and -0.577350
    rows = [S([0.0], 1.0, ["a"]), S([0.0, 0.0], 0.0, ["a", "b"])]
    out = adv([rows], "gigpo", gigpo_mode="mean_std_norm")[0]["rollouts"]
    assert out[0]["trajectory_advantage"] == pytest.approx(1.154699, abs=1e-5)
    assert out[1]["trajectory_advantage"] == pytest.approx(-0.577350, abs=1e-5)
    # anchor a: step returns 1 (R 1 at the final step) and 0 + 0.95 * 0: sample std sqrt(0.5)
    a = znorm([1.0, 0.0])
    assert out[0]["advantages"] == pytest.approx([1.154699 + a[0]], abs=1e-5)
    assert out[1]["advantages"] == pytest.approx([-0.577350 + a[1], -0.577350], abs=1e-5)


def test_gigpo_episode_of_one_step_is_raw_and_zero_with_singleton_zero():
    out = adv([[S([0.25], 0.5, None)]], "gigpo")[0]["rollouts"][0]
    assert out["trajectory_advantage"] == pytest.approx(0.75)
    assert out["advantages"] == pytest.approx([0.75])
    zero = adv([[S([0.25], 0.5, None)]], "gigpo", singleton="zero")[0]["rollouts"][0]
    assert zero["advantages"] == [0.0]


def test_gigpo_without_states_shares_only_the_first_turn():
    rows = [R([1.0, 1.0], 0.0), R([0.0, 1.0], 0.0)]
    out = adv([rows], "gigpo")[0]["rollouts"]
    assert [r["step_group_sizes"] for r in out] == [[2, 1], [2, 1]]
    assert [r["turn_advantages"][1] for r in out] == [0.0, 0.0]


def test_gigpo_states_are_any_json_and_compared_canonically():
    rows = [S([1.0], 0.0, [{"a": 1, "b": [2]}]), S([0.0], 0.0, [{"b": [2], "a": 1}]), S([0.0], 0.0, [[1]])]
    out = adv([rows], "gigpo")[0]["rollouts"]
    assert [r["step_group_sizes"] for r in out] == [[2], [2], [1]]
    assert out[0]["turn_advantages"] == pytest.approx([0.5])


@pytest.mark.parametrize("states", [["a"], "a", ["a", "b", "c"]])
def test_gigpo_states_must_match_the_turn_rewards(states):
    from turnscore.core.errors import InvalidRequest

    with pytest.raises(InvalidRequest) as exc:
        adv([[S([1.0, 0.0], 0.0, states)]], "gigpo")
    assert exc.value.details["path"] == "groups[0].rollouts[0].states"


def _gold():
    return {
        "calls": [{"name": "f", "arguments": {"x": 1}}, {"name": "g", "arguments": {"y": 2}}],
        "answer": "ok",
    }


def score(rollouts, **config):
    req = {"preset": "gigpo", "config": config, "groups": [{"gold": _gold(), "rollouts": rollouts}]}
    return engine.score(req).body["groups"][0]["rollouts"]


def call(name, **args):
    return {"name": name, "arguments": args}


def test_gigpo_score_derives_anchor_states_from_the_previous_turns():
    same = [{"tool_calls": [call("f", x=1)]}, {"tool_calls": [call("g", y=2)]}, {"answer": "ok"}]
    other = [{"tool_calls": [call("f", x=1)]}, {"tool_calls": [call("g", y=3)]}, {"answer": "no"}]
    diverged = [{"tool_calls": [call("f", x=9)]}, {"tool_calls": [call("g", y=2)]}, {"answer": "ok"}]
    out = score([{"turns": same}, {"turns": other}, {"turns": diverged}])
    # turn 1: the prompt (3); turn 2: after f(x=1) (2) or f(x=9) (1); turn 3: every prefix differs
    assert [r["step_group_sizes"] for r in out] == [[3, 2, 1], [3, 2, 1], [3, 1, 1]]

    # a client state replaces the derived one
    def stated(turns):
        return {"turns": [dict(t, state=f"s{k}") for k, t in enumerate(turns)]}

    out = score([stated(same), stated(diverged)])
    assert [r["step_group_sizes"] for r in out] == [[2, 2, 2], [2, 2, 2]]
    # one state for every turn: one step group of all six turns
    out = score([{"turns": [dict(t, state="s") for t in ts]} for ts in (same, diverged)])
    assert [r["step_group_sizes"] for r in out] == [[6, 6, 6], [6, 6, 6]]


def test_gigpo_messages_tool_responses_are_part_of_the_state():
    def rollout(observation):
        return {
            "messages": [
                {"role": "user", "content": "q"},
                {"role": "assistant", "tool_calls": [{"type": "function", "function": call("f", x=1)}]},
                {"role": "tool", "content": observation},
                {"role": "assistant", "content": "<answer>ok</answer>"},
            ]
        }

    out = score([rollout("sunny"), rollout("sunny"), rollout("rain")])
    assert [r["step_group_sizes"] for r in out] == [[3, 2], [3, 2], [3, 1]]


def test_gigpo_advantages_with_states_equal_score_with_turn_states():
    turns = [
        [{"tool_calls": [call("f", x=1)], "state": 0}, {"answer": "ok", "state": 1}],
        [{"tool_calls": [call("f", x=2)], "state": 0}, {"answer": "ok", "state": 1}],
        [{"tool_calls": [call("g", y=2)], "state": 0}, {"answer": "no", "state": 2}],
    ]
    scored = score([{"turns": t} for t in turns])
    rows = [
        S(r["turn_rewards"], r["outcome_reward"], [t["state"] for t in ts])
        for r, ts in zip(scored, turns, strict=True)
    ]
    again = adv([rows], "gigpo")[0]["rollouts"]
    for a, b in zip(scored, again, strict=True):
        for key in ("advantages", "turn_advantages", "trajectory_advantage", "step_group_sizes"):
            assert a[key] == b[key], key


def test_other_presets_write_no_step_group_sizes():
    assert "step_group_sizes" not in adv([[R([1.0]), R([0.0])]], "matchtir-km")[0]["rollouts"][0]


def test_gigpo_text_tool_responses_after_turn_end_are_part_of_the_state():
    sep, end = "\n<|im_start|>assistant\n", "<|im_end|>"

    def text(observation, thought):
        first = (
            f'<think>{thought}</think><tool_call>{{"name": "f", "arguments": {{"x": 1}}}}</tool_call>{end}'
        )
        return first + f"\n<tool_response>{observation}</tool_response>" + sep + f"<answer>ok</answer>{end}"

    out = score([{"text": text("sunny", "a")}, {"text": text("sunny", "b")}, {"text": text("rain", "a")}])
    # the thought differs, the action and the observation do not: one state; another observation: its own
    assert [r["step_group_sizes"] for r in out] == [[3, 2], [3, 2], [3, 1]]


# ---- an unbiased turn baseline (turn_normalization: loo) ---------------------------------------------


def test_loo_turn_advantage_by_hand():
    g = 0.9
    rows = [R([1.0, 0.0], 1.0), R([0.0, 0.5], 0.0), R([0.5], 1.0)]
    out = adv([rows], "turn-loo")[0]["rollouts"]
    rl = [[1.0 + g**2, g], [0.5 * g, 0.5], [0.5 + g]]  # R^l_{i,t}
    first = [rl[0][0], rl[1][0], rl[2][0]]
    for i in range(3):
        others = [x for j, x in enumerate(first) if j != i]
        assert out[i]["advantages"][0] == pytest.approx(first[i] - sum(others) / 2)
    assert out[0]["advantages"][1] == pytest.approx(rl[0][1] - rl[1][1])
    assert out[2]["turn_advantages"] == pytest.approx([first[2] - (first[0] + first[1]) / 2])
    alone = adv([[R([0.25, 0.5], 0.0)]], "turn-loo")[0]["rollouts"][0]
    assert alone["advantages"] == pytest.approx([0.25 + g * 0.5, 0.5])  # no other rollout: baseline 0


def test_loo_is_unbiased_where_the_turn_index_baseline_is_not():
    """A constructed group: at turn 1 the policy answers (stop, prob 1 - p) or calls a tool and answers at
    turn 2 (continue, prob p). The exact expectation over every group of n rollouts of the turn-1 policy
    gradient estimate score(a) * A_1 must equal dJ/dp = G(continue) - G(stop), score = d/dp log pi(a)."""
    import itertools

    p, n = 0.3, 3
    stop = ([0.0], 0.5)  # (turn rewards, outcome)
    cont = ([0.5, 0.5], 0.25)
    g_stop, g_cont = 0.0 + 0.5, 0.5 + 0.5 + 0.25  # gamma 1: reward-to-go at turn 1
    true_grad = g_cont - g_stop

    def expectation(credit):
        total = 0.0
        for acts in itertools.product((0, 1), repeat=n):  # 1 = continue
            prob = math.prod(p if a else 1 - p for a in acts)
            score = 1 / p if acts[0] else -1 / (1 - p)
            total += prob * score * credit(acts)
        return total

    def loo(acts):
        rows = [R(*(cont if a else stop)) for a in acts]
        return adv([rows], "turn-loo", gamma=1.0)[0]["rollouts"][0]["advantages"][0]

    def index_baseline(acts):
        # per-turn reward (outcome on the final turn) minus its turn index's group mean, summed from turn 1
        rewards = [[0.5, 0.5 + 0.25] if a else [0.0 + 0.5] for a in acts]
        means = [
            sum(r[k] for r in rewards if len(r) > k) / max(1, sum(len(r) > k for r in rewards))
            for k in range(2)
        ]
        return sum(r - means[k] for k, r in enumerate(rewards[0]))

    assert expectation(loo) == pytest.approx(true_grad, abs=1e-12)
    assert abs(expectation(index_baseline) - true_grad) > 0.1
