"""Per-rollout rewards (SCORING.md §3-4): each rollout's calls matched against each of its references,
the best reference chosen, and its call rewards averaged into per-turn rewards beside the outcome reward.

:func:`score_rollouts` runs it for every distinct rollout of a request; OT problems of the whole request
go to :mod:`soft` in one batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

from . import assign, native, similarity, soft, toolrl
from .calls import Call
from .config import ScoringConfig
from .errors import LimitExceeded
from .gold import CompiledGold
from .limits import DEFAULT_LIMITS, Limits, check_deadline
from .summary import CallCounts
from .text import outcome_score
from .turns import ParsedRollout


@dataclass(slots=True)
class Rollout:
    """One distinct rollout of a request, parsed, with its group's references and its match results."""

    group: int
    parsed: ParsedRollout
    golds: list[CompiledGold]
    # predicted calls used for matching, with their (turn, call) position
    calls: list[Call] = field(default_factory=list)
    where: list[tuple[int, int]] = field(default_factory=list)
    num_calls: int = 0  # len(calls), also when the compiled path left ``calls`` unbuilt
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
    counts: CallCounts | None = None  # what the assignment matched (the compiled path fills it here)


class Scores(list[RolloutScore]):
    """The scores the compiled path built (``RolloutScore`` objects, in order), with ``columns``: the same
    values held by the extension (``ScoreColumns``), which :func:`response.native_rows` reads instead of
    the objects. Nothing changes the objects' reference, rewards, outcome, trajectory or counts after."""

    __slots__ = ("columns",)

    def __init__(self, scores: list[RolloutScore], columns: Any) -> None:
        super().__init__(scores)
        self.columns = columns


@cache  # per extension module: checked once
def _score_types(ext: Any) -> tuple[type, type] | None:
    """``(RolloutScore, CallCounts)`` when the extension's field lists are theirs (score/columns.rs writes
    the fields by name), else ``None`` (Python builds them: the per-stage path)."""
    ok = native.same_fields(RolloutScore, getattr(ext, "SCORE_FIELDS", None)) and native.same_fields(
        CallCounts, getattr(ext, "COUNTS_FIELDS", None)
    )
    return (RolloutScore, CallCounts) if ok else None


def score_rollouts(
    rollouts: list[Rollout],
    cfg: ScoringConfig,
    penalty: float,
    step: int,
    limits: Limits | None = None,
    deadline: float | None = None,
    assignments: bool = True,
) -> list[RolloutScore]:
    """Match every rollout against each of its references, then score it against the best one.

    The similarity budgets of ``limits`` are checked before any matching starts; ``deadline`` (a
    ``time.monotonic()`` value) between rollouts and problems. ``assignments=False``: the scores need not
    carry their :class:`~turnscore.core.assign.Assignment` (no ``explain``) when the compiled path gives
    their call counts, so it builds none."""
    limits = limits or DEFAULT_LIMITS
    fused = _match_score_native(rollouts, cfg, penalty, step, limits, deadline, assignments)
    if fused is not None:
        return fused
    for rollout in rollouts:
        _collect_calls(rollout, cfg)
    check_budget(rollouts, cfg, limits)
    solved = _match(rollouts, cfg, penalty, step, deadline, assignments)
    malformed = cfg.malformed_at(step)
    if solved is not None:
        scores = _score_native(solved, rollouts, cfg, malformed)
        if scores is None or assignments:
            _fill_assignments(solved, rollouts)
        if scores is not None:
            if assignments:
                for r, sc in zip(rollouts, scores, strict=True):
                    sc.assignment = r.assignments[sc.reference]
            return scores
    elif cfg.reward != "toolrl" and cfg.assignment != "none" and native.module() is not None:
        # OT (or pairs the extension could not key): the assignments exist, in the same layout
        scores = _score_native(_assignment_buffer(rollouts), rollouts, cfg, malformed)
        if scores is not None:
            for r, sc in zip(rollouts, scores, strict=True):
                sc.assignment = r.assignments[sc.reference]
            return scores
    return [_score(rollout, cfg, malformed) for rollout in rollouts]


