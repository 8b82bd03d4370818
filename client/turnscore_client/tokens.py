"""Per-turn values <-> token-level tensors over a response mask.

A trainer keeps one row per rollout: ``response_mask`` is ``(B, L)`` with 1 on the tokens the policy
generated and 0 on tool observations and padding. **Each maximal run of 1s is one assistant turn**: the
t-th run of row i is turn t of rollout i (SCORING.md §5, token placement).

Functions here, all vectorized over the whole batch (no Python loop over tokens or rows):

- :func:`find_segments`: the runs of every row (row, turn index, first and last token).
- :func:`place_per_turn`: put value ``v[i][t]`` on every token of run t of row i (advantages).
- :func:`read_segment_ends`: read back the value at the last token of every run (per-turn rewards).
- :func:`pack_rewards` / :func:`unpack_rewards`: the turnscore reward layout (per-turn rewards plus the
  outcome reward in one token-level reward row, see below), and its exact inverse.

Inputs may be numpy arrays or torch tensors (any device); the result has the type (and for torch the
device) of the input. torch is never imported at module import time: a tensor is recognized by its type,
and torch is imported only when one is passed in. Computation runs in numpy on the host.

Mismatch policy (``on_mismatch``), when a row has S runs but T values:

- ``"fill"`` (default): run t < min(S, T) gets value t; runs without a value (S > T) get ``fill``;
  values without a run (T > S) are dropped. Every such row and item is counted in the returned
  :class:`SegmentStats` (``rows_more_segments``, ``rows_fewer_segments``, ``unfilled_segments``,
  ``dropped_values``), never silently.
- ``"raise"``: any row with S != T raises :class:`SegmentMismatchError` naming the rows.

Reward layout (``pack_rewards``), version 1:

- turn reward ``r_t`` sits on the **last token** of run t;
- the outcome reward ``r^o`` sits on the **first token of the last run whose length is >= 2** (for the
  usual rollout: the first token of the final turn). It never shares a token with a turn reward, so both
  come back exactly and the discounted turn returns (``gamma^(T-t+1) r^o``) stay exact.
- If every run of a row has length 1 there is no free token: ``r^o`` is added to the last run's end token
  (counted as ``outcome_merged``); reading back gives ``r_T + r^o`` as the last turn reward and 0 outcome.
  The trajectory return stays exact; only the last turn's discounting of ``r^o`` is off.
- Every other token is 0, so the row sum is ``sum_t r_t + r^o``: verl's reward metrics show the return.
- A row with no run at all (nothing generated) cannot hold anything: its values are counted as
  ``dropped_values`` (and its outcome as ``dropped_outcomes``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "LAYOUT_VERSION",
    "SegmentMismatchError",
    "SegmentStats",
    "Segments",
    "find_segments",
    "pack_rewards",
    "place_per_turn",
    "ragged_to_padded",
    "read_segment_ends",
    "unpack_rewards",
]

LAYOUT_VERSION = 1
POLICIES = ("fill", "raise")


class SegmentMismatchError(ValueError):
    """A row's number of runs differs from its number of values under ``on_mismatch="raise"``."""

    def __init__(self, rows: list[int], segments: list[int], values: list[int]) -> None:
        self.rows = rows
        self.segments = segments
        self.values = values
        shown = "; ".join(
            f"row {r}: {s} segments, {v} values"
            for r, s, v in list(zip(rows, segments, values, strict=True))[:8]
        )
        more = "" if len(rows) <= 8 else f" (and {len(rows) - 8} more rows)"
        super().__init__(f"segment/turn count mismatch in {len(rows)} row(s): {shown}{more}")


@dataclass
class SegmentStats:
    """Counts of everything that did not line up one to one (all zero when every row matched)."""

    rows: int = 0
    segments: int = 0
    values: int = 0
    rows_more_segments: int = 0
    rows_fewer_segments: int = 0
    unfilled_segments: int = 0
    dropped_values: int = 0
    outcome_merged: int = 0
    dropped_outcomes: int = 0
    mismatched_rows: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.rows_more_segments
            or self.rows_fewer_segments
            or self.unfilled_segments
            or self.dropped_values
            or self.outcome_merged
            or self.dropped_outcomes
        )

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("mismatched_rows")
        return d


