"""The one entry point of the scoring core: ``score``, ``advantages``, ``gold_refs_in``, ``presets``.

Every transport (HTTP, gRPC, CLI, local client mode, trainer plugins) calls these functions with the
decoded API.md request and returns ``ScoreResult.body``. This module only orchestrates the pipeline:
:mod:`request` (top-level fields, groups, golds) -> :mod:`parse` (rollouts) -> :mod:`rewards` (similarity,
assignment, per-turn rewards) -> :mod:`response` (advantages, body).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, NamedTuple

from . import diagnostics, gigpo, keys, lean, matrix, native, response, summary
from .config import FormatConfig, ScoringConfig, presets_dict
from .errors import UnknownGoldRef
from .gold import CompiledGold
from .limits import DEFAULT_LIMITS, Limits, RolloutLimits, check_deadline
from .parse import native_group, parse_rollout, turn_context
from .request import (
    GroupMeta,
    Request,
    dedupe_key,
    group_golds,
    read_group,
    read_request,
    ref_list,
    reward_rows,
)
from .rewards import Rollout, RolloutScore, score_rollouts
from .turns import ParsedRollout

__all__ = [
    "DEFAULT_LIMITS",
    "Limits",
    "ScoreResult",
    "ScoreStats",
    "advantages",
    "gold_refs_in",
    "presets",
    "score",
]


@dataclass(slots=True)
class ScoreStats:
    groups: int = 0
    rollouts: int = 0
    malformed_calls: int = 0
    stage_seconds: dict[str, float] = field(default_factory=dict)  # parse, match, advantage
    warnings: dict[str, int] = field(default_factory=dict)  # occurrences per warning code
    rollout_warnings: list[int] = field(default_factory=list)  # occurrences per rollout, request order
    preset: str | None = None  # the preset's name; None when config overrides it (or /v1/advantages)
    # per response rollout (score; the compiled path gives summary.RolloutColumns)
    rollout_stats: Sequence[summary.RolloutStats] = field(default_factory=list)


class ScoreResult(NamedTuple):
    body: dict[str, Any]  # the API.md response
    golds: dict[str, CompiledGold]  # compiled from full traces in the request, by ref (for the cache)
    stats: ScoreStats


def gold_refs_in(request: Any, limits: Limits | None = None) -> list[str]:
    """The ``gold_ref`` values of groups that send only refs (deduplicated, in first-seen order)."""
    limits = limits or DEFAULT_LIMITS
    if not isinstance(request, Mapping) or not isinstance(request.get("groups"), list):
        return []
    seen: dict[str, None] = {}
    for gi, group in enumerate(request["groups"]):
        if not isinstance(group, dict):
            continue
        for key in ("gold_ref", "gold_refs"):
            if group.get(key) is not None:
                for ref in ref_list(group, key, f"groups[{gi}]", limits):
                    seen.setdefault(ref, None)
    return list(seen)


@cache  # per extension module: checked once
def _native_rollouts(m: Any) -> bool:
    """Whether ``rewards.Rollout`` has the fields, in order, and the defaults that the extension's
    ``group_rollouts`` builds (native/src/rollouts.rs); else Python builds each one."""
    r = Rollout(0, ParsedRollout([], "turns"), [])
    return (
        native.same_fields(Rollout, getattr(m, "ROLLOUT_FIELDS", None))
        and (r.calls, r.where, r.num_calls, r.tables) == ([], [], 0, None)
        and (r.assignments, r.toolrl) == ([], [])
    )


def _parse_groups(
    request: Request,
    limits: Limits,
    lookup: Mapping[str, CompiledGold],
    compiled: dict[str, CompiledGold],
    deadline: float | None = None,
    read: Sequence[lean.ReadGroup] = (),
) -> tuple[list[GroupMeta], list[Rollout], list[int]]:
    """Every group's references and every distinct rollout parsed (identical rollouts of a group are
    parsed once), with, per rollout of the request, its index among the distinct ones. ``read``: the first
    groups already read (their golds in ``compiled``), by the lean path."""
    missing: list[str] = []
    rollout_limits = limits.rollout()
    fmt = request.config.format
    context = turn_context(request.config)
    groups: list[GroupMeta] = []
    unique: list[Rollout] = []
    order: list[int] = []
    for gi, group in enumerate(request.groups):
        check_deadline(deadline)
        if gi < len(read):
            meta, raw_rollouts = read[gi]
        else:
            group_obj, raw_rollouts = read_group(group, gi, limits)
            meta = group_golds(group_obj, f"groups[{gi}]", limits, lookup, compiled, missing)
        groups.append(meta)
        _read_rollouts(raw_rollouts, gi, meta.golds, fmt, rollout_limits, unique, order, context)
    if missing:
        raise UnknownGoldRef(missing)
    return groups, unique, order


def _read_rollouts(
    raw_rollouts: list[Any],
    gi: int,
    golds: list[CompiledGold],
    fmt: FormatConfig,
    limits: RolloutLimits,
    unique: list[Rollout],
    order: list[int],
    context: bool = True,
) -> None:
    """Group ``gi``'s rollouts: each distinct one parsed into ``unique``, each one's index into ``order``
    (``context``: whether scoring reads each turn's text and observation, parse.turn_context)."""
    path = f"groups[{gi}].rollouts"
    got = native_group(raw_rollouts, fmt, limits, len(unique), context)
    if got is not None:  # the native core read the group (identical rollouts once)
        parsed, positions, first = got
        done: list[ParsedRollout] = [
            one if one is not None else parse_rollout(raw_rollouts[ri], fmt, limits, f"{path}[{ri}]")
            for one, ri in zip(parsed, first, strict=True)
        ]  # None: a rollout it leaves to Python (which raises its error, if any)
        m = native.module()
        if m is not None and _native_rollouts(m):
            unique.extend(m.group_rollouts(Rollout, gi, done, golds))
        else:
            unique.extend([Rollout(gi, one, golds) for one in done])
        order.extend(positions)
        return
    seen: dict[str | bytes, int] = {}
    for ri, raw in enumerate(raw_rollouts):
        key = dedupe_key(raw)
        index = seen.get(key) if key is not None else None
        if index is None:
            index = len(unique)
            unique.append(Rollout(gi, parse_rollout(raw, fmt, limits, f"{path}[{ri}]"), golds))
            if key is not None:
                seen[key] = index
        order.append(index)


def score(
    request: Any,
    *,
    golds: Mapping[str, CompiledGold] | None = None,
    limits: Limits | None = None,
    deadline: float | None = None,
) -> ScoreResult:
    """Score a ``POST /v1/score`` request (API.md) and return the response body.

    ``deadline``: a ``time.monotonic()`` value; past it the work stops (checked between groups, rollouts
    and problems) with :class:`~turnscore.core.errors.DeadlineExceeded`. The requests :mod:`lean` serves
    go through one native call; the others (and those it hands back) through the stages below."""
    limits = limits or DEFAULT_LIMITS
    t_start = time.perf_counter()
    req = read_request(request, limits)
    compiled: dict[str, CompiledGold] = {}
    read: list[lean.ReadGroup] = []  # the groups the lean path read before handing the request back
    lean_result = _score_lean(req, limits, golds or {}, deadline, t_start, compiled, read)
    if lean_result is not None:
        return lean_result
    cfg, step = req.config, req.step
    groups, unique, order = _parse_groups(req, limits, golds or {}, compiled, deadline, read)
    t_parse = time.perf_counter()

    penalty = cfg.penalty_at(step)
    unique_scores = score_rollouts(unique, cfg, penalty, step, limits, deadline, req.explain)
    rollouts = [unique[k] for k in order]
    scores = [unique_scores[k] for k in order]
    t_match = time.perf_counter()

    anchors = None
    if cfg.advantage == "gigpo":
        anchors = [gigpo.anchor_keys(r.parsed, cfg.format.turn_end) for r in rollouts]
    fast = response.native_rows(groups, unique, unique_scores, order, cfg, anchors)
    rollout_stats: Sequence[summary.RolloutStats]
    if fast is not None:
        rows, out_groups, malformed, rollout_stats = fast.rows, fast.groups, fast.malformed, fast.stats
        if req.explain:
            for r, rs, row in zip(rollouts, scores, rows, strict=True):
                row["matches"] = response.explain_matches(r, rs)
    else:
        reward_input = [
            (r.group, rs.turn_rewards, rs.outcome, rs.trajectory)
            for r, rs in zip(rollouts, scores, strict=True)
        ]
        rows, _ = response.advantage_rows(reward_input, cfg, anchors)
        out_groups, malformed, rollout_stats = response.score_groups(
            groups, rollouts, scores, rows, req.explain
        )
    if req.matrix:
        _add_matrices(rollouts, scores, rows, cfg, limits)
    found = diagnostics.collect(rollouts, cfg)
    body = response.body(req, penalty, out_groups, found.warnings)
    if fast is not None:
        summary.attach(body, fast.group_summaries, fast.summary)
    else:
        summary.add_summaries(body, [r.group for r in rollouts], list(rollout_stats))
    t_end = time.perf_counter()
    stats = ScoreStats(
        groups=len(groups),
        rollouts=len(rollouts),
        malformed_calls=malformed,
        stage_seconds={"parse": t_parse - t_start, "match": t_match - t_parse, "advantage": t_end - t_match},
        warnings=found.totals,
        rollout_warnings=found.per_rollout,
        preset=_metric_preset(req),
        rollout_stats=rollout_stats,
    )
    return ScoreResult(body, compiled, stats)


def _score_lean(
    req: Request,
    limits: Limits,
    golds: Mapping[str, CompiledGold],
    deadline: float | None,
    t_start: float,
    compiled: dict[str, CompiledGold],
    read: list[lean.ReadGroup],
) -> ScoreResult | None:
    """:func:`score` by the lean path (:mod:`lean`), ``None`` when the per-stage path must run (from
    ``compiled`` and ``read``, what the lean path read)."""
    got = lean.score(req, limits, golds, deadline, compiled, read)
    if got is None:
        return None
    fast = got.rows
    body = response.body(req, req.config.penalty_at(req.step), fast.groups, got.found.warnings)
    summary.attach(body, fast.group_summaries, fast.summary)
    t_end = time.perf_counter()
    t_call, t_done = got.marks  # the one native call parses and matches: counted under "match"
    stats = ScoreStats(
        groups=len(got.groups),
        rollouts=got.rollouts,
        malformed_calls=fast.malformed,
        stage_seconds={"parse": t_call - t_start, "match": t_done - t_call, "advantage": t_end - t_done},
        warnings=got.found.totals,
        rollout_warnings=got.found.per_rollout,
        preset=_metric_preset(req),
        rollout_stats=fast.stats,
    )
    return ScoreResult(body, got.compiled, stats)


def _add_matrices(
    rollouts: list[Rollout],
    scores: list[RolloutScore],
    rows: list[dict[str, Any]],
    cfg: ScoringConfig,
    limits: Limits,
) -> None:
    """``explain: "matrix"``: each row's ``matrix`` (a duplicate rollout's is built once)."""
    matrix.check_cells(rollouts, scores, limits)
    built: dict[int, dict[str, Any]] = {}
    for rollout, score, row in zip(rollouts, scores, rows, strict=True):
        m = built.get(id(rollout))
        if m is None:
            m = built[id(rollout)] = matrix.rollout_matrix(rollout, score, cfg)
        row["matrix"] = m


def _metric_preset(req: Request) -> str | None:
    """The preset a request scored with, as a metrics label: its name, or None when ``config`` overrides
    settings (the name of an unknown preset never gets here: it is a 422)."""
    return None if req.overrides else req.preset


def advantages(request: Any, *, limits: Limits | None = None) -> ScoreResult:
    """``POST /v1/advantages``: advantages from per-turn rewards the trainer already holds."""
    limits = limits or DEFAULT_LIMITS
    t_start = time.perf_counter()
    req = read_request(request, limits, keys.ADVANTAGES_REQUEST)
    rows, states = reward_rows(req, limits)
    t_parse = time.perf_counter()
    result, t_adv = response.advantage_rows(rows, req.config, states)
    out_groups: list[dict[str, Any]] = [{"id": g.get("id"), "rollouts": []} for g in req.groups]
    for (gi, _, _, _), row in zip(rows, result, strict=True):
        out_groups[gi]["rollouts"].append(row)
    body = response.body(req, req.config.penalty_at(req.step), out_groups)
    summary.add_summaries(body, [r[0] for r in rows], [summary.row_stats(row) for row in result], calls=False)
    stats = ScoreStats(
        len(req.groups), len(rows), 0, {"parse": t_parse - t_start, "match": 0.0, "advantage": t_adv}
    )
    return ScoreResult(body, {}, stats)


def presets() -> dict[str, dict[str, Any]]:
    """Every preset with its resolved settings (``GET /v1/presets``)."""
    return presets_dict()
