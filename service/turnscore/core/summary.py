"""Tool-use statistics of scored rollouts: the ``summary`` of each group and of a whole response (API.md).

Each response rollout (duplicates included) gives one :class:`RolloutStats`, read from what its response
row carries (``num_calls``, ``malformed_calls``, ``num_turns``, ``outcome_reward``, ``return``,
``advantages``) and from the assignment its ``matches`` are written from (:func:`call_matches`), so the
summary and ``explain`` cannot disagree. :func:`summarize` adds them up; every ratio is 0 when its
denominator is 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .assign import Assignment

#: The fields of a ``/v1/advantages`` summary (no parse, no matching: rewards and advantages only).
ADVANTAGE_FIELDS = (
    "rollouts",
    "turns_mean",
    "outcome_mean",
    "return_mean",
    "return_std",
    "advantage_abs_mean",
)
#: The fields of a ``/v1/score`` summary, in wire order.
SCORE_FIELDS = (
    "rollouts",
    "turns_mean",
    "calls",
    "malformed_calls",
    "gold_calls",
    "matched_calls",
    "exact_calls",
    "redundant_calls",
    "covered_gold",
    "missed_gold",
    "call_precision",
    "call_recall",
    "call_f1",
    "redundant_ratio",
    "answer_rate",
    "outcome_mean",
    "return_mean",
    "return_std",
    "advantage_abs_mean",
)


@dataclass(frozen=True, slots=True)
class CallCounts:
    """What one rollout's calls matched against its chosen reference."""

    gold_calls: int  # calls of the chosen reference
    matched: int  # predicted calls assigned to a gold call with similarity > 0
    exact: int  # of those, similarity 1
    covered: int  # distinct gold calls some matched call is assigned to


@dataclass(frozen=True, slots=True)
class RolloutStats:
    """One response rollout, as the summary counts it (``calls``: ``None`` for ``/v1/advantages`` rows)."""

    turns: int
    outcome: float
    ret: float
    advantage_abs_sum: float
    advantage_count: int
    calls: int | None = None
    malformed: int = 0
    answered: bool = False
    counts: CallCounts | None = None

    @property
    def precision(self) -> float:
        """matched / calls of this rollout (0 without calls)."""
        if not self.calls or self.counts is None:
            return 0.0
        return self.counts.matched / self.calls


def call_matches(a: Assignment | None) -> tuple[list[int | None], list[float]]:
    """Per predicted call, the gold call it is assigned to (``None``: none) and the similarity of that pair:
    what ``explain`` reports as ``matches[k].gold`` / ``.similarity``. For OT the gold call is the argmax of
    the plan's row (:func:`~turnscore.core.assign.ot_assignment`)."""
    if a is None:
        return [], []
    gold = [j if j >= 0 else None for j in a.gold.tolist()]
    sim = [v if math.isfinite(v) else 0.0 for v in a.similarity.tolist()]
    return gold, sim


def call_counts(a: Assignment | None, gold_calls: int) -> CallCounts:
    """Matched, exact and covered calls from the assignment (none without one: ToolRL, ``assignment:
    none``)."""
    gold, sim = call_matches(a)
    matched = [(j, s) for j, s in zip(gold, sim, strict=True) if j is not None and s > 0.0]
    exact = sum(1 for _, s in matched if s >= 1.0)
    return CallCounts(gold_calls, len(matched), exact, len({j for j, _ in matched}))


def row_stats(row: Mapping[str, Any]) -> RolloutStats:
    """The return/advantage part of a response row (all ``/v1/advantages`` has)."""
    adv = row["advantages"]
    return RolloutStats(
        turns=int(row["num_turns"]),
        outcome=float(row["outcome_reward"]),
        ret=float(row["return"]),
        advantage_abs_sum=math.fsum(abs(x) for x in adv),
        advantage_count=len(adv),
    )


def scored_stats(row: Mapping[str, Any], answered: bool, counts: CallCounts) -> RolloutStats:
    """A ``/v1/score`` response row with what it matched and whether the rollout gave a final answer."""
    base = row_stats(row)
    return RolloutStats(
        turns=base.turns,
        outcome=base.outcome,
        ret=base.ret,
        advantage_abs_sum=base.advantage_abs_sum,
        advantage_count=base.advantage_count,
        calls=int(row["num_calls"]),
        malformed=int(row["malformed_calls"]),
        answered=answered,
        counts=counts,
    )


def _ratio(num: float, den: float) -> float:
    return num / den if den else 0.0


def summarize(stats: Iterable[RolloutStats], calls: bool = True) -> dict[str, Any]:
    """The summary of some rollouts: counts are sums, means over rollouts (``advantage_abs_mean``: over
    every turn's combined advantage), ``return_std`` the population std; ``calls=False``: the
    ``/v1/advantages`` fields only."""
    items = list(stats)
    n = len(items)
    returns = np.array([s.ret for s in items], dtype=float)
    out: dict[str, Any] = {
        "rollouts": n,
        "turns_mean": _ratio(sum(s.turns for s in items), n),
    }
    if calls:
        counts = [s.counts for s in items if s.counts is not None]
        num_calls = sum(s.calls or 0 for s in items)
        gold_calls = sum(c.gold_calls for c in counts)
        matched = sum(c.matched for c in counts)
        covered = sum(c.covered for c in counts)
        precision = _ratio(matched, num_calls)
        recall = _ratio(covered, gold_calls)
        out.update(
            calls=num_calls,
            malformed_calls=sum(s.malformed for s in items),
            gold_calls=gold_calls,
            matched_calls=matched,
            exact_calls=sum(c.exact for c in counts),
            redundant_calls=num_calls - matched,
            covered_gold=covered,
            missed_gold=gold_calls - covered,
            call_precision=precision,
            call_recall=recall,
            call_f1=_ratio(2 * precision * recall, precision + recall),
            redundant_ratio=_ratio(num_calls - matched, num_calls),
            answer_rate=_ratio(sum(1 for s in items if s.answered), n),
        )
    out["outcome_mean"] = _ratio(math.fsum(s.outcome for s in items), n)
    out["return_mean"] = float(returns.mean()) if n else 0.0
    out["return_std"] = float(returns.std()) if n else 0.0
    out["advantage_abs_mean"] = _ratio(
        math.fsum(s.advantage_abs_sum for s in items), sum(s.advantage_count for s in items)
    )
    return {k: v if not isinstance(v, float) or math.isfinite(v) else 0.0 for k, v in out.items()}


def add_summaries(
    body: dict[str, Any], group_of: list[int], stats: list[RolloutStats], calls: bool = True
) -> None:
    """``summary`` of each group of ``body`` (from the stats of its rollouts: ``group_of[i]`` is the group
    of ``stats[i]``) and of the whole request."""
    per_group: list[list[RolloutStats]] = [[] for _ in body["groups"]]
    for g, s in zip(group_of, stats, strict=True):
        per_group[g].append(s)
    for group, items in zip(body["groups"], per_group, strict=True):
        group["summary"] = summarize(items, calls)
    body["summary"] = summarize(stats, calls)
