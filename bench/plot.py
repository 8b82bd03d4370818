"""Latency vs batch size (from ``bench/results/http.json``) as ``docs/perf_latency.png``."""

from __future__ import annotations

from pathlib import Path

import orjson

from .common import RESULTS, ROOT

PNG = ROOT / "docs" / "perf_latency.png"


def run(out_dir: Path | None = None, png: Path | None = None) -> Path | None:
    src = (out_dir or RESULTS) / "http.json"
    if not src.exists():
        print(f"no {src}: run `python -m bench.run http` first")
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[bench]'); no plot")
        return None
    rows = orjson.loads(src.read_bytes())["rows"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, kind in zip(axes, sorted({r["workload"] for r in rows}), strict=False):
        for conc in sorted({r["concurrency"] for r in rows}):
            sel = sorted(
                (r for r in rows if r["workload"] == kind and r["concurrency"] == conc),
                key=lambda r: r["rollouts"],
            )
            x = [r["rollouts"] for r in sel]
            ax.plot(x, [r["p50_ms"] for r in sel], marker="o", label=f"p50, concurrency {conc}")
            ax.plot(
                x, [r["p99_ms"] for r in sel], marker="x", linestyle="--", label=f"p99, concurrency {conc}"
            )
        floor = sorted(
            (r for r in rows if r["workload"] == kind and r["concurrency"] == 1), key=lambda r: r["rollouts"]
        )
        ax.plot(
            [r["rollouts"] for r in floor],
            [r["floor_ms"] for r in floor],
            color="gray",
            linestyle=":",
            label="orjson.loads floor",
        )
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("rollouts per request (groups x 16)")
        ax.set_ylabel("end-to-end latency (ms)")
        ax.set_title(f"workload: {kind}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("turnscore HTTP latency vs batch size (one server process, 127.0.0.1)")
    fig.tight_layout()
    target = png or (PNG if out_dir is None else out_dir / "perf_latency.png")
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=110)
    print(f"-> {target}")
    return target
