"""Two replicas vs one behind the client's fan-out (``TurnScoreClient`` with several base URLs).

One training step (256 prompts x 16 rollouts by default) is scored with ``client.score`` which splits
it into requests of ``max_groups_per_request`` groups and sends them ``max_concurrency`` at a time,
round-robin over the URLs. Each replica is one ``turnscore serve --workers 1`` process. The client's
own CPU time is reported: on a machine with as many cores as replicas it competes with them.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from turnscore_client import TurnScoreClient

from . import workloads
from .common import report, servers

TARGET = 1.8


def _step(kind: str, prompts: int, group_size: int) -> list[dict[str, Any]]:
    return workloads.make_requests(kind, 1, prompts, group_size, seed=21)[0]["groups"]


def _measure(
    urls: list[str], groups: list[dict[str, Any]], steps: int, per_request: int, conc: int
) -> dict[str, Any]:
    with TurnScoreClient(urls, max_groups_per_request=per_request, max_concurrency=conc) as c:
        c.score(groups)  # warm-up: connections, and every gold is now cached (refs from here on)
        times = []
        cpu0 = time.process_time()
        for _ in range(steps):
            t0 = time.perf_counter()
            c.score(groups)
            times.append(time.perf_counter() - t0)
        client_cpu = time.process_time() - cpu0
    rollouts = sum(len(g["rollouts"]) for g in groups)
    best = min(times)
    return {
        "step_s_best": best,
        "step_s_median": sorted(times)[len(times) // 2],
        "rollouts_per_s": rollouts / (sorted(times)[len(times) // 2]),
        "client_cpu_share": client_cpu / sum(times),
    }


def run(
    quick: bool = False,
    kind: str = "mixed",
    prompts: int = 256,
    group_size: int = 16,
    out_dir: Path | None = None,
) -> list[dict[str, Any]]:
    if quick:
        prompts, group_size = 8, 4
    steps = 2 if quick else 12
    per_request, conc = (4, 2) if quick else (32, 4)
    groups = _step(kind, prompts, group_size)
    rows = []
    with servers(2, "--workers", "1") as srvs:
        for n in (1, 2):
            res = _measure([s.url for s in srvs[:n]], groups, steps, per_request, conc)
            rows.append(
                {
                    "replicas": n,
                    "workload": kind,
                    "rollouts_per_step": prompts * group_size,
                    "groups_per_request": per_request,
                    "client_concurrency": conc,
                    **res,
                }
            )
            print(rows[-1], flush=True)
    speedup = rows[0]["step_s_median"] / rows[1]["step_s_median"]
    for r in rows:
        r["speedup_vs_1"] = rows[0]["step_s_median"] / r["step_s_median"]
    report(
        "replicas",
        "Two replicas vs one behind the client's fan-out (wall time per training step)",
        rows,
        {"speedup": speedup, "target": TARGET, "usable_cpus": len(os.sched_getaffinity(0))},
        out_dir,
    )
    return rows
