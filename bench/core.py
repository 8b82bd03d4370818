"""Core in-process throughput: ``engine.score`` on decoded requests, rollouts/s per core, per preset.

"Per core" = rollouts / CPU seconds of the scoring thread (``time.thread_time``): the core is
single-threaded per request, and CPU time is far less disturbed than wall time by other jobs on a
shared machine. Requests are kept encoded and decoded one at a time (untimed), so the heap holds what
a service holds: the request in flight. The GC runs as in the service: on, after one ``gc.freeze()``
(``turnscore serve`` freezes the heap after start-up, ``--gc-freeze``: objects alive then, i.e. every
imported module, are never scanned again). Two more figures show the GC's share: without the freeze
(``--no-gc-freeze``, or a plain ``engine.score`` caller) and with the GC off while scoring. Medians of
the repeats (and the best).
"""

from __future__ import annotations

import gc
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from turnscore.core import engine

from . import workloads
from .common import report

PRESETS = (
    "matchtir-km",
    "matchtir-ot",
    "matchtir-reference-km",
    "matchtir-reference-ot",
    "toolrl",
    "grpo-outcome",
)
WORKLOADS = ("mixed", "distinct", "long", "step")
TARGET_KM = 20_000.0


def _score_bodies(bods: list[bytes], stages: list[dict[str, float]], gc_on: bool) -> float:
    """Thread CPU seconds of ``engine.score`` over the bodies, each decoded just before (untimed).

    Only the request being scored is alive, as in the service; with ``gc_on=False`` the cyclic GC is
    off while scoring (to show its share, not a setting anyone should copy blindly).
    """
    total = 0.0
    stages.clear()
    for b in bods:
        doc = orjson.loads(b)
        if not gc_on:
            gc.disable()
        try:
            t0 = time.thread_time()
            res = engine.score(doc)
            total += time.thread_time() - t0
        finally:
            gc.enable()
        stages.append(res.stats.stage_seconds)
        del doc, res
    return total


def run(
    presets: tuple[str, ...] = PRESETS,
    kinds: tuple[str, ...] = WORKLOADS,
    requests: int = 4,
    groups: int = 64,
    group_size: int = 16,
    repeats: int = 5,
    out_dir: Path | None = None,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    descriptions: dict[str, Any] = {}
    for kind in kinds:
        base = workloads.make_requests(kind, requests, groups, group_size, seed=1)
        descriptions[kind] = workloads.describe(base).as_dict()
        n = sum(len(g["rollouts"]) for r in base for g in r["groups"])
        encoded = {p: [orjson.dumps({**r, "preset": p}) for r in base] for p in presets}
        del base
        workloads.records.cache_clear()  # keep the heap like a service's: only the request in flight
        for preset in presets:
            bods = encoded[preset]
            stages: list[dict[str, float]] = []
            _score_bodies(bods, stages, True)  # warm-up
            gc.collect()
            cpu_plain = float(np.median([_score_bodies(bods, [], True) for _ in range(repeats)]))
            gc.collect()
            gc.freeze()  # what `turnscore serve` does once after start-up
            try:
                cpu = [_score_bodies(bods, stages, True) for _ in range(repeats)]
            finally:
                gc.unfreeze()
            gc.collect()
            cpu_nogc = min(_score_bodies(bods, [], False) for _ in range(max(1, repeats // 2)))
            stage_tot = {k: float(np.sum([s[k] for s in stages])) for k in ("parse", "match", "advantage")}
            tot = sum(stage_tot.values()) or 1.0
            med = float(np.median(cpu))
            rows.append(
                {
                    "workload": kind,
                    "preset": preset,
                    "rollouts": n,
                    "rollouts_per_s_core_median": n / med,
                    "rollouts_per_s_core_best": n / min(cpu),
                    "us_per_rollout_median": 1e6 * med / n,
                    "no_freeze_rollouts_per_s": n / cpu_plain,
                    "gc_off_rollouts_per_s": n / cpu_nogc,
                    "parse_pct": 100 * stage_tot["parse"] / tot,
                    "match_pct": 100 * stage_tot["match"] / tot,
                    "advantage_pct": 100 * stage_tot["advantage"] / tot,
                }
            )
            print(rows[-1], flush=True)
    km = [r for r in rows if r["preset"] == "matchtir-km"]
    targets = {
        "km_rollouts_per_s_core": {
            "target": TARGET_KM,
            "measured": {r["workload"]: r["rollouts_per_s_core_median"] for r in km},
            "holds": {r["workload"]: r["rollouts_per_s_core_median"] >= TARGET_KM for r in km},
            "measured_no_freeze": {r["workload"]: r["no_freeze_rollouts_per_s"] for r in km},
        }
    }
    report(
        "core",
        "Core in-process rollouts/s per core (rollouts / thread CPU s of engine.score; heap frozen)",
        rows,
        {
            "params": {"requests": requests, "groups": groups, "group_size": group_size, "repeats": repeats},
            "workloads": descriptions,
            "targets": targets,
        },
        out_dir,
    )
    return rows
