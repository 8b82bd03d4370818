"""turnscore against the public MatchTIR reward function, side by side in one run (issue 18's reference rows).

``python -m bench.run reference --matchtir-ref DIR`` (or ``TURNSCORE_BENCH_MATCHTIR_REF=DIR``): the issue's
request (512 rollouts of 4-11 real gold calls, Qwen text form, :func:`bench.native.issue_request`) scored by

- the reference, ``compute_process_KM`` and ``compute_process_ot`` imported from DIR (:mod:`bench.refcode`),
  one call per rollout as its reward manager makes them; thread CPU and wall time per pass;
- turnscore in-process (``engine.score``, python and native core, heap frozen, thread CPU time) under
  ``matchtir-km`` and ``matchtir-ot``;
- turnscore over HTTP (``/v1/score``, a ``--core python`` and a ``--core native`` server, p50 wall time).

One reference pass (KM and OT) runs after every repeat of each turnscore measurement, so both see the same
machine load. Ratios are reference / turnscore per rollout: CPU / CPU in-process, wall / wall over HTTP.
Untimed checks: a rollout equal to its gold must score 1 on every turn under the reference KM, and the
reference's per-turn rewards are compared with turnscore's presets on the same rollouts. Without DIR the
measurement prints one line and does nothing.
"""

from __future__ import annotations

import contextlib
import gc
import io
import random
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from turnscore import workload
from turnscore.core import engine, native

from . import refcode
from .common import report
from .core import _score_bodies
from .native import CORES, http_rows, issue_request

#: matching kind -> turnscore's preset timed against it (the issue's), and the presets compared with it
PRESET = {"km": "matchtir-km", "ot": "matchtir-ot"}
COMPARED = {"km": ("matchtir-reference-km", "matchtir-km"), "ot": ("matchtir-reference-ot", "matchtir-ot")}
TARGET = {"km": 100.0, "ot": 300.0}  # issue 18: HTTP end to end, reference / turnscore


def _turn_rewards(request: dict[str, Any], preset: str) -> list[list[float]]:
    body = engine.score({**request, "preset": preset}).body
    return [ro["turn_rewards"] for g in body["groups"] for ro in g["rollouts"]]


def agreement(
    ref: refcode.Reference, request: dict[str, Any], its: list[refcode.Item]
) -> list[dict[str, Any]]:
    """Max |reference - turnscore| over the per-turn rewards of every rollout, per compared preset."""
    rows = []
    for kind, fn in ref.functions.items():
        ref_turns = [
            refcode.turn_values(refcode.call(fn, it, ref.tokenizer), it.ids, ref.tokenizer) for it in its
        ]
        for preset in COMPARED[kind]:
            ts = _turn_rewards(request, preset)
            same_len = [(a, b) for a, b in zip(ref_turns, ts, strict=True) if len(a) == len(b)]
            diffs = [max((abs(x - y) for x, y in zip(a, b, strict=True)), default=0.0) for a, b in same_len]
            rows.append(
                {
                    "reference": refcode.FUNCTIONS[kind],
                    "preset": preset,
                    "rollouts": len(its),
                    "turns": sum(len(a) for a in ref_turns),
                    "turn_count_mismatches": len(its) - len(same_len),
                    "max_abs_diff": max(diffs, default=float("nan")),
                    "rollouts_differing": sum(d > 1e-9 for d in diffs),
                }
            )
    return rows


def perfect_check(ref: refcode.Reference, request: dict[str, Any]) -> dict[str, Any]:
    """Each group's gold rendered as a rollout (no mistakes, gold answer): the reference KM's turn rewards."""
    rng = random.Random(0)
    groups = []
    for g in request["groups"]:
        turns = [t for t in g["gold"]["turns"] if t]
        ro = workload.render(turns, g["gold"]["answer"], "text", rng, malformed_rate=0.0)
        groups.append({**g, "rollouts": [ro]})
    perfect = {**request, "groups": groups}
    vals = [
        v
        for it in refcode.items(perfect, ref.tokenizer)
        for v in refcode.turn_values(
            refcode.call(ref.functions["km"], it, ref.tokenizer), it.ids, ref.tokenizer
        )
    ]
    ts = [v for r in _turn_rewards(perfect, "matchtir-reference-km") for v in r]
    out = {
        "rollouts": len(groups),
        "turns": len(vals),
        "reference_km_min": min(vals),
        "reference_km_max": max(vals),
    }
    out["turnscore_reference_km_min"] = min(ts)
    return out