def _assignment_buffer(rollouts: list[Rollout]) -> bytes:
    """Every (rollout, reference) assignment as ``assign_many`` lays them out: all rewards, then all gold
    indices (int64), then all similarities."""
    pairs = [a for r in rollouts for a in r.assignments if a is not None]
    if not pairs:
        return b""
    return b"".join(
        np.concatenate([getattr(a, field) for a in pairs]).astype(dtype, copy=False).tobytes()
        for field, dtype in (("rewards", np.float64), ("gold", np.int64), ("similarity", np.float64))
    )


def _fill_assignments(buf: bytes, rollouts: list[Rollout]) -> None:
    """Every rollout's assignments from ``assign_many``'s output for every (rollout, reference) pair."""
    sizes = [len(r.calls) for r in rollouts for _ in r.golds]
    got = iter(assign.from_native_many(buf, sizes))
    for r in rollouts:
        r.assignments = [next(got) for _ in r.golds]


def check_budget(rollouts: list[Rollout], cfg: ScoringConfig, limits: Limits) -> None:
    """The work of matching, in similarity cells (m predicted x n gold calls summed over every distinct
    rollout and reference), within ``max_match_cells`` (and ``max_ot_cells`` for ``ot``)."""
    if cfg.reward != "toolrl" and cfg.assignment == "none":
        return
    cells = 0
    for r in rollouts:
        m = len(r.calls)
        if m:
            cells += m * sum(len(g.calls) for g in r.golds)
    if cfg.reward != "toolrl" and cfg.assignment == "ot" and cells > limits.max_ot_cells:
        raise LimitExceeded("max_ot_cells", limits.max_ot_cells, "groups", cells)
    if cells > limits.max_match_cells:
        raise LimitExceeded("max_match_cells", limits.max_match_cells, "groups", cells)


def _collect_calls(rollout: Rollout, cfg: ScoringConfig) -> None:
    """The calls that enter matching (an answer turn's calls are never executed, except for ToolRL)."""
    matchable_answers = cfg.reward != "toolrl"
    ext = native.module()
    turns = rollout.parsed.turns
    if ext is not None and type(turns) is list:
        rollout.calls, rollout.where = ext.collect_calls(turns, matchable_answers)
    else:
        rollout.calls, rollout.where = [], []
        for t, turn in enumerate(turns):
            if matchable_answers and turn.answer is not None:
                continue
            for c, call in enumerate(turn.calls):
                rollout.calls.append(call)
                rollout.where.append((t, c))
    rollout.num_calls = len(rollout.calls)
    rollout.tables = similarity.PredTables(rollout.calls, cfg.name_case_sensitive)


#: whether :func:`score_rollouts` tries the compiled one-call path (tests and benchmarks turn it off to
#: compare with the per-stage path), and whether OT without ``explain`` hands ``ot_solve``'s buffer to
#: ``score_hard`` (``ot_layout``) instead of :class:`~turnscore.core.assign.Assignment` views
FUSED = True
LAYOUT = True


def _match_score_native(
    rollouts: list[Rollout],
    cfg: ScoringConfig,
    penalty: float,
    step: int,
    limits: Limits,
    deadline: float | None,
    assignments: bool,
) -> Scores | None:
    """Hard assignment of the whole request in one call of the extension (``match_score_hard``: calls,
    value keys, similarity, assignment and :func:`_score`'s rows, with :func:`check_budget`'s budget);
    ``None`` when it does not apply or hands the request back (the per-stage path then runs).

    ``calls``/``where``/``tables``/``assignments`` are built only when ``assignments`` (``explain``);
    ``num_calls`` always (by the extension). The scores come as :class:`Scores`."""
    ext = native.module()
    if not FUSED or ext is None or cfg.reward == "toolrl" or cfg.assignment not in ("hungarian", "greedy"):
        return None
    types = _score_types(ext)
    if types is None:
        return None
    got = ext.match_score_hard(
        rollouts,
        ext,
        types,
        cfg.value_match,
        cfg.name_case_sensitive,
        cfg.assignment == "hungarian",
        float(penalty),
        cfg.turn_reward == "gold_share",
        float(cfg.malformed_at(step)),
        cfg.outcome,
        cfg.outcome_placement == "answer_turn",
        cfg.reward_scheme.startswith("trajectory"),
        limits.max_match_cells,
        None if deadline is None else lambda: check_deadline(deadline),
        assignments,
    )
    if got is None:
        return None
    if isinstance(got, int):
        raise LimitExceeded("max_match_cells", limits.max_match_cells, "groups", got)
    scores, columns, buf = got
    out = Scores(scores, columns)
    if assignments:
        for r in rollouts:
            _collect_calls(r, cfg)
        _fill_assignments(buf, rollouts)
        for r, sc in zip(rollouts, out, strict=True):
            sc.assignment = r.assignments[sc.reference]
    return out


