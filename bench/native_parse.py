"""Rollout parsing on both cores: ``parse_rollout`` of every rollout of a workload, Python vs native.

Per workload (``long``, ``distinct``, ``mixed``, ``step``) and form (``text``, ``messages``, ``turns``), the
thread CPU time of parsing every rollout once on the Python core and once on the native one
(``turnscore_native``), in alternating rounds so both see the same machine; medians of the rounds.
Reports microseconds per rollout and the ratio. Run: ``python -m bench.native_parse [--quick]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from turnscore.core import native
from turnscore.core.config import FormatConfig
from turnscore.core.limits import DEFAULT_LIMITS
from turnscore.core.parse import parse_rollout

from . import workloads

KINDS = ("long", "distinct", "mixed", "step")
FORMS = (("text",), ("messages",), ("turns",))


def _rollouts(kind: str, forms: tuple[str, ...], groups: int) -> list[dict[str, Any]]:
    reqs = workloads.make_requests(kind, 1, groups, 16, seed=1, forms=forms)
    return [ro for r in reqs for g in r["groups"] for ro in g["rollouts"]]


def _cpu_seconds(rollouts: list[dict[str, Any]], fmt: FormatConfig) -> float:
    limits = DEFAULT_LIMITS.rollout()
    t0 = time.thread_time()
    for ro in rollouts:
        parse_rollout(ro, fmt, limits, "r")
    return time.thread_time() - t0


def measure(kind: str, forms: tuple[str, ...], groups: int, rounds: int) -> dict[str, Any]:
    rollouts = _rollouts(kind, forms, groups)
    fmt = FormatConfig()
    times: dict[str, list[float]] = {"python": [], "native": []}
    before = native.active()
    try:
        for _ in range(rounds):
            for core in ("python", "native"):
                native.select(core)
                times[core].append(_cpu_seconds(rollouts, fmt))
    finally:
        native.select(before)
    n = len(rollouts)
    py, nat = (statistics.median(times[c]) / n * 1e6 for c in ("python", "native"))
    return {
        "workload": kind,
        "form": forms[0],
        "rollouts": n,
        "python_us": round(py, 2),
        "native_us": round(nat, 2),
        "speedup": round(py / nat, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer rollouts and rounds")
    ap.add_argument("--kinds", default=",".join(KINDS))
    args = ap.parse_args()
    if not native.available():
        raise SystemExit(f"turnscore_native is not installed ({native.import_error()})")
    groups, rounds = (4, 3) if args.quick else (32, 7)
    print(f"{'workload':10} {'form':9} {'rollouts':>8} {'python us':>10} {'native us':>10} {'speedup':>8}")
    for kind in args.kinds.split(","):
        for forms in FORMS:
            row = measure(kind, forms, groups if kind != "step" else max(groups // 8, 1), rounds)
            print(
                f"{row['workload']:10} {row['form']:9} {row['rollouts']:8d} {row['python_us']:10.2f}"
                f" {row['native_us']:10.2f} {row['speedup']:7.1f}x"
            )


if __name__ == "__main__":
    main()