class Segments(NamedTuple):
    """The runs of 1s of a ``(B, L)`` mask, flattened in row-major order (row, then position)."""

    row: np.ndarray  # (N,) row of each run
    turn: np.ndarray  # (N,) index of the run inside its row (0-based turn)
    start: np.ndarray  # (N,) first token (inclusive)
    end: np.ndarray  # (N,) last token (inclusive)
    counts: np.ndarray  # (B,) runs per row

    @property
    def length(self) -> np.ndarray:
        return self.end - self.start + 1


# -- array plumbing ----------------------------------------------------------------------------------


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch") and "torch" in sys.modules


def _to_numpy(x: Any) -> np.ndarray:
    if _is_torch(x):
        return x.detach().cpu().numpy()  # type: ignore[no-any-return]
    return np.asarray(x)


def _like(out: np.ndarray, ref: Any, dtype: Any = None) -> Any:
    """``out`` as the array type of ``ref`` (a torch tensor on ref's device, or numpy)."""
    if _is_torch(ref):
        import torch

        t = torch.from_numpy(np.ascontiguousarray(out))
        return t.to(device=ref.device, dtype=dtype if dtype is not None else t.dtype)
    return out if dtype is None else out.astype(dtype, copy=False)


def _host_dtype(ref: Any, dtype: Any) -> Any:
    """The numpy dtype to compute a result in: float32 by default; for another torch dtype float64 (the
    tensor conversion then rounds once, as from exact values)."""
    if _is_torch(ref):
        import torch

        return np.float32 if dtype is None or dtype == torch.float32 else np.float64
    return np.dtype(np.float32 if dtype is None else dtype)


def _mask2d(mask: Any) -> np.ndarray:
    m = _to_numpy(mask)
    if m.ndim == 1:
        m = m[None, :]
    if m.ndim != 2:
        raise ValueError(f"response mask must be (B, L) or (L,), got shape {m.shape}")
    return m if m.dtype == np.bool_ else m != 0