def _match(
    rollouts: list[Rollout],
    cfg: ScoringConfig,
    penalty: float,
    step: int,
    deadline: float | None,
    want_assignments: bool = True,
) -> bytes | None:
    """Fill ``assignments`` (or ``toolrl`` scores) of every rollout against each of its references.

    Returns the extension's ``assign_many`` output when it solved every (rollout, reference) pair, in
    order (what :func:`_score_native` reads; ``assignments`` are then left to :func:`_fill_assignments`),
    else ``None``. For ``ot`` without ``want_assignments`` (no ``explain``): ``ot_solve``'s output laid out
    the same way (``ot_layout``), when it solved every problem."""
    if cfg.reward == "toolrl":
        bounds = toolrl.bounds(cfg, step)
        calls_scan, answers_scan = cfg.format.scanners()
        for r in rollouts:
            check_deadline(deadline)
            blocks = sum(t.blocks for t in r.parsed.turns)
            for gold in r.golds:
                correctness = toolrl.correctness(r.calls, gold, blocks > 0, r.parsed.malformed, bounds)
                format_ok = toolrl.format_ok(r.parsed, gold, calls_scan, answers_scan, cfg.format.turn_end)
                r.toolrl.append((bounds.format_max if format_ok else bounds.format_min, correctness))
        return None
    if cfg.assignment == "none":
        for r in rollouts:
            r.assignments = [None] * len(r.golds)
        return None
    mode, case_sensitive = cfg.value_match, cfg.name_case_sensitive
    ext = native.module()
    hungarian = cfg.assignment == "hungarian"
    problems: list[np.ndarray] = []
    slots: list[tuple[Rollout, int]] = []
    hard: list[tuple[Any, Any]] = []  # the extension's (predicted, gold) tables, solved in one call below
    hard_slots: list[tuple[Rollout, int]] = []
    ot_rows: list[int] = []  # ot: each pair's rows, as ``ot_layout`` reads them
    for r in rollouts:
        check_deadline(deadline)
        m = len(r.calls)
        r.assignments = [None] * len(r.golds)
        assert r.tables is not None
        for k, gold in enumerate(r.golds):
            n = len(gold.calls)
            if (
                cfg.assignment != "ot"
                and ext is not None
                and (pair := similarity.native_pair(ext, r.tables, gold, mode, case_sensitive))
            ):
                hard.append(pair)  # also m == 0 or n == 0: the same arrays as below
                hard_slots.append((r, k))
            elif m == 0:
                r.assignments[k] = assign.Assignment(np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0))
                ot_rows.append(0)
            elif n == 0:
                fill = 0.0 if cfg.assignment == "ot" else -penalty
                r.assignments[k] = assign.Assignment(
                    np.full(m, fill), np.full(m, -1, dtype=np.int64), np.zeros(m)
                )
                ot_rows.append(-m)
            elif cfg.assignment == "ot":
                problems.append(similarity.matrix(r.tables, gold, mode, case_sensitive))
                slots.append((r, k))
                ot_rows.append(m)
            else:
                entries = similarity.entries(r.tables, gold, mode, case_sensitive)
                solve = assign.hungarian if hungarian else assign.greedy
                r.assignments[k] = solve(entries, m, n, penalty)
    buf = None
    every_pair = len(hard_slots) == sum(len(r.golds) for r in rollouts)
    if hard:
        assert ext is not None
        buf = ext.assign_many(hard, hungarian, float(penalty))
        if every_pair:
            return buf
        sizes = [len(r.calls) for r, _ in hard_slots]
        for (r, k), a in zip(hard_slots, assign.from_native_many(buf, sizes), strict=True):
            r.assignments[k] = a
    if problems:
        ot = (cfg.cost, cfg.tau, cfg.reg, cfg.ot_max_iter, cfg.ot_stop_thr, cfg.row_normalize)
        raw = soft.solve(problems, *ot, deadline=deadline)
        if raw is not None and not raw[1] and not want_assignments and ext is not None and LAYOUT:
            laid = ext.ot_layout(raw[0], sum(s.size for s in problems), ot_rows)
            if laid is not None:
                return laid
        solved = soft.assignments(raw, problems, *ot, deadline=deadline)
        for (r, k), a in zip(slots, solved, strict=True):
            r.assignments[k] = a
    return None


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


