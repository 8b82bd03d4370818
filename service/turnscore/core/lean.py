"""The lean path of :func:`engine.score`: a request's raw rollouts to score columns and warnings in one call
of the extension (native/src/lean), with no ``Turn``/``Call``/``ParsedRollout``/``Rollout`` objects.

It serves hard assignment (``hungarian``, ``greedy``) and ``ot`` (the solver of ``ot_solve``, plans not
kept) without ``explain``/``matrix`` and without a stage
that reads a turn's context (:func:`parse.turn_context`), for literal-tag formats. Anything else, and any
request it cannot finish (a rollout Python must read, an error to raise, a value not keyed natively), gives
``None``: the engine then runs the per-stage path, which gives the same result or raises the proper error.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, NamedTuple

from . import diagnostics, native, response, rewards
from .config import ScoringConfig
from .errors import DeadlineExceeded, LimitExceeded, TurnScoreError
from .gold import CompiledGold
from .limits import Limits, check_deadline
from .parse import text_parser, turn_context
from .request import GroupMeta, Request, group_golds, read_group

#: whether :func:`engine.score` tries the lean path (tests and benchmarks turn it off to compare)
LEAN = True


class ReadGroup(NamedTuple):
    """A group read: its id and references, and its raw rollouts."""

    meta: GroupMeta
    rollouts: list[Any]


class LeanResult(NamedTuple):
    groups: list[GroupMeta]
    compiled: dict[str, CompiledGold]  # golds compiled from full traces in the request, by ref
    rows: response.NativeRows
    found: diagnostics.Diagnostics
    rollouts: int  # rollouts of the request
    marks: tuple[float, float]  # perf_counter() before and after the native call (parse and match)


def eligible(req: Request) -> bool:
    """Whether the lean path may serve ``req`` (it may still hand it back)."""
    cfg = req.config
    return (
        LEAN
        and rewards.FUSED
        and native.module() is not None
        and not req.explain
        and not req.matrix
        and cfg.reward != "toolrl"
        and cfg.assignment in ("hungarian", "greedy", "ot")
        and not turn_context(cfg)
    )


def _scoring(cfg: ScoringConfig, step: int) -> tuple[str, bool, bool, float, bool, float, str, bool, bool]:
    """What ``rewards._match_score_native`` passes to ``match_score_hard``, in ``score_lean``'s order."""
    return (
        cfg.value_match,
        cfg.name_case_sensitive,
        cfg.assignment == "hungarian",
        float(cfg.penalty_at(step)),
        cfg.turn_reward == "gold_share",
        float(cfg.malformed_at(step)),
        cfg.outcome,
        cfg.outcome_placement == "answer_turn",
        cfg.reward_scheme.startswith("trajectory"),
    )


OtScoring = tuple[str, float, float, int, float, bool, float | None]


def _ot(cfg: ScoringConfig, deadline: float | None) -> OtScoring | None:
    """What ``soft.solve`` passes to ``ot_solve`` (the budget: seconds to ``deadline``), ``None`` unless
    the assignment is ``ot``."""
    if cfg.assignment != "ot":
        return None
    budget = None if deadline is None else deadline - time.monotonic()
    return (
        cfg.cost,
        float(cfg.tau),
        float(cfg.reg),
        int(cfg.ot_max_iter),
        float(cfg.ot_stop_thr),
        bool(cfg.row_normalize),
        budget,
    )


def score(
    req: Request,
    limits: Limits,
    lookup: Mapping[str, CompiledGold],
    deadline: float | None,
    compiled: dict[str, CompiledGold],
    read: list[ReadGroup],
) -> LeanResult | None:
    """The request scored by the lean path, ``None`` when the per-stage path must run. Raises
    ``DeadlineExceeded`` (checked per group, between chunks of rollouts and in OT's iterations) and the
    cell budgets' ``LimitExceeded`` (``max_ot_cells`` first for ``ot``), as that path does.

    The golds it compiles go to ``compiled`` and the groups it reads to ``read`` (each group's references
    and raw rollouts, in order, up to the first it refuses; none when a ref is missing): the per-stage path
    starts from them and reads the rest, so a request handed back is not read twice."""
    ext = native.module()
    if not eligible(req) or ext is None:
        return None
    cfg = req.config
    parser = text_parser(cfg.format)
    if parser is None:
        return None
    missing: list[str] = []
    try:
        for gi, group in enumerate(req.groups):
            check_deadline(deadline)
            group_obj, raw_rollouts = read_group(group, gi, limits)
            meta = group_golds(group_obj, f"groups[{gi}]", limits, lookup, compiled, missing)
            read.append(ReadGroup(meta, raw_rollouts))
    except DeadlineExceeded:
        raise
    except TurnScoreError:
        return None  # the per-stage path raises it, or the error of a rollout before it
    if missing:
        # UnknownGoldRef, after the rollouts' own errors: the per-stage path reads every group again (a ref
        # resolves only to the golds of the groups before its own, so none of those read here is kept)
        read.clear()
        compiled.clear()
        return None
    groups = [one.meta for one in read]
    items = [(one.rollouts, one.meta.golds) for one in read]
    rl = limits.rollout()
    ot = cfg.assignment == "ot"
    max_cells = min(limits.max_match_cells, limits.max_ot_cells) if ot else limits.max_match_cells
    t_call = time.perf_counter()
    got = ext.score_lean(
        parser,
        items,
        ext,
        (rl.max_calls, rl.max_turns, rl.max_text_chars),
        _scoring(cfg, req.step),
        cfg.outcome != "none",
        max_cells,
        None if deadline is None else lambda: check_deadline(deadline),
        _ot(cfg, deadline),
    )
    t_done = time.perf_counter()
    if got is None:
        return None
    if isinstance(got, int):
        if ot and got > limits.max_ot_cells:
            raise LimitExceeded("max_ot_cells", limits.max_ot_cells, "groups", got)
        raise LimitExceeded("max_match_cells", limits.max_match_cells, "groups", got)
    columns, order, found, per_rollout = got
    rows = response.columns_rows(groups, columns, order, cfg)
    if rows is None:
        return None
    found_all = diagnostics.from_native(found, per_rollout, cfg)
    return LeanResult(groups, compiled, rows, found_all, len(order), (t_call, t_done))
