"""The one entry point of the scoring core: ``score``, ``advantages``, ``gold_refs_in``, ``presets``.

Every transport (HTTP, gRPC, CLI, local client mode, trainer plugins) calls these functions with the
decoded API.md request and returns ``ScoreResult.body``. The math lives only below this module.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import orjson

from . import advantages as adv
from . import assign, similarity, sinkhorn, toolrl
from .config import ScoringConfig, presets_dict, resolve
from .errors import InvalidRequest, LimitExceeded, UnknownGoldRef
from .gold import CompiledGold, compile_gold
from .parse import ParsedRollout, RolloutLimits, parse_rollout
from .text import outcome_score

MAX_ABS_REWARD = 1e9


@dataclass(frozen=True, slots=True)
class Limits:
    """Request size limits (a :class:`LimitExceeded` names the one that was hit)."""

    max_groups: int = 10_000
    max_rollouts_per_group: int = 1_024
    max_calls_per_rollout: int = 1_024
    max_text_chars: int = 1_000_000
    max_turns_per_rollout: int = 1_024
    max_references: int = 64

    def rollout(self) -> RolloutLimits:
        return RolloutLimits(self.max_calls_per_rollout, self.max_turns_per_rollout, self.max_text_chars)


DEFAULT_LIMITS = Limits()


@dataclass(slots=True)
class ScoreStats:
    groups: int = 0
    rollouts: int = 0
    malformed_calls: int = 0
    stage_seconds: dict[str, float] = field(default_factory=dict)


class ScoreResult(NamedTuple):
    body: dict[str, Any]
    golds: dict[str, CompiledGold]
    stats: ScoreStats


# -- request validation -----------------------------------------------------------------------------


def _top(request: Any) -> tuple[str, ScoringConfig, int, bool, list[Any]]:
    if not isinstance(request, Mapping):
        raise InvalidRequest("", "the request body must be a JSON object")
    preset = request.get("preset")
    if preset is not None and not isinstance(preset, str):
        raise InvalidRequest("preset", "expected a string")
    cfg = resolve(preset, request.get("config"))
    step = request.get("step", 0)
    if step is None:
        step = 0
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise InvalidRequest("step", "expected an integer >= 0")
    explain = request.get("explain", False)
    if explain is None:
        explain = False
    if not isinstance(explain, bool):
        raise InvalidRequest("explain", "expected true or false")
    groups = request.get("groups")
    if not isinstance(groups, list):
        raise InvalidRequest("groups", "expected a list of groups")
    return preset or "matchtir-km", cfg, step, explain, groups


def _group_obj(g: Any, gi: int, limits: Limits) -> tuple[dict[str, Any], list[Any]]:
    path = f"groups[{gi}]"
    if not isinstance(g, dict):
        raise InvalidRequest(path, "expected a group object")
    gid = g.get("id")
    if gid is not None and not isinstance(gid, str | int | float):
        raise InvalidRequest(f"{path}.id", "expected a string, a number or null")
    rollouts = g.get("rollouts")
    if not isinstance(rollouts, list):
        raise InvalidRequest(f"{path}.rollouts", "expected a list of rollouts")
    if len(rollouts) > limits.max_rollouts_per_group:
        raise LimitExceeded(
            "max_rollouts_per_group", limits.max_rollouts_per_group, f"{path}.rollouts", len(rollouts)
        )
    return g, rollouts


_GOLD_KEYS = ("gold", "references", "gold_ref", "gold_refs")


def _gold_source(g: dict[str, Any], path: str) -> str:
    given = [k for k in _GOLD_KEYS if g.get(k) is not None]
    if len(given) != 1:
        raise InvalidRequest(
            path,
            "expected exactly one of gold, references, gold_ref"
            + (f" (got {', '.join(given)})" if given else ""),
        )
    return given[0]


def _ref_list(g: dict[str, Any], key: str, path: str, limits: Limits) -> list[str]:
    val = g[key]
    refs = [val] if key == "gold_ref" else val
    if not isinstance(refs, list) or not refs or not all(isinstance(r, str) and r for r in refs):
        raise InvalidRequest(
            f"{path}.{key}",
            "expected a gold_ref string" if key == "gold_ref" else "expected a list of gold_ref strings",
        )
    if len(refs) > limits.max_references:
        raise LimitExceeded("max_references", limits.max_references, f"{path}.{key}", len(refs))
    return refs


def gold_refs_in(request: Any, limits: Limits | None = None) -> list[str]:
    """The ``gold_ref`` values of groups that send only refs (deduplicated, in first-seen order)."""
    limits = limits or DEFAULT_LIMITS
    if not isinstance(request, Mapping) or not isinstance(request.get("groups"), list):
        return []
    seen: dict[str, None] = {}
    for gi, g in enumerate(request["groups"]):
        if not isinstance(g, dict):
            continue
        for key in ("gold_ref", "gold_refs"):
            if g.get(key) is not None:
                for r in _ref_list(g, key, f"groups[{gi}]", limits):
                    seen.setdefault(r, None)
    return list(seen)


def _resolve_golds(
    g: dict[str, Any],
    path: str,
    limits: Limits,
    lookup: Mapping[str, CompiledGold],
    compiled: dict[str, CompiledGold],
    missing: list[str],
) -> list[CompiledGold]:
    source = _gold_source(g, path)
    if source == "gold":
        gold = compile_gold(g["gold"], f"{path}.gold")
        compiled.setdefault(gold.ref, gold)
        return [compiled[gold.ref]]
    if source == "references":
        refs = g["references"]
        if not isinstance(refs, list) or not refs:
            raise InvalidRequest(f"{path}.references", "expected a non-empty list of gold traces")
        if len(refs) > limits.max_references:
            raise LimitExceeded("max_references", limits.max_references, f"{path}.references", len(refs))
        out = []
        for k, trace in enumerate(refs):
            gold = compile_gold(trace, f"{path}.references[{k}]")
            compiled.setdefault(gold.ref, gold)
            out.append(compiled[gold.ref])
        return out
    out = []
    for r in _ref_list(g, source, path, limits):
        got = lookup.get(r) or compiled.get(r)
        if got is None:
            if r not in missing:
                missing.append(r)
        else:
            out.append(got)
    return out


# -- matching ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Rollout:
    group: int
    parsed: ParsedRollout
    golds: list[CompiledGold]
    # predicted calls used for matching, with their (turn, call) position
    calls: list[Any] = field(default_factory=list)
    where: list[tuple[int, int]] = field(default_factory=list)
    tables: similarity.PredTables | None = None
    assignments: list[assign.Assignment | None] = field(default_factory=list)
    toolrl: list[tuple[float, float]] = field(default_factory=list)


def _prepare(r: _Rollout, cfg: ScoringConfig) -> None:
    matchable_answers = cfg.reward != "toolrl"
    for t, turn in enumerate(r.parsed.turns):
        if matchable_answers and turn.answer is not None:
            continue  # an answer turn's calls are never executed
        for c, call in enumerate(turn.calls):
            r.calls.append(call)
            r.where.append((t, c))
    r.tables = similarity.PredTables(r.calls, cfg.name_case_sensitive)


def _match(rollouts: list[_Rollout], cfg: ScoringConfig, penalty: float, step: int) -> None:
    """Fill ``assignments`` (or ``toolrl`` scores) of every rollout against each of its references."""
    if cfg.reward == "toolrl":
        b = toolrl.bounds(cfg, step)
        calls_scan, answers_scan = cfg.format.scanners()
        for r in rollouts:
            blocks = sum(t.blocks for t in r.parsed.turns)
            for gold in r.golds:
                corr = toolrl.correctness(r.calls, gold, blocks > 0, r.parsed.malformed, b)
                fmt_ok = toolrl.format_ok(r.parsed, gold, calls_scan, answers_scan)
                r.toolrl.append((b.format_max if fmt_ok else b.format_min, corr))
        return
    if cfg.assignment == "none":
        for r in rollouts:
            r.assignments = [None] * len(r.golds)
        return
    mode, cs = cfg.value_match, cfg.name_case_sensitive
    problems: list[np.ndarray] = []
    slots: list[tuple[_Rollout, int]] = []
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
                problems.append(similarity.matrix(r.tables, gold, mode, cs))
                slots.append((r, k))
            else:
                ents = similarity.entries(r.tables, gold, mode, cs)
                fn = assign.hungarian if cfg.assignment == "hungarian" else assign.greedy
                r.assignments[k] = fn(ents, m, n, penalty)
    if problems:
        plans = sinkhorn.ot_plans(problems, cfg.cost, cfg.tau, cfg.reg, cfg.ot_max_iter, cfg.ot_stop_thr)
        for (r, k), s, plan in zip(slots, problems, plans, strict=True):
            r.assignments[k] = assign.ot_assignment(s, plan, cfg.row_normalize)


# -- rewards ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Scored:
    reference: int
    turn_rewards: list[float]
    outcome: float
    trajectory: float | None  # trajectory-scheme score (mean call reward), when the scheme uses it
    assignment: assign.Assignment | None
    toolrl: tuple[float, float] | None


def _final_answer(parsed: ParsedRollout) -> str | None:
    for turn in reversed(parsed.turns):
        if turn.answer is not None:
            return turn.answer
    return None


def _choose(r: _Rollout, cfg: ScoringConfig) -> int:
    if len(r.golds) == 1:
        return 0  # one reference: nothing to choose (the common case; skips the totals)
    if cfg.reward == "toolrl":
        totals = [f + c for f, c in r.toolrl]
    elif cfg.assignment == "none":
        final = _final_answer(r.parsed)
        totals = [outcome_score(final, g.answer_tokens, g.answer, cfg.outcome) for g in r.golds]
    else:
        totals = [float(a.rewards.sum()) if a is not None else 0.0 for a in r.assignments]
    return int(np.argmax(totals))


def _score_rollout(r: _Rollout, cfg: ScoringConfig) -> _Scored:
    k = _choose(r, cfg)
    gold = r.golds[k]
    turns = r.parsed.turns
    final = _final_answer(r.parsed)
    if cfg.reward == "toolrl":
        f, c = r.toolrl[k]
        no_calls = 0.0 if cfg.reward_scheme.startswith("trajectory") else None
        return _Scored(k, [0.0] * len(turns), f + c, no_calls, None, (f, c))
    a = r.assignments[k] if r.assignments else None
    sums = [0.0] * len(turns)
    counts = [0] * len(turns)
    if a is not None:
        for (t, _c), rew in zip(r.where, a.rewards.tolist(), strict=True):
            sums[t] += rew
            counts[t] += 1
    rt = [s / n if n else 0.0 for s, n in zip(sums, counts, strict=True)]
    if cfg.outcome_placement == "answer_turn":
        for t, turn in enumerate(turns):
            if turn.answer is not None:
                rt[t] = outcome_score(turn.answer, gold.answer_tokens, gold.answer, cfg.outcome)
    ro = outcome_score(final, gold.answer_tokens, gold.answer, cfg.outcome)
    traj = None
    if cfg.reward_scheme.startswith("trajectory"):
        traj = float(a.rewards.mean()) if a is not None and a.rewards.size else 0.0
    return _Scored(k, rt, ro, traj, a, None)


# -- returns and advantages (shared by score and advantages) ----------------------------------------


def _scheme(
    rt: list[float], ro: float, traj: float | None, cfg: ScoringConfig
) -> tuple[list[float], float, float]:
    """(turn rewards used, r^o as it enters turn returns, trajectory return R) for the reward scheme."""
    scheme = cfg.reward_scheme
    discounted = cfg.outcome_placement == "discounted"
    if scheme == "outcome":
        return [0.0] * len(rt), ro, ro
    if scheme == "turn":
        return rt, 0.0, math.fsum(rt)
    ro_turn = ro if discounted else 0.0
    if scheme == "turn+outcome":
        return rt, ro_turn, math.fsum(rt) + ro_turn
    base = traj if traj is not None else 0.0
    if scheme == "trajectory":
        return rt, 0.0, base
    return rt, ro_turn, base + ro  # trajectory+outcome


def _finite(x: float) -> float:
    return x if math.isfinite(x) else 0.0


def _finite_list(x: np.ndarray) -> list[float]:
    """``[_finite(v) for v in x]`` for a float array, in one vectorized pass."""
    return np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0).tolist()


def _advantage_rows(
    rows: list[tuple[int, list[float], float, float | None]], cfg: ScoringConfig
) -> tuple[list[dict[str, Any]], float]:
    """Per rollout (group, turn rewards, outcome, trajectory score): the API.md reward/advantage fields."""
    used = [_scheme(rt, ro, traj, cfg) for _, rt, ro, traj in rows]
    num_turns = np.fromiter((len(u[0]) for u in used), dtype=np.int64, count=len(used))
    flat = [x for u in used for x in u[0]]
    inp = adv.AdvantageInput(
        returns=np.array([u[2] for u in used], dtype=float),
        outcome=np.array([u[1] for u in used], dtype=float),
        group=np.array([r[0] for r in rows], dtype=np.int64),
        num_turns=num_turns,
        turn_rewards=np.array(flat, dtype=float),
    )
    t0 = time.perf_counter()
    out = adv.compute(inp, cfg)
    elapsed = time.perf_counter() - t0
    traj_l = _finite_list(out.trajectory)
    rt_l = _finite_list(inp.turn_rewards)
    turn_l = _finite_list(out.turn)
    comb_l = _finite_list(out.combined)
    result = []
    pos = 0
    for i, (u, (_, _rt, ro, traj)) in enumerate(zip(used, rows, strict=True)):
        n = len(u[0])
        row: dict[str, Any] = {
            "turn_rewards": rt_l[pos : pos + n],
            "outcome_reward": _finite(ro),
            "return": _finite(u[2]),
            "trajectory_advantage": traj_l[i],
            "turn_advantages": turn_l[pos : pos + n],
            "advantages": comb_l[pos : pos + n],
            "num_turns": n,
        }
        if traj is not None:
            row["trajectory_reward"] = _finite(traj)
        result.append(row)
        pos += n
    return result, elapsed


def _effective(cfg: ScoringConfig, step: int, penalty: float) -> dict[str, Any]:
    eff: dict[str, Any] = {"step": step, "unmatched_penalty": penalty}
    if cfg.reward == "toolrl":
        b = toolrl.bounds(cfg, step)
        eff["toolrl_bounds"] = {
            "correctness_max": b.correctness_max,
            "correctness_min": b.correctness_min,
            "format_max": b.format_max,
            "format_min": b.format_min,
        }
    return eff


# -- entry points -----------------------------------------------------------------------------------


def _dedupe_key(rollout: Any) -> str | bytes | None:
    """A key equal for identical rollout objects (GRPO groups often repeat outputs), or ``None``.

    A text-only rollout is keyed by its text; any other object by its JSON encoding (dict order kept,
    so only byte-identical objects share a key). Rollouts with the same key get the same scores, so
    the first one's parse and match are reused. Objects orjson cannot encode are never deduplicated.
    """
    if type(rollout) is not dict:
        return None
    if len(rollout) == 1:
        text = rollout.get("text")
        if type(text) is str:
            return text
    try:
        return orjson.dumps(rollout)
    except (TypeError, orjson.JSONEncodeError):
        return None


def score(
    request: Any, *, golds: Mapping[str, CompiledGold] | None = None, limits: Limits | None = None
) -> ScoreResult:
    """Score a ``POST /v1/score`` request (API.md) and return the response body."""
    limits = limits or DEFAULT_LIMITS
    t_start = time.perf_counter()
    preset, cfg, step, explain, groups = _top(request)
    if len(groups) > limits.max_groups:
        raise LimitExceeded("max_groups", limits.max_groups, "groups", len(groups))
    lookup: Mapping[str, CompiledGold] = golds or {}
    compiled: dict[str, CompiledGold] = {}
    missing: list[str] = []
    rlimits = limits.rollout()
    group_meta: list[tuple[Any, list[CompiledGold], str]] = []
    unique: list[_Rollout] = []  # distinct rollouts; identical ones in a group are scored once
    order: list[int] = []  # per rollout of the request, its index in ``unique``
    for gi, g in enumerate(groups):
        path = f"groups[{gi}]"
        gobj, raw_rollouts = _group_obj(g, gi, limits)
        gl = _resolve_golds(gobj, path, limits, lookup, compiled, missing)
        group_meta.append((gobj.get("id"), gl, _gold_source(gobj, path)))
        seen: dict[str | bytes, int] = {}
        for ri, ro in enumerate(raw_rollouts):
            key = _dedupe_key(ro)
            k = seen.get(key) if key is not None else None
            if k is None:
                parsed = parse_rollout(ro, cfg.format, rlimits, f"{path}.rollouts[{ri}]")
                k = len(unique)
                unique.append(_Rollout(gi, parsed, gl))
                if key is not None:
                    seen[key] = k
            order.append(k)
    if missing:
        raise UnknownGoldRef(missing)
    t_parse = time.perf_counter()

    penalty = cfg.penalty_at(step)
    for r in unique:
        _prepare(r, cfg)
    _match(unique, cfg, penalty, step)
    scored_unique = [_score_rollout(r, cfg) for r in unique]
    rollouts = [unique[k] for k in order]
    scored = [scored_unique[k] for k in order]
    t_match = time.perf_counter()

    rows, _ = _advantage_rows(
        [(r.group, s.turn_rewards, s.outcome, s.trajectory) for r, s in zip(rollouts, scored, strict=True)],
        cfg,
    )
    malformed_total = 0
    out_groups: list[dict[str, Any]] = []
    for gid, gl, source in group_meta:
        entry: dict[str, Any] = {"id": gid, "rollouts": []}
        if source in ("gold", "gold_ref"):
            entry["gold_ref"] = gl[0].ref
        else:
            entry["gold_refs"] = [x.ref for x in gl]
        out_groups.append(entry)
    for r, s, row in zip(rollouts, scored, rows, strict=True):
        mal = r.parsed.malformed
        malformed_total += mal
        row["num_calls"] = len(r.calls)
        row["malformed_calls"] = mal
        row["reference"] = s.reference
        if s.toolrl is not None:
            row["toolrl"] = {"format": s.toolrl[0], "correctness": s.toolrl[1]}
        if explain:
            row["matches"] = _matches(r, s)
        out_groups[r.group]["rollouts"].append(row)
    body = {
        "preset": preset,
        "config": cfg.to_dict(),
        "effective": _effective(cfg, step, penalty),
        "groups": out_groups,
    }
    t_end = time.perf_counter()
    stats = ScoreStats(
        groups=len(groups),
        rollouts=len(rollouts),
        malformed_calls=malformed_total,
        stage_seconds={"parse": t_parse - t_start, "match": t_match - t_parse, "advantage": t_end - t_match},
    )
    return ScoreResult(body, compiled, stats)


def _matches(r: _Rollout, s: _Scored) -> list[dict[str, Any]]:
    a = s.assignment
    if a is None:
        return []
    out = []
    gold = a.gold.tolist()
    sim = a.similarity.tolist()
    rew = a.rewards.tolist()
    for k, (t, c) in enumerate(r.where):
        out.append(
            {
                "turn": t,
                "call": c,
                "name": r.calls[k].name,
                "gold": gold[k] if gold[k] >= 0 else None,
                "similarity": _finite(sim[k]),
                "reward": _finite(rew[k]),
            }
        )
    return out


def _reward_value(x: Any, path: str) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise InvalidRequest(path, "expected a number")
    v = float(x)
    if not math.isfinite(v) or abs(v) > MAX_ABS_REWARD:
        raise InvalidRequest(path, f"expected a finite number with |x| <= {MAX_ABS_REWARD:g}")
    return v


def advantages(request: Any, *, limits: Limits | None = None) -> ScoreResult:
    """``POST /v1/advantages``: advantages from per-turn rewards the trainer already holds."""
    limits = limits or DEFAULT_LIMITS
    t_start = time.perf_counter()
    preset, cfg, step, _explain, groups = _top(request)
    if len(groups) > limits.max_groups:
        raise LimitExceeded("max_groups", limits.max_groups, "groups", len(groups))
    rows: list[tuple[int, list[float], float, float | None]] = []
    needs_traj = cfg.reward_scheme.startswith("trajectory")
    for gi, g in enumerate(groups):
        _, raw = _group_obj(g, gi, limits)
        for ri, ro in enumerate(raw):
            path = f"groups[{gi}].rollouts[{ri}]"
            if not isinstance(ro, dict):
                raise InvalidRequest(path, "expected an object {turn_rewards, outcome_reward}")
            trs = ro.get("turn_rewards")
            if not isinstance(trs, list):
                raise InvalidRequest(f"{path}.turn_rewards", "expected a list of numbers")
            if len(trs) > limits.max_turns_per_rollout:
                raise LimitExceeded(
                    "max_turns_per_rollout", limits.max_turns_per_rollout, f"{path}.turn_rewards", len(trs)
                )
            rt = [_reward_value(x, f"{path}.turn_rewards[{t}]") for t, x in enumerate(trs)]
            out_r = ro.get("outcome_reward", 0.0)
            outcome = 0.0 if out_r is None else _reward_value(out_r, f"{path}.outcome_reward")
            traj = None
            if needs_traj:
                if ro.get("trajectory_reward") is None:
                    raise InvalidRequest(
                        f"{path}.trajectory_reward", f"required with reward_scheme {cfg.reward_scheme}"
                    )
                traj = _reward_value(ro["trajectory_reward"], f"{path}.trajectory_reward")
            rows.append((gi, rt, outcome, traj))
    t_parse = time.perf_counter()
    result, t_adv = _advantage_rows(rows, cfg)
    out_groups: list[dict[str, Any]] = [{"id": g.get("id"), "rollouts": []} for g in groups]
    for (gi, _, _, _), row in zip(rows, result, strict=True):
        out_groups[gi]["rollouts"].append(row)
    body = {
        "preset": preset,
        "config": cfg.to_dict(),
        "effective": _effective(cfg, step, cfg.penalty_at(step)),
        "groups": out_groups,
    }
    stats = ScoreStats(
        len(groups), len(rows), 0, {"parse": t_parse - t_start, "match": 0.0, "advantage": t_adv}
    )
    return ScoreResult(body, {}, stats)


def presets() -> dict[str, dict[str, Any]]:
    """Every preset with its resolved settings (``GET /v1/presets``)."""
    return presets_dict()
