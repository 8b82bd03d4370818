"""GiGPO (Feng et al., "Group-in-Group Policy Optimization for LLM Agent Training"; SCORING.md §5):
episode advantage plus ``step_advantage_w`` times a step advantage over anchor-state groups.

Anchor states are hashable keys per turn (:func:`anchor_keys` for parsed rollouts; a client's ``state``
values as canonical JSON); :func:`anchor_ids` numbers them per group, so a step group is one anchor state
of one group. Flat turn arrays are rollout-major, as in :mod:`advantages`.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from .turns import ParsedRollout, canonical_json

GIVEN = "state"  # key tags: a state the client sent, or one derived from the previous turns
DERIVED = "prefix"


def anchor_keys(parsed: ParsedRollout, turn_end: str) -> list[Hashable]:
    """Per turn: the client's ``state`` when given, else the previous turns (their calls, answers and the
    tool responses the rollout carries: after ``turn_end`` in a text turn, the non-assistant messages after
    an assistant message), so rollouts with identical prefixes share the state of turn t."""
    out: list[Hashable] = []
    prefix: list[Hashable] = []
    for turn in parsed.turns:
        if turn.state is not None:
            out.append((GIVEN, turn.state))
        else:
            out.append((DERIVED, tuple(prefix)))
        calls = tuple((c.name, canonical_json(c.arguments)) for c in turn.calls)
        seen: Hashable = None
        if turn.text is not None:
            seen = turn.text.partition(turn_end)[2]
        elif turn.observation is not None:
            seen = canonical_json(turn.observation)
        prefix.append((calls, turn.malformed, turn.answer, seen))
    return out


def anchor_ids(groups: Sequence[int], keys: Sequence[Sequence[Hashable]]) -> np.ndarray:
    """Flat per-turn step-group ids: one id per (group, anchor key)."""
    ids: dict[tuple[int, Hashable], int] = {}
    flat = [
        ids.setdefault((g, k), len(ids)) for g, rollout in zip(groups, keys, strict=True) for k in rollout
    ]
    return np.array(flat, dtype=np.int64)


def default_anchor(group: np.ndarray, num_turns: np.ndarray) -> np.ndarray:
    """Anchors when none are known: every rollout's first turn shares its group's prompt; every later
    turn is a state of its own (a step group of one: step advantage 0)."""
    owner = np.repeat(np.arange(num_turns.size), num_turns)
    starts = np.cumsum(num_turns) - num_turns
    first = np.arange(owner.size) == starts[owner]
    n_groups = int(group.max()) + 1 if group.size else 0
    return np.where(first, group[owner], n_groups + np.arange(owner.size)).astype(np.int64)


def episode_advantage(
    returns: np.ndarray,
    group: np.ndarray,
    num_turns: np.ndarray,
    n_groups: int,
    use_std: bool,
    eps: float,
    singleton: str = "raw",
) -> np.ndarray:
    """The reference's episode advantage: mean and sample std over the group's turns (each rollout's R
    counted once per turn); a group of one turn in all has mean 0 and std 1 (``singleton: raw``, the
    reference) or advantage 0 (``zero``)."""
    if returns.size == 0:
        return np.zeros(0)
    w = num_turns.astype(float)
    count = np.bincount(group, weights=w, minlength=n_groups)
    mean = np.bincount(group, weights=w * returns, minlength=n_groups) / np.maximum(count, 1)
    mean = np.where(count == 1, 0.0, mean)
    dev = returns - mean[group]
    if use_std:
        ss = np.bincount(group, weights=w * dev * dev, minlength=n_groups)
        ss = np.where(count == 1, 0.0, ss)
        var = np.divide(ss, count - 1, out=np.zeros(n_groups), where=count > 1)
        std = np.where(count <= 1, 1.0, np.sqrt(var))
        dev = dev / (std[group] + eps)
    if singleton == "zero":
        dev[count[group] <= 1] = 0.0
    return dev


def step_returns(
    turn_rewards: np.ndarray, outcome: np.ndarray, num_turns: np.ndarray, gamma: float
) -> np.ndarray:
    """G_{i,t} = sum_{k=t..T_i} gamma^(k-t) r_{i,k} + gamma^(T_i-t) r^o_i (r^o is the final turn's reward)."""
    out = turn_rewards.astype(float).copy()
    if out.size == 0:
        return out
    ends = np.cumsum(num_turns) - 1
    has = num_turns > 0
    out[ends[has]] += outcome[has]
    owner = np.repeat(np.arange(num_turns.size), num_turns)
    starts = np.cumsum(num_turns) - num_turns
    from_end = num_turns[owner] - 1 - (np.arange(out.size) - starts[owner])
    for d in range(1, int(from_end.max()) + 1):  # backward: G_t = r_t + gamma G_{t+1}
        idx = np.flatnonzero(from_end == d)
        out[idx] += gamma * out[idx + 1]
    return out


def step_advantage(
    values: np.ndarray, anchor: np.ndarray, use_std: bool, eps: float
) -> tuple[np.ndarray, np.ndarray]:
    """(advantage of each step in its anchor-state group, the size of that group); a group of one gets 0."""
    if values.size == 0:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    n = int(anchor.max()) + 1
    count = np.bincount(anchor, minlength=n)
    mean = np.bincount(anchor, weights=values, minlength=n) / np.maximum(count, 1)
    dev = values - mean[anchor]
    if not use_std:
        return dev, count[anchor]
    ss = np.bincount(anchor, weights=dev * dev, minlength=n)
    var = np.divide(ss, count - 1, out=np.zeros(n), where=count > 1)
    std = np.where(count == 1, 1.0, np.sqrt(var))
    return dev / (std[anchor] + eps), count[anchor]
