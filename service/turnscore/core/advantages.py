"""Dual-level advantages (SCORING.md §5), vectorized over every rollout and turn of a request.

Turns are flat arrays in rollout-major order (all turns of rollout 0, then rollout 1, ...), so the
next turn of the same rollout is always at the next flat index.

native/src/rows/advantages.rs mirrors :func:`compute` for ``advantage`` dual, trajectory and turn bit for bit
(the compiled rows use it): change both together (tests/native/test_rows_advantages.py compares them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import gigpo
from .config import ScoringConfig

# One rollout's rewards as the advantage stage takes them: (group index, per-turn rewards r_t,
# outcome reward r^o, trajectory score or None when the reward scheme does not use one).
RewardRow = tuple[int, list[float], float, float | None]


@dataclass(slots=True)
class AdvantageInput:
    """``returns`` R_i and ``outcome`` r^o_i per rollout; ``group`` its group index; per-turn rewards flat."""

    returns: np.ndarray  # (N,)
    outcome: np.ndarray  # (N,) r^o as it enters turn returns (0 with answer_turn placement)
    group: np.ndarray  # (N,) int
    num_turns: np.ndarray  # (N,) int
    turn_rewards: np.ndarray  # (M,) with M = num_turns.sum()
    anchor: np.ndarray | None = None  # (M,) step-group id of each turn (GiGPO); None: gigpo.default_anchor


@dataclass(slots=True)
class AdvantageOutput:
    trajectory: np.ndarray  # (N,) A^g
    turn_returns: np.ndarray  # (M,) R^l
    turn: np.ndarray  # (M,) A^l
    combined: np.ndarray  # (M,) what goes on the tokens of each turn
    step_group_sizes: np.ndarray | None = None  # (M,) GiGPO: the size of each turn's step group


def normalize(
    x: np.ndarray, sets: np.ndarray, n_sets: int, std: str, singleton: str, eps: float
) -> np.ndarray:
    """``(x - mean) / (std + eps)`` within each set; sets of one follow the ``singleton`` rule."""
    if x.size == 0:
        return np.zeros(0)
    count = np.bincount(sets, minlength=n_sets)
    mean = np.bincount(sets, weights=x, minlength=n_sets) / np.maximum(count, 1)
    dev = x - mean[sets]
    if std == "none":
        adv = dev
    else:
        ss = np.bincount(sets, weights=dev * dev, minlength=n_sets)
        denom = count - 1 if std == "sample" else count
        var = np.divide(ss, denom, out=np.zeros(n_sets), where=denom > 0)
        adv = dev / (np.sqrt(var)[sets] + eps)
    single = count[sets] == 1
    if single.any():
        if singleton == "zero":
            adv[single] = 0.0
        else:  # raw: mean 0, std 1 (the reference code)
            adv[single] = x[single] if std == "none" else x[single] / (1.0 + eps)
    return adv


def leave_one_out(x: np.ndarray, sets: np.ndarray, n_sets: int) -> np.ndarray:
    """``x`` minus the mean of the other members of its set (baseline 0 when it is alone): a baseline
    that never depends on the member's own value (SCORING.md §5, ``turn_normalization: loo``)."""
    if x.size == 0:
        return np.zeros(0)
    count = np.bincount(sets, minlength=n_sets)[sets]
    total = np.bincount(sets, weights=x, minlength=n_sets)[sets]
    others = np.divide(total - x, count - 1, out=np.zeros(x.size), where=count > 1)
    return x - others


def turn_returns(
    turn_rewards: np.ndarray, outcome: np.ndarray, num_turns: np.ndarray, gamma: float
) -> np.ndarray:
    """R^l_{i,t} = sum_{k>=t} gamma^(k-t) r_{i,k} + gamma^(T_i-t+1) r^o_i, by backward recursion."""
    m = int(num_turns.sum())
    out = np.zeros(m)
    if m == 0:
        return out
    owner = np.repeat(np.arange(num_turns.size), num_turns)
    starts = np.cumsum(num_turns) - num_turns
    pos = np.arange(m) - starts[owner]
    from_end = num_turns[owner] - 1 - pos
    order = np.argsort(from_end, kind="stable")
    bounds = np.cumsum(np.bincount(from_end))
    prev = 0
    for d, end in enumerate(bounds):
        idx = order[prev:end]
        prev = end
        if d == 0:
            out[idx] = turn_rewards[idx] + gamma * outcome[owner[idx]]
        else:
            out[idx] = turn_rewards[idx] + gamma * out[idx + 1]
    return out


