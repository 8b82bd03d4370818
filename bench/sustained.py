"""Sustained load: minutes of a bounded request loop against one server; throughput, p99, memory.

Four client threads send a pool of pre-encoded bodies (full gold traces, so the server's gold cache
keeps seeing traces; the pool covers many different traces) for ``seconds`` (and at most
``max_requests``), to a server on the given ``--core`` (default auto). The server's resident memory is
sampled every ``sample_s``; "growth" compares the end with the first sample after the warm-up (the first
fifth of the run).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from .common import percentiles, report, servers
from .http import bodies, load


def run(
    seconds: float = 180.0,
    concurrency: int = 4,
    groups: int = 16,
    sample_s: float = 5.0,
    max_requests: int = 1_000_000,
    out_dir: Path | None = None,
    core: str = "auto",
) -> dict[str, Any]:
    pool = bodies("mixed", groups, 16 if seconds < 30 else 64, seed=31)
    samples: list[tuple[float, int]] = []
    with servers(1, "--workers", "1", "--core", core) as (srv,):
        core = httpx.get(srv.url + "/readyz").json()["core"]  # what auto resolved to
        load(srv.url, pool[:4], 1, 4, 30.0)  # warm-up
        stop = threading.Event()
        t0 = time.monotonic()

        def sampler() -> None:
            while not stop.is_set():
                samples.append((time.monotonic() - t0, srv.rss_bytes()))
                stop.wait(sample_s)

        th = threading.Thread(target=sampler, daemon=True)
        th.start()
        windows = []
        lat_all: list[float] = []
        done = 0
        while time.monotonic() - t0 < seconds and done < max_requests:
            win = min(30.0, seconds - (time.monotonic() - t0))
            if win <= 0.5:
                break
            res = load(srv.url, pool, concurrency, max_requests - done, win)
            n = len(res["latencies"])
            done += n
            lat_all += res["latencies"]
            p = percentiles(res["latencies"])
            windows.append(
                {
                    "t_end_s": time.monotonic() - t0,
                    "requests": n,
                    "errors": res["errors"],
                    "rollouts_per_s": n * groups * 16 / res["elapsed"],
                    "p50_ms": 1e3 * p["p50"],
                    "p99_ms": 1e3 * p["p99"],
                    "rss_mb": srv.rss_bytes() / 2**20,
                }
            )
            print(windows[-1], flush=True)
        stop.set()
        th.join()
    warm = [r for t, r in samples if t >= seconds / 5] or [r for _, r in samples]
    rss = np.array([r for _, r in samples], dtype=float)
    growth = (warm[-1] - warm[0]) / warm[0] if warm else float("nan")
    p = percentiles(lat_all)
    summary = {
        "core": core,
        "seconds": seconds,
        "requests": done,
        "rollouts_per_s": done * groups * 16 / max(seconds, 1e-9),
        "p50_ms": 1e3 * p["p50"],
        "p99_ms": 1e3 * p["p99"],
        "rss_start_mb": float(rss[0]) / 2**20 if rss.size else float("nan"),
        "rss_after_warmup_mb": warm[0] / 2**20 if warm else float("nan"),
        "rss_end_mb": warm[-1] / 2**20 if warm else float("nan"),
        "rss_max_mb": float(rss.max()) / 2**20 if rss.size else float("nan"),
        "growth_after_warmup_pct": 100 * growth,
    }
    report(
        "sustained",
        f"Sustained load ({seconds:.0f} s, {concurrency} client threads, {groups}x16 rollouts per request)",
        windows,
        {"summary": summary, "rss_samples": samples, "groups_per_request": groups},
        out_dir,
    )
    print(summary)
    return summary
