"""Assignment of predicted to gold calls and the resulting call rewards (SCORING.md §3).

Hard assignments (``hungarian``, ``greedy``) work on the sparse list of positive similarities (names
must match for S > 0), so most rollouts never build a matrix. Soft assignment (``ot``) turns S into a
cost (:func:`ot_cost`) and a transport plan Z (computed by :mod:`sinkhorn` for every rollout of a request
at once) into call rewards (:func:`ot_assignment`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

Entry = tuple[int, int, float]  # (predicted index, gold index, similarity > 0)


@dataclass(slots=True)
class Assignment:
    """Per predicted call: reward, matched gold index (-1 = none) and the similarity of that pair; for OT
    also the transport plan Z (m x n) the rewards came from."""

    rewards: np.ndarray
    gold: np.ndarray
    similarity: np.ndarray
    plan: np.ndarray | None = None


def dense(entries: list[Entry], m: int, n: int) -> np.ndarray:
    s = np.zeros((m, n))
    for i, j, v in entries:
        s[i, j] = v
    return s


def _hard(pairs: list[tuple[int, int, float]], m: int, penalty: float) -> Assignment:
    # filled as lists, converted once: cheaper than item assignment into numpy arrays for small m
    rewards = [-float(penalty)] * m
    gold = [-1] * m
    sim = [0.0] * m
    for i, j, v in pairs:
        rewards[i] = v
        gold[i] = j
        sim[i] = v
    return Assignment(
        np.array(rewards, dtype=np.float64), np.array(gold, dtype=np.int64), np.array(sim, dtype=np.float64)
    )


def from_native_many(buf: bytes, sizes: list[int]) -> list[Assignment]:
    """The :class:`Assignment` of each problem from the extension's ``assign_many`` output (every
    problem's rewards, then gold indices, then similarities), ``sizes`` their predicted calls: views of
    three arrays, cheaper than three arrays per problem."""
    x = np.frombuffer(buf, dtype=np.float64)
    total = len(x) // 3
    rewards, gold, sim = x[:total], x[total : 2 * total].view(np.int64), x[2 * total :]
    out = []
    start = 0
    for m in sizes:
        end = start + m
        out.append(Assignment(rewards[start:end], gold[start:end], sim[start:end]))
        start = end
    return out


def from_native(buf: bytes, m: int) -> Assignment:
    """The :class:`Assignment` of the extension's ``assign`` output (one problem, ``m`` predicted calls)."""
    return from_native_many(buf, [m])[0]


def hungarian(entries: list[Entry], m: int, n: int, penalty: float) -> Assignment:
    """Optimal one-to-one assignment maximizing total S (``linear_sum_assignment``, maximize=True)."""
    rows = {e[0] for e in entries}
    cols = {e[1] for e in entries}
    if len(rows) == len(entries) and len(cols) == len(entries):
        # No two positive entries share a row or a column: every optimal assignment takes them all.
        return _hard(entries, m, penalty)
    s = dense(entries, m, n)
    r, c = linear_sum_assignment(s, maximize=True)
    return _hard(
        [(int(i), int(j), float(s[i, j])) for i, j in zip(r, c, strict=True) if s[i, j] > 0], m, penalty
    )


def greedy(entries: list[Entry], m: int, n: int, penalty: float) -> Assignment:
    """The reference code's matcher: pairs by S descending, ties in (i, j) order, S > 0, both sides free."""
    used_p: set[int] = set()
    used_g: set[int] = set()
    chosen = []
    for i, j, v in sorted(entries, key=lambda e: (-e[2], e[0], e[1])):
        if i in used_p or j in used_g:
            continue
        used_p.add(i)
        used_g.add(j)
        chosen.append((i, j, v))
    return _hard(chosen, m, penalty)


# -- optimal transport: cost and rewards (the plans come from :mod:`sinkhorn`) -----------------------


def exp_in_place(x: np.ndarray) -> None:
    """e**x of every entry of ``x`` in place, by the C library's ``exp`` (``math.exp``), as the compiled
    core computes it. Not ``np.exp``: on CPUs with AVX-512 numpy's vectorized exp rounds about 5 % of
    values one unit in the last place differently, which would make plans (and an OT match's gold call on
    a near tie) depend on the CPU and differ between the two cores."""
    values = x.ravel().tolist()
    try:
        out = list(map(math.exp, values))
    except OverflowError:  # math.exp raises where the C function returns inf
        out = [math.exp(v) if v < 709.0 else _exp_large(v) for v in values]
    x[...] = np.asarray(out, dtype=np.float64).reshape(x.shape)


def _exp_large(v: float) -> float:
    try:
        return math.exp(v)
    except OverflowError:
        return math.inf


def cost_in_place(x: np.ndarray, cost: str, tau: float) -> bool:
    """The entrywise step of :func:`ot_cost` on ``x`` (similarities, float64) in place: -S (``neg``),
    1 - S (``linear``, ``normalized``) or exp(-S / tau) (``exp``). Whether rows are then divided by their
    sums (``normalized``, ``exp``)."""
    if cost == "neg":
        np.negative(x, out=x)
        return False
    if cost == "exp":
        np.divide(x, -tau, out=x)  # -S / tau, bit for bit
        exp_in_place(x)
        return True
    np.subtract(1.0, x, out=x)
    return cost == "normalized"


def ot_cost(s: np.ndarray, cost: str, tau: float) -> np.ndarray:
    """Cost matrix from similarities (predicted x gold); a ``normalized`` row summing to 0 stays 0."""
    c = np.array(s, dtype=np.float64)
    if not cost_in_place(c, cost, tau):
        return c
    tot = c.sum(axis=-1, keepdims=True)
    if cost == "exp":
        return c / tot
    return np.divide(c, tot, out=np.zeros_like(c), where=tot > 0)


def ot_assignment(s: np.ndarray, plan: np.ndarray, row_normalize: bool) -> Assignment:
    """Soft rewards r_i = sum_j Z_ij S_ij (times m with ``row_normalize``).

    The match shown in explanations is argmax_j Z_ij.
    """
    m = s.shape[0]
    rewards = (plan * s).sum(axis=1)
    if row_normalize:
        rewards = rewards * m
    gold = plan.argmax(axis=1).astype(np.int64)
    sim = s[np.arange(m), gold]
    return Assignment(rewards, gold, sim, plan)
