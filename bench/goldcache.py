"""Gold cache: request bytes and end-to-end time with ``gold_ref`` vs the full gold traces.

The same groups are sent twice to one server: once with every group's full ``gold`` (which the
server compiles and caches) and once with only the ``gold_ref`` it returned. Also in-process: the
core with pre-compiled golds (what a cache hit gives) vs compiling them from the request.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import orjson
from turnscore.core import engine
from turnscore.core.gold import compile_gold

from . import workloads
from .common import measure, percentiles, report, servers
from .http import load


def _with_refs(req: dict[str, Any]) -> dict[str, Any]:
    groups = []
    for g in req["groups"]:
        ref = compile_gold(g["gold"]).ref
        groups.append({"id": g["id"], "gold_ref": ref, "rollouts": g["rollouts"]})
    return {**req, "groups": groups}


def _score_all(reqs: list[dict[str, Any]], golds: dict[str, Any]) -> list[Any]:
    return [engine.score(r, golds=golds) for r in reqs]


def run(quick: bool = False, out_dir: Path | None = None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    # short rollouts (where golds are a large share of the body) and long-horizon traces (big golds);
    # group size 4 and 16
    cases = [("mixed", 16), ("long", 16), ("long", 4)] if not quick else [("mixed", 4)]
    groups = 4 if quick else 64
    with servers(1, "--workers", "1") as (srv,):
        for kind, gsize in cases:
            full = workloads.make_requests(kind, 2 if quick else 4, groups, gsize, seed=11)
            refs = [_with_refs(r) for r in full]
            full_b = [orjson.dumps(r) for r in full]
            ref_b = [orjson.dumps(r) for r in refs]
            load(srv.url, full_b, 1, len(full_b), 60.0)  # the server learns every gold
            golds = {}
            for r in full:
                for g in r["groups"]:
                    cg = compile_gold(g["gold"])
                    golds[cg.ref] = cg
            n_req = 4 if quick else 40
            for label, bods, reqs in (("full gold", full_b, full), ("gold_ref", ref_b, refs)):
                res = load(srv.url, bods, 1, n_req, 60.0)
                p = percentiles(res["latencies"])
                core = measure(functools.partial(_score_all, reqs, golds), 1 if quick else 3).summary()
                rows.append(
                    {
                        "workload": kind,
                        "group_size": gsize,
                        "groups": groups,
                        "request": label,
                        "body_kb": sum(map(len, bods)) / len(bods) / 1024,
                        "http_p50_ms": 1e3 * p["p50"],
                        "http_p99_ms": 1e3 * p["p99"],
                        "core_ms": 1e3 * core["cpu_median"] / len(reqs),
                        "errors": res["errors"],
                    }
                )
                print(rows[-1], flush=True)
    report("goldcache", "Gold cache: gold_ref vs full gold traces (one server process)", rows, {}, out_dir)
    return rows
