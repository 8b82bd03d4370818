"""Which ranking properties hold, for every preset, over the real gold traces (docs/SCORING.md §9).

For each trace (``tests.support.gold.gold_records``: the full set when present, else the vendored sample) one
group holds the exact gold trace rendered in three turn splits and its perturbations
(``turnscore.workload.ranking_group``: every single mistake at every site, plus a few rollouts with 2-3
mistakes), all in the ``text`` form, scored in-process by ``turnscore.core.engine``. Per preset it reports
the share of traces where

- the gold's return R is the same in every split (within 1e-9),
- the gold in every split scores at least as high as every perturbation (single or combined),
- the gold in every split scores strictly higher than every single perturbation of each kind (share of the
  traces where that kind applies).

    python -m bench.properties                 # every preset, markdown table on stdout
    python -m bench.properties --sample        # the vendored sample only (fast)
    python -m bench.properties --presets turnscore-v1 --failures
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from turnscore.core import engine
from turnscore.workload import PERTURBATIONS, ranking_group

from tests.support.gold import gold_files, gold_records

TOL = 1e-9
# Extra rows beside the presets: settings this page discusses (label, preset, config overrides).
VARIANTS: list[tuple[str, str, dict[str, Any]]] = [
    ("matchtir-ot + row_normalize", "matchtir-ot", {"row_normalize": True}),
    (
        "turnscore-v1 + ot, row_normalize",
        "turnscore-v1",
        {"assignment": "ot", "row_normalize": True},
    ),
]


@dataclass(slots=True)
class TraceResult:
    """The properties of one trace under one preset."""

    id: str
    split_invariant: bool
    gold_at_least_all: bool
    beats: dict[str, bool] = field(default_factory=dict)  # kind -> gold > every single perturbation of it
    worst: str = ""  # the label of the highest-scoring perturbation (for failure reports)
    # the same comparisons against the gold rendered in the perturbation's own split
    same_split_at_least_all: bool = True
    same_split_beats_singles: bool = True

    @property
    def all_hold(self) -> bool:
        return self.split_invariant and self.gold_at_least_all and all(self.beats.values())


def check(record_id: str, returns: Sequence[float], labels: Sequence[str]) -> TraceResult:
    """The properties, from the returns of one :func:`ranking_group` group (labels ``<what>@<split>``)."""
    parsed = [(*label.rsplit("@", 1), r) for label, r in zip(labels, returns, strict=True)]
    gold = {how: r for what, how, r in parsed if what == "gold"}
    others = [(what, how, r) for what, how, r in parsed if what != "gold"]
    low = min(gold.values())
    beats: dict[str, bool] = {}
    for what, _how, r in others:
        if what in PERTURBATIONS:
            beats[what] = beats.get(what, True) and r < low - TOL
    worst = max(others, key=lambda x: x[2]) if others else ("", "", 0.0)
    return TraceResult(
        record_id,
        split_invariant=max(gold.values()) - low <= TOL,
        gold_at_least_all=all(r <= low + TOL for _, _, r in others),
        beats=beats,
        worst=f"{worst[0]}@{worst[1]}",
        same_split_at_least_all=all(r <= gold[how] + TOL for _, how, r in others),
        same_split_beats_singles=all(r < gold[how] - TOL for what, how, r in others if what in PERTURBATIONS),
    )


def evaluate(
    records: Sequence[dict[str, Any]],
    preset: str,
    config: dict[str, Any] | None = None,
    combos: int = 4,
    seed: int = 0,
    batch: int = 64,
    form: str = "text",
) -> list[TraceResult]:
    """Every record's :class:`TraceResult` under ``preset`` (+ ``config``), rollouts in ``form``;
    ``batch`` groups per request."""
    out: list[TraceResult] = []
    for start in range(0, len(records), batch):
        chunk = records[start : start + batch]
        groups, labels = [], []
        for i, record in enumerate(chunk, start):
            group, group_labels = ranking_group(record, random.Random(f"{seed}:{i}"), combos, form)
            groups.append(group)
            labels.append(group_labels)
        request: dict[str, Any] = {"preset": preset, "groups": groups}
        if config:
            request["config"] = config
        body = engine.score(request).body
        for record, group, group_labels in zip(chunk, body["groups"], labels, strict=True):
            returns = [r["return"] for r in group["rollouts"]]
            out.append(check(str(record.get("id")), returns, group_labels))
    return out


def _share(hits: int, total: int) -> str:
    return f"{100.0 * hits / total:.1f}%" if total else "–"


def summary_row(label: str, results: Sequence[TraceResult]) -> dict[str, str]:
    row = {
        "preset": label,
        "R same in every split": _share(sum(r.split_invariant for r in results), len(results)),
        "gold ≥ every perturbation": _share(sum(r.gold_at_least_all for r in results), len(results)),
    }
    for kind in PERTURBATIONS:
        applicable = [r.beats[kind] for r in results if kind in r.beats]
        row[f"> {kind.replace('_', ' ')}"] = _share(sum(applicable), len(applicable))
    row["all"] = _share(sum(r.all_hold for r in results), len(results))
    row["same split: ≥ every"] = _share(sum(r.same_split_at_least_all for r in results), len(results))
    row["same split: > each single"] = _share(sum(r.same_split_beats_singles for r in results), len(results))
    return row


def markdown(rows: Sequence[dict[str, str]], counts: dict[str, int]) -> str:
    heads = list(rows[0])
    shown = [
        h
        if h.lstrip("> ").replace(" ", "_") not in counts
        else f"{h} ({counts[h.lstrip('> ').replace(' ', '_')]})"
        for h in heads
    ]
    lines = ["| " + " | ".join(shown) + " |", "|" + "---|" * len(heads)]
    lines += ["| " + " | ".join(f"`{r[h]}`" if h == "preset" else r[h] for h in heads) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.properties", description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--presets", default="", help="comma-separated presets (default: every preset + variants)"
    )
    ap.add_argument(
        "--sample", action="store_true", help="the vendored sample even when the full set is present"
    )
    ap.add_argument("--combos", type=int, default=4, help="rollouts with 2-3 random mistakes per trace")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--failures", action="store_true", help="list the traces where a property fails")
    args = ap.parse_args(argv)
    records = gold_records(sample=args.sample)
    runs: list[tuple[str, str, dict[str, Any]]]
    if args.presets:
        runs = [(p, p, {}) for p in args.presets.split(",")]
    else:
        runs = [(p, p, {}) for p in engine.presets()] + VARIANTS
    rows, counts = [], {}
    for label, preset, config in runs:
        t0 = time.perf_counter()
        results = evaluate(records, preset, config, args.combos, args.seed)
        rows.append(summary_row(label, results))
        for kind in PERTURBATIONS:
            counts[kind] = sum(kind in r.beats for r in results)
        print(f"{label}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        if args.failures:
            for r in results:
                if not r.all_hold:
                    failed = [k for k, ok in r.beats.items() if not ok]
                    print(
                        f"  {r.id}: split-invariant={r.split_invariant} ≥all={r.gold_at_least_all} "
                        f"not beaten: {failed} highest: {r.worst}",
                        file=sys.stderr,
                    )
    files = ", ".join(p.name for p in gold_files(args.sample))
    print(
        f"{len(records)} traces ({files}), seed {args.seed}, {args.combos} combined perturbations per trace, "
        f"{datetime.now(UTC):%Y-%m-%d}; `python -m bench.properties{' --sample' if args.sample else ''}`\n"
    )
    print(markdown(rows, counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