def turn_call_rewards(
    sums: list[float],
    counts: list[int],
    malformed: list[int],
    cfg: ScoringConfig,
    malformed_penalty: float,
    n_gold: int,
) -> list[float]:
    """Per-turn rewards from each turn's sum and count of call rewards and its malformed calls (§4).

    ``mean``: the turn's mean call reward; ``gold_share``: the turn's sum over max(n_gold, 1), so the
    return does not depend on how calls are split into turns. Each malformed call counts as a call of
    reward ``-malformed_penalty`` (with 0 the mean stays over well-formed calls, as in the papers).
    """
    if malformed_penalty:
        sums = [s - malformed_penalty * k for s, k in zip(sums, malformed, strict=True)]
        counts = [c + k for c, k in zip(counts, malformed, strict=True)]
    if cfg.turn_reward == "gold_share":
        share = 1.0 / max(n_gold, 1)
        return [s * share for s in sums]
    return [s / n if n else 0.0 for s, n in zip(sums, counts, strict=True)]


def _score(rollout: Rollout, cfg: ScoringConfig, malformed_penalty: float) -> RolloutScore:
    """Per-turn rewards (§4: mean or gold share of each turn's call rewards), outcome, trajectory score."""
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
    # malformed calls of answer turns are ignored, as that turn's well-formed calls are (never executed)
    malformed = [0 if t.answer is not None else t.malformed for t in turns]
    turn_rewards = turn_call_rewards(
        sums, counts, malformed, cfg, malformed_penalty if a is not None else 0.0, len(gold.calls)
    )
    if cfg.outcome_placement == "answer_turn":
        for t, turn in enumerate(turns):
            if turn.answer is not None:
                turn_rewards[t] = outcome_score(turn.answer, gold.answer_tokens, gold.answer, cfg.outcome)
    outcome = outcome_score(final, gold.answer_tokens, gold.answer, cfg.outcome)
    trajectory = None
    if cfg.reward_scheme.startswith("trajectory"):
        trajectory = float(a.rewards.mean()) if a is not None and a.rewards.size else 0.0
    return RolloutScore(k, turn_rewards, outcome, trajectory, a, None)


def _score_native(
    buf: bytes, rollouts: list[Rollout], cfg: ScoringConfig, malformed_penalty: float
) -> Scores | None:
    """:func:`_score` of every rollout in one call of the extension (hard assignment, every pair solved
    there: ``buf``); ``None`` when it hands the request back to Python."""
    ext = native.module()
    types = None if ext is None else _score_types(ext)
    if ext is None or types is None:
        return None
    got = ext.score_hard(
        buf,
        [(r.parsed.turns, r.golds, len(r.calls), r.group) for r in rollouts],
        types,
        cfg.turn_reward == "gold_share",
        float(malformed_penalty),
        cfg.outcome,
        cfg.outcome_placement == "answer_turn",
        cfg.reward_scheme.startswith("trajectory"),
    )
    if got is None:
        return None
    return Scores(*got)
