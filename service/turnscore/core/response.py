"""The response body (API.md): per rollout its rewards as used, returns and advantages; per group its
references; ``effective`` settings. Every float in the body is finite (a non-finite value is sent as 0).
"""

from __future__ import annotations

import math
import time
from collections.abc import Hashable
from typing import Any, NamedTuple

import numpy as np

from . import advantages as adv
from . import gigpo, native, toolrl
from .advantages import RewardRow
from .config import ScoringConfig
from .request import GroupMeta, Request
from .rewards import Rollout, RolloutScore, Scores, final_answer
from .summary import RolloutColumns, RolloutStats, call_counts, call_matches, scored_stats

#: The reward schemes in the order the extension numbers them (native/src/rows.rs).
SCHEMES = ("outcome", "turn", "turn+outcome", "trajectory", "trajectory+outcome")
#: The advantages the extension computes itself (native/src/rows/advantages.rs), and the settings' values
#: in the order it numbers them; other advantages are :func:`adv.compute`'s.
NATIVE_ADVANTAGE = ("dual", "trajectory", "turn")
NATIVE_TURN_NORMALIZATION = ("position", "group", "trajectory", "loo")
NATIVE_STD = ("sample", "population", "none")
#: False: every advantage by numpy (:func:`adv.compute`), for the parity tests.
NATIVE_ADVANTAGES = True


def finite(x: float) -> float:
    return x if math.isfinite(x) else 0.0


def finite_list(x: np.ndarray) -> list[float]:
    """``[finite(v) for v in x]`` for a float array, in one vectorized pass."""
    return np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0).tolist()


def _scheme(
    turn_rewards: list[float], outcome: float, trajectory: float | None, cfg: ScoringConfig
) -> tuple[list[float], float, float]:
    """(turn rewards used, r^o as it enters turn returns, trajectory return R) for the reward scheme."""
    scheme = cfg.reward_scheme
    discounted = cfg.outcome_placement == "discounted"
    if scheme == "outcome":
        return [0.0] * len(turn_rewards), outcome, outcome
    if scheme == "turn":
        return turn_rewards, 0.0, math.fsum(turn_rewards)
    outcome_in_turns = outcome if discounted else 0.0
    if scheme == "turn+outcome":
        return turn_rewards, outcome_in_turns, math.fsum(turn_rewards) + outcome_in_turns
    base = trajectory if trajectory is not None else 0.0
    if scheme == "trajectory":
        return turn_rewards, 0.0, base
    return turn_rewards, outcome_in_turns, base + outcome  # trajectory+outcome


def advantage_rows(
    rows: list[RewardRow], cfg: ScoringConfig, anchors: list[list[Hashable]] | None = None
) -> tuple[list[dict[str, Any]], float]:
    """The API.md reward/advantage fields of every rollout, and the seconds the advantages took.

    ``anchors``: per rollout, each turn's anchor-state key (``advantage: gigpo``); None: the default."""
    used = [_scheme(turn_rewards, outcome, trajectory, cfg) for _, turn_rewards, outcome, trajectory in rows]
    num_turns = np.fromiter((len(u[0]) for u in used), dtype=np.int64, count=len(used))
    flat = [x for u in used for x in u[0]]
    inp = adv.AdvantageInput(
        returns=np.array([u[2] for u in used], dtype=float),
        outcome=np.array([u[1] for u in used], dtype=float),
        group=np.array([r[0] for r in rows], dtype=np.int64),
        num_turns=num_turns,
        turn_rewards=np.array(flat, dtype=float),
    )
    if cfg.advantage == "gigpo" and anchors is not None:
        inp.anchor = gigpo.anchor_ids([r[0] for r in rows], anchors)
    t0 = time.perf_counter()
    out = adv.compute(inp, cfg)
    elapsed = time.perf_counter() - t0
    trajectory_adv = finite_list(out.trajectory)
    turn_rewards_used = finite_list(inp.turn_rewards)
    turn_adv = finite_list(out.turn)
    combined = finite_list(out.combined)
    sizes = None if out.step_group_sizes is None else out.step_group_sizes.tolist()
    result = []
    pos = 0
    for i, (u, (_, _, outcome, trajectory)) in enumerate(zip(used, rows, strict=True)):
        n = len(u[0])
        row: dict[str, Any] = {
            "turn_rewards": turn_rewards_used[pos : pos + n],
            "outcome_reward": finite(outcome),
            "return": finite(u[2]),
            "trajectory_advantage": trajectory_adv[i],
            "turn_advantages": turn_adv[pos : pos + n],
            "advantages": combined[pos : pos + n],
            "num_turns": n,
        }
        if trajectory is not None:
            row["trajectory_reward"] = finite(trajectory)
        if sizes is not None:
            row["step_group_sizes"] = sizes[pos : pos + n]
        result.append(row)
        pos += n
    return result, elapsed


