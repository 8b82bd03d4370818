"""The lean path of ``engine.score`` (core/lean.py) on vs off: thread CPU time medians, alternated in one run.

``python -m bench.lean [repeats]`` prints per request the median thread CPU ms with the lean path on and
off, and their ratio (off / on)."""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

from turnscore.core import engine, lean, native

from bench import native as bench_native
from bench import workloads


def requests() -> dict[str, dict[str, Any]]:
    """The issue's request and one "distinct" and one "long" request (64 groups of 16), matchtir-km."""
    out = {"issue (text, 512)": bench_native.issue_request()}
    for kind in ("distinct", "long"):
        out[f"{kind} (64x16)"] = workloads.make_requests(kind, 1, 64, 16, seed=1, preset="matchtir-km")[0]
    return out


def measure(request: dict[str, Any], repeats: int) -> tuple[float, float]:
    """Median thread CPU seconds of ``engine.score`` with the lean path on and off (alternated)."""
    times: dict[bool, list[float]] = {True: [], False: []}
    for on in (True, False):  # warm-up
        lean.LEAN = on
        engine.score(request)
    for _ in range(repeats):
        for on in (True, False):
            lean.LEAN = on
            t = time.thread_time()
            engine.score(request)
            times[on].append(time.thread_time() - t)
    lean.LEAN = True
    return statistics.median(times[True]), statistics.median(times[False])


def main(repeats: int = 15) -> None:
    native.select("native")
    for name, request in requests().items():
        on, off = measure(request, repeats)
        print(f"{name:20s} lean {on * 1e3:8.2f} ms  off {off * 1e3:8.2f} ms  off/on {off / on:5.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 15)
