"""Batched OT (``sinkhorn.ot_plans``: one block-diagonal Sinkhorn) vs one ``ot.sinkhorn`` call per rollout.

The problems are the real similarity matrices of a workload (every rollout with at least one call
against its gold trace), solved with the settings of the two OT presets. Both sides start from the
same S matrices; the per-call side is ``sinkhorn.sinkhorn_plan`` (cost matrix + ``ot.sinkhorn``), the
way a straightforward implementation scores one rollout at a time. The plans must agree to 1e-6.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
from turnscore.core import similarity, sinkhorn, sparse
from turnscore.core.config import resolve
from turnscore.core.gold import compile_gold
from turnscore.core.limits import DEFAULT_LIMITS
from turnscore.core.parse import parse_rollout

from . import workloads
from .common import measure, report

TARGET = 50.0


def problems(kind: str, groups: int, preset: str, seed: int = 3) -> list[np.ndarray]:
    """The S matrices (m x n, m, n >= 1) the preset's OT solves for one request of the workload."""
    cfg = resolve(preset, None)
    req = workloads.make_requests(kind, 1, groups, 16, seed=seed)[0]
    out = []
    for g in req["groups"]:
        gold = compile_gold(g["gold"])
        if not gold.calls:
            continue
        for ro in g["rollouts"]:
            parsed = parse_rollout(ro, cfg.format, DEFAULT_LIMITS.rollout(), "r")
            calls = [c for t in parsed.turns if t.answer is None for c in t.calls]
            if calls:
                tables = similarity.PredTables(calls, cfg.name_case_sensitive)
                out.append(similarity.matrix(tables, gold, cfg.value_match, cfg.name_case_sensitive))
    return out


def run(
    groups: int = 64,
    repeats: int = 3,
    kinds: tuple[str, ...] = ("mixed", "long"),
    presets: tuple[str, ...] = ("matchtir-ot", "matchtir-reference-ot"),
    out_dir: Path | None = None,
) -> list[dict[str, Any]]:
    rows = []
    for kind in kinds:
        for preset in presets:
            cfg = resolve(preset, None)
            probs = problems(kind, groups, preset)
            args = (cfg.cost, cfg.tau, cfg.reg, cfg.ot_max_iter, cfg.ot_stop_thr)
            batched = sinkhorn.ot_plans(probs, *args)
            single = [sinkhorn.sinkhorn_plan(s, *args) for s in probs]
            diff = max(
                (float(np.abs(a - b).max()) for a, b in zip(batched, single, strict=True)), default=0.0
            )
            tb = measure(functools.partial(sinkhorn.ot_plans, probs, *args), repeats).summary()
            ts = measure(functools.partial(_per_call, probs, args), repeats).summary()
            shapes = [s.shape for s in probs]
            rows.append(
                {
                    "workload": kind,
                    "preset": preset,
                    "problems": len(probs),
                    "mean_m_x_n": float(np.mean([m * n for m, n in shapes])) if shapes else 0.0,
                    "share_1x1": float(np.mean([s == (1, 1) for s in shapes])) if shapes else 0.0,
                    "per_call_ms": 1e3 * ts["cpu_median"],
                    "batched_ms": 1e3 * tb["cpu_median"],
                    "speedup": ts["cpu_median"] / tb["cpu_median"],
                    "speedup_non_1x1": _speedup_non_trivial(probs, args, repeats),
                    "max_abs_plan_diff": diff,
                }
            )
    report(
        "ot",
        "Batched OT (block-diagonal Sinkhorn) vs one ot.sinkhorn call per rollout (CPU time)",
        rows,
        {
            "params": {"groups": groups, "group_size": 16, "repeats": repeats},
            "target_speedup": TARGET,
            "compiled_sparse_kernels": sparse.COMPILED,
        },
        out_dir,
    )
    return rows


def _per_call(probs: list[np.ndarray], args: tuple[Any, ...]) -> list[np.ndarray]:
    return [sinkhorn.sinkhorn_plan(s, *args) for s in probs]


def _speedup_non_trivial(probs: list[np.ndarray], args: tuple[Any, ...], repeats: int) -> float:
    """The same comparison without the 1x1 problems (which the batched path answers without solving)."""
    rest = [s for s in probs if s.shape != (1, 1)]
    if not rest:
        return float("nan")
    tb = measure(lambda: sinkhorn.ot_plans(rest, *args), repeats).summary()
    ts = measure(functools.partial(_per_call, rest, args), repeats).summary()
    return ts["cpu_median"] / tb["cpu_median"]
