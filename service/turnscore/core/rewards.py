"""Per-rollout rewards (SCORING.md §3-4): each rollout's calls matched against each of its references,
the best reference chosen, and its call rewards averaged into per-turn rewards beside the outcome reward.

:func:`score_rollouts` runs it for every distinct rollout of a request; OT problems of the whole request
go to :mod:`sinkhorn` in one batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import assign, similarity, sinkhorn, toolrl
from .calls import Call
from .config import ScoringConfig
from .gold import CompiledGold
from .parse import ParsedRollout
from .text import outcome_score


@dataclass(slots=True)
class Rollout:
    """One distinct rollout of a request, parsed, with its group's references and its match results."""

    group: int
    parsed: ParsedRollout
    golds: list[CompiledGold]
    # predicted calls used for matching, with their (turn, call) position
    calls: list[Call] = field(default_factory=list)
    where: list[tuple[int, int]] = field(default_factory=list)
    tables: similarity.PredTables | None = None
    assignments: list[assign.Assignment | None] = field(default_factory=list)  # per reference
    toolrl: list[tuple[float, float]] = field(default_factory=list)  # (format, correctness) per reference


@dataclass(slots=True)
class RolloutScore:
    """A rollout's rewards against its chosen reference."""

    reference: int
    turn_rewards: list[float]
    outcome: float
    trajectory: float | None  # trajectory-scheme score (mean call reward), when the scheme uses it
    assignment: assign.Assignment | None
    toolrl: tuple[float, float] | None


def score_rollouts(
    rollouts: list[Rollout], cfg: ScoringConfig, penalty: float, step: int
) -> list[RolloutScore]:
    """Match every rollout against each of its references, then score it against the best one."""
    for rollout in rollouts:
        _collect_calls(rollout, cfg)
    _match(rollouts, cfg, penalty, step)
    return [_score(rollout, cfg) for rollout in rollouts]


def _collect_calls(rollout: Rollout, cfg: ScoringConfig) -> None:
    """The calls that enter matching (an answer turn's calls are never executed, except for ToolRL)."""
    matchable_answers = cfg.reward != "toolrl"
    for t, turn in enumerate(rollout.parsed.turns):
        if matchable_answers and turn.answer is not None:
            continue
        for c, call in enumerate(turn.calls):
            rollout.calls.append(call)
            rollout.where.append((t, c))
    rollout.tables = similarity.PredTables(rollout.calls, cfg.name_case_sensitive)


def _match(rollouts: list[Rollout], cfg: ScoringConfig, penalty: float, step: int) -> None:
    """Fill ``assignments`` (or ``toolrl`` scores) of every rollout against each of its references."""
    if cfg.reward == "toolrl":
        bounds = toolrl.bounds(cfg, step)
        calls_scan, answers_scan = cfg.format.scanners()
        for r in rollouts:
            blocks = sum(t.blocks for t in r.parsed.turns)
            for gold in r.golds:
                correctness = toolrl.correctness(r.calls, gold, blocks > 0, r.parsed.malformed, bounds)
                format_ok = toolrl.format_ok(r.parsed, gold, calls_scan, answers_scan, cfg.format.turn_end)
                r.toolrl.append((bounds.format_max if format_ok else bounds.format_min, correctness))
        return
    if cfg.assignment == "none":
        for r in rollouts:
            r.assignments = [None] * len(r.golds)
        return
    mode, case_sensitive = cfg.value_match, cfg.name_case_sensitive
    problems: list[np.ndarray] = []
    slots: list[tuple[Rollout, int]] = []
    for r in rollouts:
        m = len(r.calls)
        r.assignments = [None] * len(r.golds)
        assert r.tables is not None
        for k, gold in enumerate(r.golds):
            n = len(gold.calls)
            if m == 0:
                r.assignments[k] = assign.Assignment(np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0))
            elif n == 0:
                fill = 0.0 if cfg.assignment == "ot" else -penalty
                r.assignments[k] = assign.Assignment(
                    np.full(m, fill), np.full(m, -1, dtype=np.int64), np.zeros(m)
                )
            elif cfg.assignment == "ot":
                problems.append(similarity.matrix(r.tables, gold, mode, case_sensitive))
                slots.append((r, k))
            else:
                entries = similarity.entries(r.tables, gold, mode, case_sensitive)
                solve = assign.hungarian if cfg.assignment == "hungarian" else assign.greedy
                r.assignments[k] = solve(entries, m, n, penalty)
    if problems:
        plans = sinkhorn.ot_plans(problems, cfg.cost, cfg.tau, cfg.reg, cfg.ot_max_iter, cfg.ot_stop_thr)
        for (r, k), s, plan in zip(slots, problems, plans, strict=True):
            r.assignments[k] = assign.ot_assignment(s, plan, cfg.row_normalize)


def final_answer(parsed: ParsedRollout) -> str | None:
    """The answer of the last turn that has one."""
    for turn in reversed(parsed.turns):
        if turn.answer is not None:
            return turn.answer
    return None


def _choose(rollout: Rollout, cfg: ScoringConfig) -> int:
    """The reference with the largest total reward (the first on ties)."""
    if len(rollout.golds) == 1:
        return 0  # one reference: nothing to choose (the common case; skips the totals)
    if cfg.reward == "toolrl":
        totals = [fmt + correctness for fmt, correctness in rollout.toolrl]
    elif cfg.assignment == "none":
        final = final_answer(rollout.parsed)
        totals = [outcome_score(final, g.answer_tokens, g.answer, cfg.outcome) for g in rollout.golds]
    else:
        totals = [float(a.rewards.sum()) if a is not None else 0.0 for a in rollout.assignments]
    return int(np.argmax(totals))


def _score(rollout: Rollout, cfg: ScoringConfig) -> RolloutScore:
    """Per-turn rewards (the mean call reward of each turn), outcome and trajectory score."""
    k = _choose(rollout, cfg)
    gold = rollout.golds[k]
    turns = rollout.parsed.turns
    final = final_answer(rollout.parsed)
    if cfg.reward == "toolrl":
        fmt, correctness = rollout.toolrl[k]
        no_calls = 0.0 if cfg.reward_scheme.startswith("trajectory") else None
        return RolloutScore(k, [0.0] * len(turns), fmt + correctness, no_calls, None, (fmt, correctness))
    a = rollout.assignments[k] if rollout.assignments else None
    sums = [0.0] * len(turns)
    counts = [0] * len(turns)
    if a is not None:
        for (t, _c), reward in zip(rollout.where, a.rewards.tolist(), strict=True):
            sums[t] += reward
            counts[t] += 1
    turn_rewards = [s / n if n else 0.0 for s, n in zip(sums, counts, strict=True)]
    if cfg.outcome_placement == "answer_turn":
        for t, turn in enumerate(turns):
            if turn.answer is not None:
                turn_rewards[t] = outcome_score(turn.answer, gold.answer_tokens, gold.answer, cfg.outcome)
    outcome = outcome_score(final, gold.answer_tokens, gold.answer, cfg.outcome)
    trajectory = None
    if cfg.reward_scheme.startswith("trajectory"):
        trajectory = float(a.rewards.mean()) if a is not None and a.rewards.size else 0.0
    return RolloutScore(k, turn_rewards, outcome, trajectory, a, None)