def run(
    directory: str | None, quick: bool = False, repeats: int = 5, out_dir: Path | None = None
) -> list[dict[str, Any]]:
    path = refcode.locate(directory)
    if path is None:
        print(
            f"bench reference: skipped (no MatchTIR reference code: give --matchtir-ref DIR or set "
            f"{refcode.ENV}; see docs/PERFORMANCE.md)",
            flush=True,
        )
        return []
    if not native.available():
        raise SystemExit(f"bench reference: turnscore_native is not installed ({native.import_error()})")
    ref = refcode.load(path)
    rollouts = 32 if quick else 512
    repeats = 1 if quick else repeats
    request = issue_request(rollouts)
    its = refcode.items(request, ref.tokenizer)
    tokens = [len(it.ids) for it in its]
    with contextlib.redirect_stdout(io.StringIO()):  # the reference's "Parse error:" lines
        perfect = perfect_check(ref, request)
        agree = agreement(ref, request, its)
    print("perfect rollouts:", perfect, *agree, sep="\n", flush=True)

    ref_cpu: dict[str, list[float]] = {k: [] for k in ref.functions}
    ref_wall: dict[str, list[float]] = {k: [] for k in ref.functions}

    def ref_pass() -> None:
        for kind, fn in ref.functions.items():
            cpu, wall = refcode.time_pass(fn, its, ref.tokenizer)
            ref_cpu[kind].append(cpu / len(its))
            ref_wall[kind].append(wall / len(its))

    refcode.time_pass(ref.functions["km"], its[:16], ref.tokenizer)  # warm-up
    ts_cpu: dict[tuple[str, str], list[float]] = {(c, k): [] for c in CORES for k in PRESET}
    bods = {k: [orjson.dumps({**request, "preset": p})] for k, p in PRESET.items()}
    for core in CORES:  # warm-up of both
        native.select(core)
        for b in bods.values():
            _score_bodies(b, [], True)
    gc.collect()
    gc.freeze()
    try:
        for _ in range(repeats):
            for kind, b in bods.items():
                for core in CORES:
                    native.select(core)
                    ts_cpu[core, kind].append(_score_bodies(b, [], True) / rollouts)
            ref_pass()
    finally:
        gc.unfreeze()
        native.select("auto")
    http = http_rows(rollouts, 1 if quick else 10, repeats, tuple(PRESET.values()), between=ref_pass)

    rows = []
    for kind, preset in PRESET.items():
        rc, rw = float(np.median(ref_cpu[kind])), float(np.median(ref_wall[kind]))
        for core in CORES:
            ts = float(np.median(ts_cpu[core, kind]))
            rows.append(_row(kind, preset, f"in-process, {core} core", rc, ts, ref_cpu[kind]))
        for h in http:
            if h["preset"] == preset:
                rows.append(
                    _row(
                        kind, preset, f"HTTP, {h['core']} core", rw, h["ms_per_rollout"] / 1e3, ref_wall[kind]
                    )
                )
    for r in rows:
        print(r, flush=True)
    nat = {r["match"]: r for r in rows if r["turnscore"] == "HTTP, native core"}
    targets = {
        f"http_{k}_vs_reference": {"target": t, "measured": nat[k]["ratio"], "holds": nat[k]["ratio"] >= t}
        for k, t in TARGET.items()
    }
    extra = {
        "reference_dir": str(path),
        "tokenizer": ref.tokenizer_name,
        "response_tokens": {"median": float(np.median(tokens)), "max": max(tokens)},
        "perfect_rollouts": perfect,
        "agreement": agree,
        "targets": targets,
        "http": http,
        "reference_ms_per_rollout": {
            k: {"cpu": [1e3 * x for x in ref_cpu[k]], "wall": [1e3 * x for x in ref_wall[k]]} for k in ref_cpu
        },
    }
    report(
        "reference",
        "turnscore vs the public MatchTIR reward function (the issue's request)",
        rows,
        extra,
        out_dir,
    )
    return rows


def _row(
    kind: str, preset: str, path: str, ref_s: float, ts_s: float, ref_all: list[float]
) -> dict[str, Any]:
    return {
        "match": kind,
        "preset": preset,
        "turnscore": path,
        "turnscore_ms_per_rollout": 1e3 * ts_s,
        "reference_ms_per_rollout": 1e3 * ref_s,
        "reference_ms_min": 1e3 * min(ref_all),
        "reference_ms_max": 1e3 * max(ref_all),
        "ratio": ref_s / ts_s,
    }
