"""Token placement: ``turnscore_client.tokens.place_per_turn`` vs a per-token Python loop.

The loop has the shape of the public MatchTIR code: walk every token of every row, count turns at the
start of each run of 1s in the response mask, write the turn's advantage. Both run on the same
(B, L) masks (turns of assistant tokens separated by tool-observation gaps, then padding) and must
give the same tensor. The loop is timed on a subset of rows (it is slow); the ratio is per row.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from turnscore_client.tokens import place_per_turn

from .common import measure, report

TARGET = 1000.0


def make_batch(rows: int, length: int, seed: int = 0) -> tuple[np.ndarray, list[list[float]]]:
    """(B, L) int8 response masks with 1-11 turns per row and the per-turn advantages."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((rows, length), dtype=np.int8)
    values: list[list[float]] = []
    for i in range(rows):
        turns = int(rng.integers(1, 12))
        used = int(rng.integers(length // 2, length + 1))
        cuts = np.sort(rng.choice(np.arange(1, used), size=2 * turns - 1, replace=False))
        edges = [0, *cuts.tolist(), used]
        for t in range(turns):  # even pieces are assistant turns, odd ones tool observations
            mask[i, edges[2 * t] : edges[2 * t + 1]] = 1
        values.append(rng.normal(size=turns).tolist())
    return mask, values


def loop_place(mask: np.ndarray, values: list[list[float]]) -> np.ndarray:
    """The straightforward per-token loop (reference-code shape)."""
    return _loop(mask, values, np.zeros(mask.shape, dtype=np.float32))


def torch_loop_place(mask: Any, values: list[list[float]]) -> Any:
    """The same loop on torch tensors (how a verl-based trainer holds the mask); needs torch."""
    import torch

    return _loop(mask, values, torch.zeros(tuple(mask.shape), dtype=torch.float32))


def _loop(mask: Any, values: list[list[float]], out: Any) -> Any:
    rows, length = mask.shape
    for i in range(rows):
        turn = -1
        prev = 0
        for j in range(length):
            cur = mask[i, j]
            if cur == 1 and prev == 0:
                turn += 1
            if cur == 1 and turn < len(values[i]):
                out[i, j] = values[i][turn]
            prev = cur
    return out


def run(
    rows: int = 4096,
    length: int = 8192,
    loop_rows: int = 64,
    repeats: int = 3,
    out_dir: Path | None = None,
) -> list[dict[str, Any]]:
    mask, values = make_batch(rows, length)
    sub_mask, sub_values = mask[:loop_rows], values[:loop_rows]
    ref = loop_place(sub_mask, sub_values)
    assert np.array_equal(ref, place_per_turn(sub_mask, sub_values)[0]), (
        "place_per_turn and the loop disagree"
    )
    timed = [  # (method, rows, CPU seconds)
        (
            "per-token Python loop (numpy arrays)",
            loop_rows,
            _cpu(lambda: loop_place(sub_mask, sub_values), 1),
        ),
        (
            "place_per_turn (same rows)",
            loop_rows,
            _cpu(lambda: place_per_turn(sub_mask, sub_values), repeats),
        ),
        ("place_per_turn (full batch)", rows, _cpu(lambda: place_per_turn(mask, values), repeats)),
    ]
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:  # e.g. `.venv-verl/bin/python -m bench.run tokens`
        few = min(2, rows)
        tmask = torch.from_numpy(mask[:few].astype(np.int64))
        got = torch_loop_place(tmask, values[:few]).numpy()
        assert np.array_equal(got, ref[:few]), "the torch loop and the numpy loop disagree"
        timed.insert(
            1,
            (
                "per-token Python loop (torch tensors, as verl holds them)",
                few,
                _cpu(lambda: torch_loop_place(tmask, values[:few]), 1),
            ),
        )
    loop_row = timed[0][2] / timed[0][1]
    torch_row = timed[1][2] / timed[1][1] if torch is not None else None
    rows_out: list[dict[str, Any]] = []
    for method, n, seconds in timed:
        row: dict[str, Any] = {
            "method": method,
            "rows": n,
            "L": length,
            "ms": 1e3 * seconds,
            "us_per_row": 1e6 * seconds / n,
            "speedup": loop_row / (seconds / n),
        }
        if torch_row is not None:
            row["speedup_vs_torch_loop"] = torch_row / (seconds / n)
        rows_out.append(row)
    report(
        "tokens",
        "Token placement of per-turn advantages on (B, L) masks (CPU time)",
        rows_out,
        {"params": {"rows": rows, "length": length, "loop_rows": loop_rows}, "target_speedup": TARGET},
        out_dir,
    )
    return rows_out


def _cpu(fn: Callable[[], Any], repeats: int) -> float:
    """Median CPU seconds of ``fn`` (the loops are slow: no warm-up call for one repeat)."""
    return float(measure(fn, repeats, warmup=0 if repeats == 1 else 1).summary()["cpu_median"])
