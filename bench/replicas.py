"""Two replicas vs one behind the client's fan-out (``TurnScoreClient`` with several base URLs).

One training step (256 prompts x 16 rollouts by default) is scored with ``client.score`` which splits
it into requests of ``max_groups_per_request`` groups and sends them ``max_concurrency`` at a time,
round-robin over the URLs. Steps through one replica and through two alternate, so that both
configurations see the same (shared, noisy) machine. Each replica is one ``turnscore serve
--workers 1`` process. The client's and the servers' CPU time per step are reported: on a machine with
as many cores as replicas the client competes with them, and ``speedup_ceiling_here`` is the speedup
this machine's cores allow at the measured CPU work per step (a step takes at least its total CPU over
the cores, and at least the busiest replica's CPU).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from turnscore_client import TurnScoreClient

from . import workloads
from .common import Server, report, servers

TARGET = 1.8


def _step(kind: str, prompts: int, group_size: int) -> list[dict[str, Any]]:
    return workloads.make_requests(kind, 1, prompts, group_size, seed=21)[0]["groups"]


def _interleaved(
    srvs: list[Server], groups: list[dict[str, Any]], steps: int, per_request: int, conc: int
) -> dict[int, dict[str, Any]]:
    """Steps through one replica and through two, alternating, so both see the same machine."""
    fleets = {1: srvs[:1], 2: srvs[:2]}
    clients = {
        n: TurnScoreClient([s.url for s in fleet], max_groups_per_request=per_request, max_concurrency=conc)
        for n, fleet in fleets.items()
    }
    times: dict[int, list[float]] = {n: [] for n in fleets}
    client_cpu = dict.fromkeys(fleets, 0.0)
    server_cpu = {n: [0.0] * len(fleet) for n, fleet in fleets.items()}
    try:
        for c in clients.values():
            c.score(groups)  # warm-up: connections, and every gold is now cached (refs from here on)
        for _ in range(steps):
            for n, c in clients.items():
                s0 = [s.cpu_seconds() for s in fleets[n]]
                c0, t0 = time.process_time(), time.perf_counter()
                c.score(groups)
                times[n].append(time.perf_counter() - t0)
                client_cpu[n] += time.process_time() - c0
                for k, s in enumerate(fleets[n]):
                    server_cpu[n][k] += s.cpu_seconds() - s0[k]
    finally:
        for c in clients.values():
            c.close()
    rollouts = sum(len(g["rollouts"]) for g in groups)
    out = {}
    for n in fleets:
        median = float(np.median(times[n]))
        out[n] = {
            "step_s_best": min(times[n]),
            "step_s_median": median,
            "rollouts_per_s": rollouts / median,
            "client_cpu_share": client_cpu[n] / sum(times[n]),
            "client_cpu_s_per_step": client_cpu[n] / steps,
            "server_cpu_s_per_step": sum(server_cpu[n]) / steps,
            "busiest_server_cpu_s_per_step": max(server_cpu[n]) / steps,
        }
    return out


def run(
    quick: bool = False,
    kind: str = "mixed",
    prompts: int = 256,
    group_size: int = 16,
    out_dir: Path | None = None,
) -> list[dict[str, Any]]:
    if quick:
        prompts, group_size = 8, 4
    steps = 2 if quick else 16
    per_request, conc = (4, 2) if quick else (32, 4)
    groups = _step(kind, prompts, group_size)
    rows = []
    with servers(2, "--workers", "1") as srvs:
        measured = _interleaved(srvs, groups, steps, per_request, conc)
    for n, res in measured.items():
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
    cpus = len(os.sched_getaffinity(0))
    for r in rows:
        r["speedup_vs_1"] = rows[0]["step_s_median"] / r["step_s_median"]
        # no step can be shorter than its CPU work spread over the machine's cores, nor than the
        # busiest replica's own work (one process is one core)
        floor = max(
            (r["server_cpu_s_per_step"] + r["client_cpu_s_per_step"]) / cpus,
            r["busiest_server_cpu_s_per_step"],
        )
        r["cpu_bound_step_s"] = floor
        r["speedup_ceiling_here"] = rows[0]["step_s_median"] / floor
    report(
        "replicas",
        "Two replicas vs one behind the client's fan-out (wall time per training step)",
        rows,
        {"speedup": rows[1]["speedup_vs_1"], "target": TARGET, "usable_cpus": cpus},
        out_dir,
    )
    return rows