def _position_sets(inp: AdvantageInput, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Per flat turn: its position t in its rollout, and one set per (group, t)."""
    starts = np.cumsum(inp.num_turns) - inp.num_turns
    pos = np.arange(owner.size) - starts[owner]
    width = int(inp.num_turns.max()) if inp.num_turns.size else 0
    key = inp.group[owner] * max(width, 1) + pos
    uniq, sets = np.unique(key, return_inverse=True)
    return pos, sets.reshape(-1), int(uniq.size)


def compute(inp: AdvantageInput, cfg: ScoringConfig) -> AdvantageOutput:
    """Trajectory advantages A^g, turn returns R^l and turn advantages A^l, and their combination."""
    n = inp.returns.size
    n_groups = int(inp.group.max()) + 1 if n else 0
    trajectory = normalize(inp.returns, inp.group, n_groups, cfg.std, cfg.singleton, cfg.epsilon)

    turn_ret = turn_returns(inp.turn_rewards, inp.outcome, inp.num_turns, cfg.gamma)
    owner = np.repeat(np.arange(n), inp.num_turns)
    if cfg.advantage == "mt-grpo":
        return _mt_grpo(inp, cfg, trajectory, turn_ret, owner, n_groups)
    if cfg.advantage == "gigpo":
        return _gigpo(inp, cfg, owner, n_groups)
    if cfg.turn_normalization == "group":
        sets, n_sets = inp.group[owner], n_groups
    elif cfg.turn_normalization == "trajectory":  # intra-trajectory: the turns of one rollout
        sets, n_sets = owner, n
    else:
        _, sets, n_sets = _position_sets(inp, owner)
    if cfg.turn_normalization == "loo":
        turn = leave_one_out(turn_ret, sets, n_sets)
    else:
        turn = normalize(turn_ret, sets, n_sets, cfg.std, cfg.singleton, cfg.epsilon)

    trajectory_per_turn = trajectory[owner]
    if cfg.advantage == "trajectory":
        combined = trajectory_per_turn.copy()
    elif cfg.advantage == "turn":
        combined = turn.copy()
    elif cfg.combine == "mean":
        combined = (trajectory_per_turn + turn) / 2.0
    else:
        combined = trajectory_per_turn + turn
    return AdvantageOutput(trajectory, turn_ret, turn, combined)


def _mt_grpo(
    inp: AdvantageInput,
    cfg: ScoringConfig,
    trajectory: np.ndarray,
    turn_ret: np.ndarray,
    owner: np.ndarray,
    n_groups: int,
) -> AdvantageOutput:
    """MT-GRPO (SCORING.md §5): outcome advantage A^O in the group; before the final turn, ``aae`` adds
    ``turn_advantage_coef`` times the turn-reward advantage (per position), ``cae`` uses the normalized
    cumulative return C instead; the final turn gets A^O; a one-turn rollout gets A^g."""
    outcome_adv = normalize(inp.outcome, inp.group, n_groups, cfg.std, cfg.singleton, cfg.epsilon)
    pos, sets, n_sets = _position_sets(inp, owner)
    final = pos == inp.num_turns[owner] - 1
    if cfg.mt_grpo_mode == "aae":
        turn = normalize(inp.turn_rewards, sets, n_sets, cfg.std, cfg.singleton, cfg.epsilon)
        before = outcome_adv[owner] + cfg.turn_advantage_coef * turn
    else:  # cae: C_t = sum_{k=t..T-1} gamma^(k-t) r_k + gamma^(T-t) r^o over turns 1..T-1
        keep = ~final
        head = np.maximum(inp.num_turns - 1, 0)
        cumulative = np.zeros(owner.size)
        cumulative[keep] = turn_returns(inp.turn_rewards[keep], inp.outcome, head, cfg.gamma)
        turn = np.zeros(owner.size)
        turn[keep] = normalize(cumulative[keep], sets[keep], n_sets, cfg.std, cfg.singleton, cfg.epsilon)
        before = turn
    combined = np.where(final, outcome_adv[owner], before)
    single = inp.num_turns[owner] == 1
    combined[single] = trajectory[owner[single]]
    return AdvantageOutput(trajectory, turn_ret, turn, combined)


def _gigpo(inp: AdvantageInput, cfg: ScoringConfig, owner: np.ndarray, n_groups: int) -> AdvantageOutput:
    """GiGPO (SCORING.md §5): episode advantage + ``step_advantage_w`` x step advantage in anchor groups."""
    use_std = cfg.gigpo_mode == "mean_std_norm"
    episode = gigpo.episode_advantage(
        inp.returns, inp.group, inp.num_turns, n_groups, use_std, cfg.epsilon, cfg.singleton
    )
    values = gigpo.step_returns(inp.turn_rewards, inp.outcome, inp.num_turns, cfg.gamma)
    anchor = inp.anchor if inp.anchor is not None else gigpo.default_anchor(inp.group, inp.num_turns)
    step, sizes = gigpo.step_advantage(values, anchor, use_std, cfg.epsilon)
    combined = episode[owner] + cfg.step_advantage_w * step
    return AdvantageOutput(episode, values, step, combined, sizes)
