"""Benchmark workloads: the real gold traces (``tests.support.gold``) perturbed into rollouts.

Every workload is a list of ``/v1/score`` request dicts built with :mod:`turnscore.workload` (dropped,
extra, renamed, wrong-valued and repeated calls, malformed blocks; all three input forms):

- ``mixed``: random gold traces, group size 16, all three forms, short text (what the lead measured).
- ``distinct``: as ``mixed`` but no two rollouts of a group are identical (the worst case for the
  core's deduplication of identical rollouts; GRPO groups on easy prompts do repeat outputs).
- ``long``: synthetic long-horizon traces of 8-11 calls over several turns, built from real calls.
- ``step``: the shape of one training step: 8K-token responses (about 32K characters of text per
  rollout) in the two forms that carry text (``text``, ``messages``).

``describe`` reports what a workload really contains (rollouts, calls, turns, bytes, duplicates).
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson
from turnscore import workload

from tests.support.gold import SAMPLE, full_set_dir, gold_records

CHARS_PER_TOKEN = 4


@cache
def records() -> list[dict[str, Any]]:
    """Every gold trace record (cached; the files are read once per process): the full set, else the sample
    (with a warning: its numbers are not comparable to docs/PERFORMANCE.md's)."""
    if full_set_dir() is None:
        print(f"warning: the full gold set is absent, measuring on the sample {SAMPLE.name}", file=sys.stderr)
    return gold_records()


def _calls_pool(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for r in recs for turn in r["gold"]["turns"] for c in turn]


def long_horizon_records(
    n: int, seed: int = 0, min_calls: int = 8, max_calls: int = 11, recs: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """``n`` synthetic gold traces of ``min_calls..max_calls`` real calls in turns of 1-3 calls."""
    recs = recs if recs is not None else records()
    pool = _calls_pool(recs)
    answers = [r["gold"]["answer"] for r in recs if r["gold"].get("answer")]
    rng = random.Random(seed)
    out = []
    for k in range(n):
        left = rng.randint(min_calls, max_calls)
        turns: list[list[dict[str, Any]]] = []
        while left:
            size = min(left, rng.randint(1, 3))
            turns.append([rng.choice(pool) for _ in range(size)])
            left -= size
        out.append({"id": f"long:{k}", "gold": {"turns": turns, "answer": rng.choice(answers)}})
    return out


def make_requests(
    kind: str,
    n_requests: int,
    groups: int,
    group_size: int = 16,
    seed: int = 0,
    preset: str | None = None,
    filler_chars: int | None = None,
    forms: tuple[str, ...] = workload.FORMS,
) -> list[dict[str, Any]]:
    """``n_requests`` requests of ``groups`` groups of ``group_size`` rollouts for a workload ``kind``."""
    if kind == "step":
        # 8K tokens over about 2.3 assistant turns per rollout (call turns + answer turn): ~32K
        # characters per rollout; only the forms that carry response text (``turns`` has none)
        fill = 8192 * CHARS_PER_TOKEN * 10 // 23 if filler_chars is None else filler_chars
        forms = tuple(f for f in forms if f != "turns") or forms
        recs = records()
    elif kind == "long":
        fill = filler_chars or 0
        recs = long_horizon_records(512, seed=seed)
    elif kind in ("mixed", "distinct"):
        fill = filler_chars or 0
        recs = records()
    else:
        raise ValueError(f"unknown workload {kind!r}")
    out = []
    for k in range(n_requests):
        s = seed * 100_003 + k
        if kind == "distinct":
            req = _distinct_request(recs, groups, group_size, s, forms, fill)
            if preset is not None:
                req["preset"] = preset
        else:
            req = workload.make_request(recs, groups, group_size, s, forms, preset, fill)
        out.append(req)
    return out


def _distinct_request(
    recs: list[dict[str, Any]], groups: int, group_size: int, seed: int, forms: tuple[str, ...], fill: int
) -> dict[str, Any]:
    """Groups whose rollouts are pairwise distinct (redrawn from the same generator; capped tries)."""
    rng = random.Random(seed)
    out = []
    for _ in range(groups):
        rec = recs[rng.randrange(len(recs))]
        seen: set[bytes] = set()
        rollouts: list[dict[str, Any]] = []
        for _try in range(50 * group_size):
            one = workload.make_group(rec, 1, rng, forms, fill)["rollouts"][0]
            key = orjson.dumps(one)
            if key not in seen:
                seen.add(key)
                rollouts.append(one)
                if len(rollouts) == group_size:
                    break
        while len(rollouts) < group_size:  # a trace with too little variety: pad (counted by describe)
            rollouts.append(rollouts[-1])
        out.append({"id": rec.get("id"), "gold": workload.gold_of(rec), "rollouts": rollouts})
    return {"groups": out}


@dataclass(slots=True)
class Description:
    requests: int
    rollouts: int
    bytes_per_rollout: float
    calls_per_rollout: float
    max_calls: int
    turns_per_rollout: float
    duplicate_rollouts: float  # fraction of rollouts identical to an earlier one of their group

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


def _count_calls(ro: dict[str, Any]) -> tuple[int, int]:
    if "turns" in ro:
        turns = ro["turns"]
        return sum(len(t.get("tool_calls") or []) for t in turns), len(turns)
    if "messages" in ro:
        asst = [m for m in ro["messages"] if m.get("role") == "assistant"]
        return sum(len(m.get("tool_calls") or []) for m in asst), len(asst)
    text = ro["text"]
    return text.count("<tool_call>"), text.count(workload.SEP) + 1


def describe(requests: list[dict[str, Any]]) -> Description:
    n = calls = turns = dups = mx = 0
    size = 0
    for req in requests:
        size += len(orjson.dumps(req))
        for g in req["groups"]:
            seen: set[bytes] = set()
            for ro in g["rollouts"]:
                key = orjson.dumps(ro)
                dups += key in seen
                seen.add(key)
                c, t = _count_calls(ro)
                calls += c
                turns += t
                mx = max(mx, c)
                n += 1
    n = max(n, 1)
    return Description(len(requests), n, size / n, calls / n, mx, turns / n, dups / n)
