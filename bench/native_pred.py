"""Model calls to match keys: directly (``decode_pred``) vs the old way (``decode_call`` + ``pred_call``).

The bodies are the gold calls (and perturbed rollout calls) written as models write them (``plain``:
arguments as an object; ``text``: arguments as a JSON string). Per mode, the thread CPU time of reading all
of them once each way inside the extension (``turnscore_native.pred_bench``), in alternating rounds;
medians of the rounds, nanoseconds per call and the ratio. Run: ``python -m bench.native_pred [--rounds N]``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from typing import Any

from turnscore import workload
from turnscore.core.calls import Call
from turnscore.core.limits import MAX_NESTED_JSON_DEPTH

from tests.support.gold import gold_records


def bodies(shape: str) -> list[str]:
    """Every gold call and perturbed rollout call with a string name and object arguments, as JSON text."""
    rng = random.Random(1)
    out = []
    for record in gold_records():
        turns = record["gold"]["turns"]
        perturbed = workload.perturb_turns(turns, rng, 0.5)
        for call in [c for t in turns + perturbed for c in t]:
            name, args = call.get("name"), call.get("arguments")
            if isinstance(name, str) and isinstance(args, dict):
                arguments: Any = args if shape == "plain" else json.dumps(args)
                out.append(json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False))
    return out


def measure(shape: str, mode: str, rounds: int, repeat: int) -> dict[str, Any]:
    import turnscore_native as ext

    texts = bodies(shape)
    times: dict[str, list[float]] = {"old": [], "direct": []}
    counts = set()
    for _ in range(rounds):
        for way, call_type in (("old", Call), ("direct", None)):
            t0 = time.thread_time()
            for _ in range(repeat):
                counts.add(ext.pred_bench(texts, MAX_NESTED_JSON_DEPTH, mode, False, call_type))
            times[way].append(time.thread_time() - t0)
    assert len(counts) == 1, counts  # both ways read the same calls and arguments
    n = len(texts) * repeat
    old, direct = (statistics.median(times[w]) / n * 1e9 for w in ("old", "direct"))
    return {
        "shape": shape,
        "mode": mode,
        "calls": len(texts),
        "old_ns": round(old),
        "direct_ns": round(direct),
        "speedup": round(old / direct, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    for shape in ("plain", "text"):
        for mode in ("exact", "normalized", "python"):
            print(json.dumps(measure(shape, mode, args.rounds, args.repeat)))


if __name__ == "__main__":
    main()
