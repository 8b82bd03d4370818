"""Tool-use statistics of scored rollouts: the ``summary`` of each group and of a whole response (API.md).

Each response rollout (duplicates included) gives one :class:`RolloutStats`, read from what its response
row carries (``num_calls``, ``malformed_calls``, ``num_turns``, ``outcome_reward``, ``return``,
``advantages``) and from the assignment its ``matches`` are written from (:func:`call_matches`), so the
summary and ``explain`` cannot disagree. :func:`summarize` adds them up; every ratio is 0 when its
denominator is 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, overload

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


@dataclass(slots=True)
class CallCounts:
    """What one rollout's calls matched against its chosen reference."""

    gold_calls: int  # calls of the chosen reference
    matched: int  # predicted calls assigned to a gold call with similarity > 0
    exact: int  # of those, similarity 1
    covered: int  # distinct gold calls some matched call is assigned to


@dataclass(slots=True)
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


class RolloutColumns(Sequence[RolloutStats]):
    """The :class:`RolloutStats` of a request's rollouts as columns (what the compiled path gives: no object
    per rollout; an item is built when asked for). ``floats``: float64 outcome, return, advantage_abs_sum;
    ``ints``: int64 turns, advantage count, calls, malformed, answered, gold calls, matched, exact, covered;
    each a column of one value per rollout, in request order."""

    __slots__ = ("floats", "ints")

    def __init__(self, floats: bytes | bytearray, ints: bytes | bytearray) -> None:
        self.floats = np.frombuffer(floats, dtype=np.float64).reshape(3, -1)
        self.ints = np.frombuffer(ints, dtype=np.int64).reshape(9, -1)

    def __len__(self) -> int:
        return int(self.floats.shape[1])

    @overload
    def __getitem__(self, i: int) -> RolloutStats: ...
    @overload
    def __getitem__(self, i: slice) -> list[RolloutStats]: ...
    def __getitem__(self, i: int | slice) -> RolloutStats | list[RolloutStats]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        outcome, ret, abs_sum = self.floats[:, i].tolist()
        turns, count, calls, malformed, answered, gold, matched, exact, covered = self.ints[:, i].tolist()
        counts = CallCounts(gold, matched, exact, covered)
        return RolloutStats(turns, outcome, ret, abs_sum, count, calls, malformed, bool(answered), counts)

    def __iter__(self) -> Iterator[RolloutStats]:
        return (self[i] for i in range(len(self)))

    def metric_inputs(self) -> tuple[list[float], list[float], list[int]]:
        """What metrics.observe_rewards records: every return, the precision of each rollout with calls,
        and the totals of calls, matched, exact, malformed, gold and covered calls."""
        calls, malformed, gold, matched, exact, covered = self.ints[[2, 3, 5, 6, 7, 8]]
        some = calls > 0
        precision = matched[some] / calls[some]  # int / int as Python divides them: two doubles
        totals = [int(c.sum()) for c in (calls, matched, exact, malformed, gold, covered)]
        return self.floats[1].tolist(), precision.tolist(), totals


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
    none``): the pairs :func:`call_matches` gives, read straight from its arrays."""
    if a is None:
        return CallCounts(gold_calls, 0, 0, 0)
    matched = exact = 0
    covered: set[int] = set()
    for j, s in zip(a.gold.tolist(), a.similarity.tolist(), strict=True):
        if j >= 0 and s > 0.0:  # NaN is no match
            matched += 1
            covered.add(j)
            if s >= 1.0:
                exact += 1
    return CallCounts(gold_calls, matched, exact, len(covered))


def _abs_sum(values: list[float]) -> float:
    return math.fsum(map(abs, values))


def row_stats(row: Mapping[str, Any]) -> RolloutStats:
    """The return/advantage part of a response row (all ``/v1/advantages`` has)."""
    adv = row["advantages"]
    return RolloutStats(row["num_turns"], row["outcome_reward"], row["return"], _abs_sum(adv), len(adv))


def scored_stats(row: Mapping[str, Any], answered: bool, counts: CallCounts) -> RolloutStats:
    """A ``/v1/score`` response row with what it matched and whether the rollout gave a final answer."""
    adv = row["advantages"]
    return RolloutStats(
        row["num_turns"],
        row["outcome_reward"],
        row["return"],
        _abs_sum(adv),
        len(adv),
        row["num_calls"],
        row["malformed_calls"],
        answered,
        counts,
    )


def _ratio(num: float, den: float) -> float:
    return num / den if den else 0.0


def summarize(stats: Iterable[RolloutStats], calls: bool = True) -> dict[str, Any]:
    """The summary of some rollouts: counts are sums, means over rollouts (``advantage_abs_mean``: over
    every turn's combined advantage), ``return_std`` the population std; ``calls=False``: the
    ``/v1/advantages`` fields only."""
    items = list(stats)
    n = len(items)
    returns = [s.ret for s in items]
    out: dict[str, Any] = {"rollouts": n, "turns_mean": _ratio(sum(s.turns for s in items), n)}
    if calls:
        num_calls = malformed = gold_calls = matched = exact = covered = answered = 0
        for s in items:
            num_calls += s.calls or 0
            malformed += s.malformed
            answered += s.answered
            c = s.counts
            if c is not None:
                gold_calls += c.gold_calls
                matched += c.matched
                exact += c.exact
                covered += c.covered
        precision = _ratio(matched, num_calls)
        recall = _ratio(covered, gold_calls)
        out.update(
            calls=num_calls,
            malformed_calls=malformed,
            gold_calls=gold_calls,
            matched_calls=matched,
            exact_calls=exact,
            redundant_calls=num_calls - matched,
            covered_gold=covered,
            missed_gold=gold_calls - covered,
            call_precision=precision,
            call_recall=recall,
            call_f1=_ratio(2 * precision * recall, precision + recall),
            redundant_ratio=_ratio(num_calls - matched, num_calls),
            answer_rate=_ratio(answered, n),
        )
    mean = _ratio(math.fsum(returns), n)
    out["outcome_mean"] = _ratio(math.fsum(s.outcome for s in items), n)
    out["return_mean"] = mean
    out["return_std"] = math.sqrt(_ratio(math.fsum((x - mean) ** 2 for x in returns), n))
    out["advantage_abs_mean"] = _ratio(
        math.fsum(s.advantage_abs_sum for s in items), sum(s.advantage_count for s in items)
    )
    for key in ("outcome_mean", "return_mean", "return_std", "advantage_abs_mean"):
        if not math.isfinite(out[key]):
            out[key] = 0.0
    return out


def attach(body: dict[str, Any], group_summaries: list[dict[str, Any]], total: dict[str, Any]) -> None:
    """The summaries :func:`add_summaries` would add, already computed (the compiled path)."""
    for group, one in zip(body["groups"], group_summaries, strict=True):
        group["summary"] = one
    body["summary"] = total


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