def ragged_to_padded(
    values: Any, lengths: Any = None, rows: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row value lists (ragged) to a ``(B, T_max)`` float64 array and the ``(B,)`` lengths.

    ``values`` may also be a ``(B, T)`` array: every row has T values, or ``lengths[i]`` when given.
    """
    if _is_torch(values) or isinstance(values, np.ndarray):
        arr = _to_numpy(values).astype(np.float64)
        if arr.ndim != 2:
            raise ValueError(f"expected (B, T) values, got shape {arr.shape}")
        if lengths is None:
            lens = np.full(arr.shape[0], arr.shape[1], dtype=np.int64)
        else:
            lens = _to_numpy(lengths).astype(np.int64).reshape(-1)
            if lens.shape != (arr.shape[0],) or (lens < 0).any() or (lens > arr.shape[1]).any():
                raise ValueError("lengths must be (B,) with values in [0, T]")
        if rows is not None and arr.shape[0] != rows:
            raise ValueError(f"values have {arr.shape[0]} rows, mask has {rows}")
        return arr, lens
    if lengths is not None:
        raise ValueError("lengths is only for (B, T) array values")
    seqs: Sequence[Any] = values
    lengths = np.fromiter((len(v) for v in seqs), dtype=np.int64, count=len(seqs))
    width = int(lengths.max()) if len(seqs) else 0
    flat = np.fromiter(
        (float(x) for v in seqs for x in v), dtype=np.float64, count=int(lengths.sum()) if len(seqs) else 0
    )
    padded = np.zeros((len(seqs), width), dtype=np.float64)
    if flat.size:
        r = np.repeat(np.arange(len(seqs)), lengths)
        c = np.arange(flat.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        padded[r, c] = flat
    if rows is not None and padded.shape[0] != rows:
        raise ValueError(f"values have {padded.shape[0]} rows, mask has {rows}")
    return padded, lengths


# -- segments ----------------------------------------------------------------------------------------


def find_segments(mask: Any) -> Segments:
    """Every run of 1s of ``mask`` (``(B, L)`` or ``(L,)``, any nonzero counts as 1).

    One pass over the mask laid out row-major with a 0 before every row and at the end: value changes
    alternate run start, run end, so a single ``flatnonzero`` finds both.
    """
    m = _mask2d(mask)
    b, length = m.shape
    width = length + 1
    flat = np.zeros(b * width + 1, dtype=bool)
    flat[:-1].reshape(b, width)[:, 1:] = m
    changes = np.flatnonzero(flat[1:] != flat[:-1])
    row, start = np.divmod(changes[0::2] + 1, width)
    end = changes[1::2] - row * width
    counts = np.bincount(row, minlength=b).astype(np.int64)
    offsets = np.cumsum(counts) - counts
    turn = np.arange(row.size, dtype=np.int64) - offsets[row]
    return Segments(
        row.astype(np.int64), turn, (start - 1).astype(np.int64), (end - 1).astype(np.int64), counts
    )


def _check(
    seg: Segments, lengths: np.ndarray, on_mismatch: str, stats: SegmentStats, *, count_values: bool = True
) -> None:
    if on_mismatch not in POLICIES:
        raise ValueError(f"on_mismatch must be one of {POLICIES}, got {on_mismatch!r}")
    counts = seg.counts
    bad = np.nonzero(counts != lengths)[0]
    if bad.size and on_mismatch == "raise":
        raise SegmentMismatchError(bad.tolist(), counts[bad].tolist(), lengths[bad].tolist())
    stats.rows += int(counts.size)
    stats.segments += int(counts.sum())
    stats.values += int(lengths.sum())
    stats.rows_more_segments += int((counts > lengths).sum())
    stats.rows_fewer_segments += int((counts < lengths).sum())
    stats.unfilled_segments += int(np.clip(counts - lengths, 0, None).sum())
    if count_values:
        stats.dropped_values += int(np.clip(lengths - counts, 0, None).sum())
    stats.mismatched_rows.extend(bad.tolist())


def place_per_turn(
    mask: Any,
    values: Any,
    lengths: Any = None,
    *,
    fill: float = 0.0,
    on_mismatch: str = "fill",
    dtype: Any = None,
) -> tuple[Any, SegmentStats]:
    """``(B, L)`` tensor with ``values[i][t]`` on every token of run t of row i, 0 off the mask.

    ``values``: per-row lists (ragged), or a ``(B, T)`` array (row i has ``lengths[i]`` values if given).
    Returns ``(tensor, stats)``; tensor type/device follow ``mask``, dtype float32 unless ``dtype``.
    """
    m = _mask2d(mask)
    b, length = m.shape
    padded, lengths = ragged_to_padded(values, lengths, rows=b)
    seg = find_segments(m)
    stats = SegmentStats()
    _check(seg, lengths, on_mismatch, stats)
    out_dtype = _host_dtype(mask, dtype)
    # Row-major the output is piecewise constant: 0 on the gaps, the turn's value on each run. One
    # np.repeat of (gap, run, gap, ..., run, tail gap) writes it without (B, L) temporaries.
    n = seg.row.size
    run_value = np.full(n, fill, dtype=np.float64)
    have = seg.turn < lengths[seg.row]
    run_value[have] = padded[seg.row[have], seg.turn[have]]
    flat_start = seg.row * length + seg.start
    flat_stop = flat_start + seg.length
    piece_len = np.empty(2 * n + 1, dtype=np.int64)
    piece_len[0::2] = np.append(flat_start, b * length) - np.insert(flat_stop, 0, 0)
    piece_len[1::2] = flat_stop - flat_start
    piece_value = np.zeros(2 * n + 1, dtype=out_dtype)
    piece_value[1::2] = run_value
    out = np.repeat(piece_value, piece_len).reshape(b, length)
    if _is_torch(mask):
        import torch

        return _like(out, mask, dtype if dtype is not None else torch.float32), stats
    return out, stats


def read_segment_ends(x: Any, mask: Any) -> tuple[np.ndarray, np.ndarray]:
    """Values of ``x`` at the last token of every run: ``(B, S_max)`` float64 (0-padded) and ``(B,)`` counts.

    Always numpy (this is the step that leaves the tensor world to build a request).
    """
    m = _mask2d(mask)
    xv = _to_numpy(x)
    if xv.ndim == 1:
        xv = xv[None, :]
    if xv.shape != m.shape:
        raise ValueError(f"tensor shape {xv.shape} != mask shape {m.shape}")
    seg = find_segments(m)
    width = int(seg.counts.max()) if seg.counts.size else 0
    out = np.zeros((m.shape[0], width), dtype=np.float64)
    out[seg.row, seg.turn] = xv[seg.row, seg.end].astype(np.float64)
    return out, seg.counts


# -- the reward layout -------------------------------------------------------------------------------


def _outcome_slot(seg: Segments, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the token holding r^o (start of the last run of length >= 2), and whether it exists."""
    cand = seg.length >= 2
    best = np.full(rows, -1, dtype=np.int64)
    idx = np.arange(seg.row.size, dtype=np.int64)
    if cand.any():
        np.maximum.at(best, seg.row[cand], idx[cand])
    has = best >= 0
    pos = np.zeros(rows, dtype=np.int64)
    pos[has] = seg.start[best[has]]
    return pos, has


def pack_rewards(
    mask: Any,
    turn_rewards: Any,
    outcome: Any = None,
    lengths: Any = None,
    *,
    on_mismatch: str = "fill",
    dtype: Any = None,
) -> tuple[Any, SegmentStats]:
    """The token-level reward rows of the layout (module docstring): ``r_t`` at run ends, ``r^o`` apart.

    ``turn_rewards``: per-row lists (or a ``(B, T)`` array with ``lengths``); ``outcome``: ``(B,)`` or None.
    Runs beyond the given turns hold 0 (``fill`` policy), turns beyond the runs are dropped; both counted.
    """
    m = _mask2d(mask)
    b, length = m.shape
    padded, lengths = ragged_to_padded(turn_rewards, lengths, rows=b)
    outcome_row = np.zeros(b) if outcome is None else _to_numpy(outcome).astype(np.float64).reshape(-1)
    if outcome_row.shape != (b,):
        raise ValueError(f"outcome must have {b} values, got {outcome_row.shape}")
    seg = find_segments(m)
    stats = SegmentStats()
    _check(seg, lengths, on_mismatch, stats)
    out = np.zeros((b, length), dtype=np.float64)
    keep = seg.turn < lengths[seg.row]
    out[seg.row[keep], seg.end[keep]] = padded[seg.row[keep], seg.turn[keep]]
    pos, has = _outcome_slot(seg, b)
    out[np.nonzero(has)[0], pos[has]] += outcome_row[has]
    # no free token: merge into the last run's end
    none = ~has & (seg.counts > 0) & (outcome_row != 0)
    if none.any():
        last = np.cumsum(seg.counts) - 1
        rows_n = np.nonzero(none)[0]
        out[rows_n, seg.end[last[rows_n]]] += outcome_row[rows_n]
        stats.outcome_merged += int(rows_n.size)
    empty = seg.counts == 0
    stats.dropped_outcomes += int((empty & (outcome_row != 0)).sum())
    if _is_torch(mask):
        import torch

        return _like(out, mask, dtype if dtype is not None else torch.float32), stats
    return out.astype(dtype if dtype is not None else np.float32), stats


def unpack_rewards(x: Any, mask: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, SegmentStats]:
    """Inverse of :func:`pack_rewards`: ``(turn_rewards (B, S_max), counts (B,), outcome (B,), stats)``.

    ``stats.outcome_merged`` counts rows without a free outcome token (all runs of length 1): their
    outcome reads as 0 and is inside the last turn reward. ``stats.dropped_values`` here counts rows
    whose reward mass off the layout's tokens is nonzero (``x`` was not written by :func:`pack_rewards`,
    e.g. an in-reward KL penalty or a scalar reward on the last token of an observation).
    """
    m = _mask2d(mask)
    xv = _to_numpy(x).astype(np.float64)
    if xv.ndim == 1:
        xv = xv[None, :]
    if xv.shape != m.shape:
        raise ValueError(f"reward shape {xv.shape} != mask shape {m.shape}")
    b = m.shape[0]
    seg = find_segments(m)
    width = int(seg.counts.max()) if seg.counts.size else 0
    turns = np.zeros((b, width), dtype=np.float64)
    turns[seg.row, seg.turn] = xv[seg.row, seg.end]
    pos, has = _outcome_slot(seg, b)
    outcome_row = np.where(has, xv[np.arange(b), pos], 0.0)
    stats = SegmentStats(rows=b, segments=int(seg.counts.sum()), values=int(seg.counts.sum()))
    stats.outcome_merged = int((~has & (seg.counts > 0)).sum())
    # reward mass the layout does not explain
    read = np.zeros_like(xv)
    read[seg.row, seg.end] = 1.0
    read[np.nonzero(has)[0], pos[has]] = 1.0
    stray = np.abs(np.where(read == 0, xv, 0.0)).sum(axis=1) > 0
    stats.dropped_values = int(stray.sum())
    stats.mismatched_rows = np.nonzero(stray)[0].tolist()
    return turns, seg.counts, outcome_row, stats
