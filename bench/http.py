"""HTTP end-to-end: ``turnscore serve`` on 127.0.0.1, latency percentiles and throughput by batch size and
concurrency, against the floor (a bare ``orjson.loads`` of the same request bodies).

End-to-end = from sending the (pre-encoded) body to having decoded the response with orjson, as a
trainer would. The server is one process (``--workers 1``). Request loops are bounded by count and
time. ``ratio_to_floor`` = p50 latency at concurrency 1 / median ``orjson.loads`` time of the bodies.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from . import workloads
from .common import measure, percentiles, report, servers

HEADERS = {"content-type": "application/json"}
TARGET_RATIO = 4.0


def bodies(kind: str, groups: int, n: int, seed: int = 7, group_size: int = 16) -> list[bytes]:
    return [orjson.dumps(r) for r in workloads.make_requests(kind, n, groups, group_size, seed=seed)]


def floor_seconds(bods: list[bytes], repeats: int = 5) -> float:
    """Median CPU time of ``orjson.loads`` per body."""
    t = measure(lambda: [orjson.loads(b) for b in bods], repeats).summary()
    return t["cpu_median"] / len(bods)


def load(
    url: str, bods: list[bytes], concurrency: int, max_requests: int, max_seconds: float
) -> dict[str, Any]:
    """Send ``bods`` round-robin from ``concurrency`` threads; bounded by count and time."""
    lat: list[float] = []
    errors = [0]
    lock = threading.Lock()
    next_i = [0]
    stop_at = time.monotonic() + max_seconds

    def worker() -> None:
        with httpx.Client(timeout=300.0) as c:
            while True:
                with lock:
                    i = next_i[0]
                    next_i[0] += 1
                if i >= max_requests or time.monotonic() > stop_at:
                    return
                body = bods[i % len(bods)]
                t0 = time.perf_counter()
                r = c.post(url + "/v1/score", content=body, headers=HEADERS)
                if r.status_code == 200:
                    orjson.loads(r.content)
                    dt = time.perf_counter() - t0
                    with lock:
                        lat.append(dt)
                else:
                    with lock:
                        errors[0] += 1

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"latencies": lat, "elapsed": time.perf_counter() - t0, "errors": errors[0]}


def run(
    quick: bool = False,
    kinds: tuple[str, ...] = ("mixed", "step"),
    out_dir: Path | None = None,
) -> list[dict[str, Any]]:
    batch_groups = (1, 4) if quick else (1, 4, 16, 64)
    concurrencies = (1, 2) if quick else (1, 4)
    rows: list[dict[str, Any]] = []
    with servers(1, "--workers", "1") as (srv,):
        for kind in kinds:
            for groups in batch_groups:
                n_bodies = 2 if quick else max(2, min(8, 64 // groups))
                bods = bodies(kind, groups, n_bodies)
                floor = floor_seconds(bods)
                rollouts = groups * 16
                load(srv.url, bods, 1, 2, 30.0)  # warm-up (and the server's gold cache)
                for conc in concurrencies:
                    max_req = 4 if quick else max(8, min(200, 2000 // groups))
                    res = load(srv.url, bods, conc, max_req, 5.0 if quick else 20.0)
                    p = percentiles(res["latencies"])
                    done = len(res["latencies"])
                    rows.append(
                        {
                            "workload": kind,
                            "groups": groups,
                            "rollouts": rollouts,
                            "body_kb": sum(map(len, bods)) / len(bods) / 1024,
                            "concurrency": conc,
                            "requests": done,
                            "errors": res["errors"],
                            "p50_ms": 1e3 * p["p50"],
                            "p95_ms": 1e3 * p["p95"],
                            "p99_ms": 1e3 * p["p99"],
                            "rollouts_per_s": done * rollouts / res["elapsed"],
                            "floor_ms": 1e3 * floor,
                            "ratio_to_floor": p["p50"] / floor if conc == 1 else float("nan"),
                        }
                    )
                    print(rows[-1], flush=True)
    report(
        "http",
        "HTTP end-to-end (one server process) vs the orjson.loads floor",
        rows,
        {"target_ratio_large_batches": TARGET_RATIO},
        out_dir,
    )
    return rows
