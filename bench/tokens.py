"""Token placement: ``turnscore_client.tokens.place_per_turn`` vs a per-token Python loop.

The loop has the shape of the public MatchTIR code: walk every token of every row, count turns at the
start of each run of 1s in the response mask, write the turn's advantage. Both run on the same
(B, L) masks (turns of assistant tokens separated by tool-observation gaps, then padding) and must
give the same tensor. The loop is timed on a subset of rows (it is slow); the ratio is per row.
"""

from __future__ import annotations

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
    rows, length = mask.shape
    out = np.zeros((rows, length), dtype=np.float32)
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


def torch_loop_place(mask: Any, values: list[list[float]]) -> Any:
    """The same loop on torch tensors (how a verl-based trainer holds the mask); needs torch."""
    import torch

    rows, length = mask.shape
    out = torch.zeros((rows, length), dtype=torch.float32)
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


def place_by_segments(mask: np.ndarray, values: list[list[float]], fill: float = 0.0) -> np.ndarray:
    """A candidate for ``place_per_turn`` (fill policy): one ``np.repeat`` over the flat output.

    Row-major, the output is piecewise constant: 0 on every gap between runs, the turn's value on
    every run. ``find_segments`` gives the runs; the pieces (gap, run, gap, run, ..., tail gap) and
    their lengths go to one ``np.repeat`` (no (B, L) integer temporaries). Kept here to measure it.
    """
    from turnscore_client.tokens import find_segments, ragged_to_padded

    rows, length = mask.shape
    padded, lengths = ragged_to_padded(values, rows=rows)
    seg = find_segments(mask)
    n = seg.row.size
    flat_start = seg.row * length + seg.start
    flat_end = seg.row * length + seg.end + 1
    have = seg.turn < lengths[seg.row]
    run_val = np.full(n, fill, dtype=np.float32)
    run_val[have] = padded[seg.row[have], seg.turn[have]]
    piece_len = np.empty(2 * n + 1, dtype=np.int64)
    prev_end = np.concatenate(([0], flat_end))
    piece_len[0::2] = np.concatenate((flat_start, [rows * length])) - prev_end
    piece_len[1::2] = flat_end - flat_start
    piece_val = np.zeros(2 * n + 1, dtype=np.float32)
    piece_val[1::2] = run_val
    return np.repeat(piece_val, piece_len).reshape(rows, length)


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
    got, _ = place_per_turn(sub_mask, sub_values)
    assert np.array_equal(ref, got), "place_per_turn and the loop disagree"
    t_loop = measure(lambda: loop_place(sub_mask, sub_values), max(1, repeats // 2), warmup=0).summary()
    t_vec_sub = measure(lambda: place_per_turn(sub_mask, sub_values), repeats).summary()
    t_vec = measure(lambda: place_per_turn(mask, values), repeats).summary()
    cand_sub = place_by_segments(sub_mask, sub_values)
    assert np.array_equal(cand_sub, ref), "place_by_segments and the loop disagree"
    assert np.array_equal(place_by_segments(mask, values), place_per_turn(mask, values)[0])
    t_cand_sub = measure(lambda: place_by_segments(sub_mask, sub_values), repeats).summary()
    t_cand = measure(lambda: place_by_segments(mask, values), repeats).summary()
    per_row_loop = t_loop["cpu_median"] / loop_rows
    rows_out: list[dict[str, Any]] = [
        {
            "method": "per-token Python loop",
            "rows": loop_rows,
            "L": length,
            "ms": 1e3 * t_loop["cpu_median"],
            "us_per_row": 1e6 * per_row_loop,
            "speedup": 1.0,
        },
        {
            "method": "place_per_turn (same rows)",
            "rows": loop_rows,
            "L": length,
            "ms": 1e3 * t_vec_sub["cpu_median"],
            "us_per_row": 1e6 * t_vec_sub["cpu_median"] / loop_rows,
            "speedup": t_loop["cpu_median"] / t_vec_sub["cpu_median"],
        },
        {
            "method": "place_per_turn (full batch)",
            "rows": rows,
            "L": length,
            "ms": 1e3 * t_vec["cpu_median"],
            "us_per_row": 1e6 * t_vec["cpu_median"] / rows,
            "speedup": per_row_loop / (t_vec["cpu_median"] / rows),
        },
        {
            "method": "candidate: place_by_segments (same rows)",
            "rows": loop_rows,
            "L": length,
            "ms": 1e3 * t_cand_sub["cpu_median"],
            "us_per_row": 1e6 * t_cand_sub["cpu_median"] / loop_rows,
            "speedup": t_loop["cpu_median"] / t_cand_sub["cpu_median"],
        },
        {
            "method": "candidate: place_by_segments (full batch)",
            "rows": rows,
            "L": length,
            "ms": 1e3 * t_cand["cpu_median"],
            "us_per_row": 1e6 * t_cand["cpu_median"] / rows,
            "speedup": per_row_loop / (t_cand["cpu_median"] / rows),
        },
    ]
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:  # e.g. `.venv-verl/bin/python -m bench.run tokens`
        few = 2
        tmask = torch.from_numpy(mask[:few].astype(np.int64))
        t_torch = measure(lambda: torch_loop_place(tmask, values[:few]), 1, warmup=0).summary()
        per_row_torch = t_torch["cpu_median"] / few
        rows_out.insert(
            1,
            {
                "method": "per-token Python loop, torch tensors",
                "rows": few,
                "L": length,
                "ms": 1e3 * t_torch["cpu_median"],
                "us_per_row": 1e6 * per_row_torch,
                "speedup": per_row_loop / per_row_torch,
            },
        )
        for r in rows_out:
            r["speedup_vs_torch_loop"] = per_row_torch / (float(r["us_per_row"]) / 1e6)
    report(
        "tokens",
        "Token placement of per-turn advantages on (B, L) masks (CPU time)",
        rows_out,
        {"params": {"rows": rows, "length": length, "loop_rows": loop_rows}, "target_speedup": TARGET},
        out_dir,
    )
    return rows_out