class NativeRows(NamedTuple):
    """What :func:`native_rows` gives: :func:`score_groups`' three values and the summaries."""

    groups: list[dict[str, Any]]
    malformed: int
    stats: RolloutColumns
    rows: list[dict[str, Any]]
    group_summaries: list[dict[str, Any]]
    summary: dict[str, Any]


def _f64(x: np.ndarray) -> bytes:
    return np.ascontiguousarray(x, dtype=np.float64).tobytes()


def native_rows(
    groups: list[GroupMeta],
    unique: list[Rollout],
    unique_scores: list[RolloutScore],
    order: list[int],
    cfg: ScoringConfig,
    anchors: list[list[Hashable]] | None,
) -> NativeRows | None:
    """:func:`advantage_rows`, :func:`score_groups` (without ``matches``) and the summaries
    (:func:`summary.add_summaries`) in the extension, from the distinct rollouts, their scores and each
    response rollout's index among them (``order``); the advantages in between are :func:`adv.compute`'s.
    ``None`` without the extension or when it hands the request back to Python (which then raises what it
    raises: an fsum overflow, say)."""
    ext = native.module()
    if ext is None:
        return None
    if isinstance(unique_scores, Scores) and len(unique_scores.columns) == len(unique):
        # the compiled scores: their columns hold what the rollouts and scores would give
        return columns_rows(groups, unique_scores.columns, order, cfg, anchors)
    counts = [
        sc.counts or call_counts(sc.assignment, len(r.golds[sc.reference].calls))
        for r, sc in zip(unique, unique_scores, strict=True)
    ]
    discounted = cfg.outcome_placement == "discounted"
    scheme = SCHEMES.index(cfg.reward_scheme)
    params = native_params(cfg)
    got = ext.rows_input(unique, unique_scores, counts, order, scheme, discounted, params is None)
    return _rows(ext, got, groups, cfg, anchors, params)


def columns_rows(
    groups: list[GroupMeta],
    columns: Any,
    order: list[int],
    cfg: ScoringConfig,
    anchors: list[list[Hashable]] | None = None,
) -> NativeRows | None:
    """:func:`native_rows` from the extension's ``ScoreColumns`` of the distinct rollouts (what the compiled
    scoring paths give), without the rollouts and score objects."""
    ext = native.module()
    if ext is None:
        return None
    discounted = cfg.outcome_placement == "discounted"
    params = native_params(cfg)
    got = ext.rows_input_columns(columns, order, SCHEMES.index(cfg.reward_scheme), discounted, params is None)
    return _rows(ext, got, groups, cfg, anchors, params)


def _rows(
    ext: Any,
    got: Any,
    groups: list[GroupMeta],
    cfg: ScoringConfig,
    anchors: list[list[Hashable]] | None,
    params: tuple[int, int, int, bool, bool, float, float] | None,
) -> NativeRows | None:
    """The advantages (the extension's with ``params``, :func:`native_params`; else :func:`adv.compute`'s)
    and the extension's rows from ``rows_input``'s output (``None``: Python's rows)."""
    if got is None:
        return None
    if params is not None:
        out_groups = group_entries(groups)
        built = ext.score_rows_native(got[0], params, [entry["rollouts"] for entry in out_groups])
        return _native_rows(out_groups, built)
    state, (returns, outcome, group, num_turns, turn_rewards) = got
    inp = adv.AdvantageInput(
        returns=np.frombuffer(returns),
        outcome=np.frombuffer(outcome),
        group=np.frombuffer(group, dtype=np.int64),
        num_turns=np.frombuffer(num_turns, dtype=np.int64),
        turn_rewards=np.frombuffer(turn_rewards),
    )
    if cfg.advantage == "gigpo" and anchors is not None:
        inp.anchor = gigpo.anchor_ids(inp.group.tolist(), anchors)
    out = adv.compute(inp, cfg)
    sizes = out.step_group_sizes
    if sizes is not None and sizes.dtype.kind not in "iu":
        return None  # the Python rows would carry floats
    out_groups = group_entries(groups)
    built = ext.score_rows(
        state,
        _f64(out.trajectory),
        _f64(out.turn),
        _f64(out.combined),
        None if sizes is None else np.ascontiguousarray(sizes, dtype=np.int64).tobytes(),
        [entry["rollouts"] for entry in out_groups],
    )
    return _native_rows(out_groups, built)


