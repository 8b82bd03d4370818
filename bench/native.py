"""The compiled core against the Python core, side by side in one run (issue 18's targets).

- ``in-process``: ``engine.score`` rollouts/s per core (thread CPU time, heap frozen and the GC's young
  threshold set as ``turnscore serve`` does, :func:`_as_served`) under ``native.select("python")`` and
  ``native.select("native")``, alternated repeat by repeat on the same decoded bodies, for ``mixed``,
  ``distinct`` and ``long`` x KM and OT presets.
- ``http``: the issue's request (512 rollouts of 4-11 real gold calls, ~1.3K characters each, Qwen text
  form, KM, one ``/v1/score``) end to end against two ``turnscore serve`` processes, ``--core python`` and
  ``--core native``, alternated; ``vs orjson`` = p50 / a bare ``orjson.loads`` of the same body (CPU,
  median). ``vs public ref`` divides the public MatchTIR KM reward function's cost as the issue measured it
  (2.1 ms per rollout on this machine kind) by the measured cost per rollout: a derived figure. The
  side-by-side one is ``bench.run reference --matchtir-ref DIR`` (bench/reference.py), which reuses
  :func:`http_rows` with both presets and times the reference code between repeats.
- ``ot``: the OT presets in-process, three ways alternated: the Python core, the native core with the plans
  still from numpy (``sinkhorn.ot_plans``; the compiled ``ot_solve`` switched off, as before it existed),
  and the native core with ``ot_solve``.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from turnscore import workload
from turnscore.core import native, soft
from turnscore.runtime.runtime import tune_gc
from turnscore.settings import Settings

from . import workloads
from .common import percentiles, report, servers
from .core import _score_bodies
from .http import HEADERS, floor_seconds

PRESETS = ("matchtir-km", "matchtir-ot", "matchtir-reference-km")
OT_PRESETS = ("matchtir-ot", "matchtir-reference-ot")
OT_VARIANTS = ("python", "native-numpy-ot", "native")
KINDS = ("mixed", "distinct", "long")
CORES = ("python", "native")
#: issue 18's targets
TARGET_PER_CORE = {"distinct": 150_000.0, "long": 60_000.0}
TARGET_VS_ORJSON = 5.0
TARGET_VS_REFERENCE = 100.0
#: the public MatchTIR KM reward function, ms per rollout, as issue 18 measured it side by side (not re-run)
REFERENCE_KM_MS_PER_ROLLOUT = 2.1


def issue_request(rollouts: int = 512, seed: int = 18) -> dict[str, Any]:
    """The issue's HTTP request: ``rollouts`` rollouts (groups of 16) of 4-11 real gold calls, text form."""
    recs = workloads.long_horizon_records(rollouts // 16, seed=seed, min_calls=4, max_calls=11)
    return workload.make_request(recs, rollouts // 16, 16, seed, ("text",), "matchtir-km")


def in_process(
    kinds: tuple[str, ...], presets: tuple[str, ...], requests: int, groups: int, repeats: int
) -> list[dict[str, Any]]:
    rows = []
    for kind in kinds:
        base = workloads.make_requests(kind, requests, groups, 16, seed=1)
        n = sum(len(g["rollouts"]) for r in base for g in r["groups"])
        for preset in presets:
            bods = [orjson.dumps({**r, "preset": preset}) for r in base]
            cpu: dict[str, list[float]] = {c: [] for c in CORES}
            for core in CORES:  # warm-up of both
                native.select(core)
                _score_bodies(bods, [], True)
            try:
                with _as_served():
                    for _ in range(repeats):
                        for core in CORES:
                            native.select(core)
                            cpu[core].append(_score_bodies(bods, [], True))
            finally:
                native.select("auto")
            py, nat = n / np.asarray(cpu["python"]), n / np.asarray(cpu["native"])
            rows.append(
                {
                    "workload": kind,
                    "preset": preset,
                    "rollouts": n,
                    "python_per_core": float(np.median(py)),
                    "native_per_core": float(np.median(nat)),
                    "native_min": float(nat.min()),
                    "native_max": float(nat.max()),
                    "native_us_per_rollout": 1e6 / float(np.median(nat)),
                    "speedup": float(np.median(nat / py)),
                    "speedup_min": float((nat / py).min()),
                    "speedup_max": float((nat / py).max()),
                    "gc_threshold": Settings().gc_threshold,
                }
            )
            print(rows[-1], flush=True)
    return rows


@contextmanager
def _as_served() -> Iterator[None]:
    """The GC as ``turnscore serve`` sets it up: the heap so far frozen, the young threshold of
    ``Settings.gc_threshold``; both undone after."""
    saved = gc.get_threshold()
    gc.collect()
    gc.freeze()
    tune_gc(Settings().gc_threshold)
    try:
        yield
    finally:
        gc.set_threshold(*saved)
        gc.unfreeze()


@contextmanager
def _numpy_plans(on: bool) -> Iterator[None]:
    """With ``on``, the native core's OT goes to the numpy path (``ot_solve`` not called)."""
    saved = soft.solve
    if on:
        soft.solve = lambda *args, **kwargs: None  # type: ignore[assignment]
    try:
        yield
    finally:
        soft.solve = saved  # type: ignore[assignment]


def ot_rows(
    kinds: tuple[str, ...], presets: tuple[str, ...], requests: int, groups: int, repeats: int
) -> list[dict[str, Any]]:
    """Rollouts/s per core of the OT presets: Python core, native core with numpy plans, native core."""
    rows = []
    for kind in kinds:
        base = workloads.make_requests(kind, requests, groups, 16, seed=1)
        n = sum(len(g["rollouts"]) for r in base for g in r["groups"])
        for preset in presets:
            bods = [orjson.dumps({**r, "preset": preset}) for r in base]
            cpu: dict[str, list[float]] = {v: [] for v in OT_VARIANTS}
            try:
                with _as_served():
                    for rep in range(repeats + 1):  # the first round warms up
                        for variant in OT_VARIANTS:
                            native.select("python" if variant == "python" else "native")
                            with _numpy_plans(variant == "native-numpy-ot"):
                                seconds = _score_bodies(bods, [], True)
                            if rep:
                                cpu[variant].append(seconds)
            finally:
                native.select("auto")
            rate = {v: n / np.asarray(cpu[v]) for v in OT_VARIANTS}
            row: dict[str, Any] = {"workload": kind, "preset": preset, "rollouts": n}
            for v in OT_VARIANTS:
                row[f"{v}_per_core"] = float(np.median(rate[v]))
            pairs = (("native", "python"), ("native", "native-numpy-ot"), ("native-numpy-ot", "python"))
            for v, ref in pairs:
                r = rate[v] / rate[ref]
                row[f"{v}/{ref}"] = f"{np.median(r):.2f}x ({r.min():.2f}-{r.max():.2f})"
            rows.append(row)
            print(row, flush=True)
    return rows


def http_rows(
    rollouts: int,
    requests: int,
    repeats: int,
    presets: tuple[str, ...] = ("matchtir-km",),
    between: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    """The issue's request under each preset, ``requests`` times per repeat to each server, alternated;
    ``between`` runs once per repeat (the reference bench times the public reward function there)."""
    import httpx

    base = issue_request(rollouts)
    bods = {p: orjson.dumps({**base, "preset": p}) for p in presets}
    floor = floor_seconds([bods[presets[0]]], repeats=max(5, repeats))
    lat: dict[tuple[str, str], list[float]] = {(c, p): [] for c in CORES for p in presets}
    with servers(1, "--core", "python") as (py,), servers(1, "--core", "native") as (nat,):
        urls = {"python": py.url, "native": nat.url}
        for core, url in urls.items():
            assert httpx.get(url + "/readyz").json()["core"] == core
        with httpx.Client(timeout=300.0) as client:
            for url in urls.values():  # warm-up (and each server's gold cache: full golds anyway)
                for body in bods.values():
                    client.post(url + "/v1/score", content=body, headers=HEADERS).raise_for_status()
            for _ in range(repeats):
                for preset, body in bods.items():
                    for core, url in urls.items():
                        for _ in range(requests):
                            t0 = time.perf_counter()
                            r = client.post(url + "/v1/score", content=body, headers=HEADERS)
                            r.raise_for_status()
                            orjson.loads(r.content)
                            lat[core, preset].append(time.perf_counter() - t0)
                if between is not None:
                    between()
    rows = []
    for (core, preset), xs in lat.items():
        p = percentiles(xs)
        per_rollout_ms = 1e3 * p["p50"] / rollouts
        rows.append(
            {
                "core": core,
                "preset": preset,
                "rollouts": rollouts,
                "body_kb": len(bods[preset]) / 1024,
                "requests": len(xs),
                "p50_ms": 1e3 * p["p50"],
                "p95_ms": 1e3 * p["p95"],
                "ms_per_rollout": per_rollout_ms,
                "orjson_ms": 1e3 * floor,
                "vs_orjson": p["p50"] / floor,
                "vs_public_ref_derived": (
                    REFERENCE_KM_MS_PER_ROLLOUT / per_rollout_ms if preset == "matchtir-km" else None
                ),
            }
        )
        print(rows[-1], flush=True)
    return rows


def run(quick: bool = False, repeats: int = 5, out_dir: Path | None = None) -> list[dict[str, Any]]:
    """Both measurements; ``bench/results/native.json`` holds the rows and the targets."""
    if not native.available():
        raise SystemExit(f"bench native: turnscore_native is not installed ({native.import_error()})")
    if quick:
        inproc = in_process(("mixed",), ("matchtir-km",), 1, 2, 1)
        ot = ot_rows(("mixed",), ("matchtir-ot",), 1, 2, 1)
        http = http_rows(32, 1, 1)
    else:
        inproc = in_process(KINDS, PRESETS, 4, 64, repeats)
        ot = ot_rows(KINDS, OT_PRESETS, 4, 64, repeats)
        http = http_rows(512, 10, repeats)
    km = {r["workload"]: r for r in inproc if r["preset"] == "matchtir-km"}
    nat_http = next(r for r in http if r["core"] == "native" and r["preset"] == "matchtir-km")
    targets = {
        "per_core": {
            k: {"target": t, "measured": km[k]["native_per_core"], "holds": km[k]["native_per_core"] >= t}
            for k, t in TARGET_PER_CORE.items()
            if k in km
        },
        "http_vs_orjson": {
            "target": TARGET_VS_ORJSON,
            "measured": nat_http["vs_orjson"],
            "holds": nat_http["vs_orjson"] <= TARGET_VS_ORJSON,
        },
        "http_vs_public_reference_derived": {
            "target": TARGET_VS_REFERENCE,
            "measured": nat_http["vs_public_ref_derived"],
            "holds": nat_http["vs_public_ref_derived"] >= TARGET_VS_REFERENCE,
            "reference_ms_per_rollout": REFERENCE_KM_MS_PER_ROLLOUT,
        },
    }
    report("native", "Python core vs native core, in-process (rollouts/s per core)", inproc, {}, out_dir)
    title = "OT presets in-process (rollouts/s per core): Python, native with numpy plans, native"
    report("native_ot", title, ot, {}, out_dir)
    report(
        "native_http",
        "Python core vs native core, HTTP end to end (the issue's 512-rollout KM request)",
        http,
        {"targets": targets},
        out_dir,
    )
    return inproc + ot + http