def native_params(cfg: ScoringConfig) -> tuple[int, int, int, bool, bool, float, float] | None:
    """The settings ``score_rows_native`` / ``advantages`` take, ``None`` where numpy computes them."""
    if not NATIVE_ADVANTAGES or cfg.advantage not in NATIVE_ADVANTAGE:
        return None
    return (
        NATIVE_ADVANTAGE.index(cfg.advantage),
        NATIVE_TURN_NORMALIZATION.index(cfg.turn_normalization),
        NATIVE_STD.index(cfg.std),
        cfg.singleton == "raw",
        cfg.combine == "mean",
        float(cfg.epsilon),
        float(cfg.gamma),
    )


def _native_rows(out_groups: list[dict[str, Any]], built: Any) -> NativeRows | None:
    if built is None:
        return None
    rows, malformed, group_summaries, total, floats, ints = built
    return NativeRows(out_groups, malformed, RolloutColumns(floats, ints), rows, group_summaries, total)


def group_entries(groups: list[GroupMeta]) -> list[dict[str, Any]]:
    """Each response group without its rollouts yet: ``id`` and its references."""
    out_groups: list[dict[str, Any]] = []
    for group in groups:
        entry: dict[str, Any] = {"id": group.id, "rollouts": []}
        if group.gold_key in ("gold", "gold_ref"):
            entry["gold_ref"] = group.golds[0].ref
        else:
            entry["gold_refs"] = [gold.ref for gold in group.golds]
        out_groups.append(entry)
    return out_groups


def score_groups(
    groups: list[GroupMeta],
    rollouts: list[Rollout],
    scores: list[RolloutScore],
    rows: list[dict[str, Any]],
    explain: bool,
) -> tuple[list[dict[str, Any]], int, list[RolloutStats]]:
    """The response's groups for ``/v1/score``: each rollout's advantage row (from :func:`advantage_rows`)
    with its match fields added; the request's total of malformed calls; and each rollout's statistics
    for the summaries (:mod:`summary`), read from its row and the assignment its ``matches`` show."""
    malformed_total = 0
    stats: list[RolloutStats] = []
    out_groups = group_entries(groups)
    for rollout, score, row in zip(rollouts, scores, rows, strict=True):
        malformed = rollout.parsed.malformed
        malformed_total += malformed
        row["num_calls"] = rollout.num_calls
        row["malformed_calls"] = malformed
        row["reference"] = score.reference
        if score.toolrl is not None:
            row["toolrl"] = {"format": score.toolrl[0], "correctness": score.toolrl[1]}
        if explain:
            row["matches"] = explain_matches(rollout, score)
        out_groups[rollout.group]["rollouts"].append(row)
        counts = score.counts or call_counts(score.assignment, len(rollout.golds[score.reference].calls))
        stats.append(scored_stats(row, final_answer(rollout.parsed) is not None, counts))
    return out_groups, malformed_total, stats


def explain_matches(rollout: Rollout, score: RolloutScore) -> list[dict[str, Any]]:
    """``matches`` (with ``explain``): per predicted call, its gold match, similarity and reward."""
    a = score.assignment
    if a is None:
        return []
    out = []
    gold, sim = call_matches(a)
    rew = a.rewards.tolist()
    for k, (t, c) in enumerate(rollout.where):
        out.append(
            {
                "turn": t,
                "call": c,
                "name": rollout.calls[k].name,
                "gold": gold[k],
                "similarity": sim[k],
                "reward": finite(rew[k]),
            }
        )
    return out


def _effective(cfg: ScoringConfig, step: int, penalty: float) -> dict[str, Any]:
    effective: dict[str, Any] = {"step": step, "unmatched_penalty": penalty}
    if cfg.malformed_penalty != 0.0:  # set (turnscore-v1 or an override): the value in force at the step
        effective["malformed_penalty"] = cfg.malformed_at(step)
    if cfg.reward == "toolrl":
        bounds = toolrl.bounds(cfg, step)
        effective["toolrl_bounds"] = {
            "correctness_max": bounds.correctness_max,
            "correctness_min": bounds.correctness_min,
            "format_max": bounds.format_max,
            "format_min": bounds.format_min,
        }
    return effective


def body(
    request: Request,
    penalty: float,
    groups: list[dict[str, Any]],
    warnings: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The whole response: preset, resolved config, ``effective`` settings at the step, groups, and the
    ``warnings`` (core/diagnostics.py; none for ``/v1/advantages``)."""
    return {
        "preset": request.preset,
        "config": request.config.to_dict(),
        "effective": _effective(request.config, request.step, penalty),
        "groups": groups,
        "warnings": warnings or [],
    }
