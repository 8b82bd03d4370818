"""Assignment of predicted to gold calls and the resulting call rewards (SCORING.md §3).

Hard assignments (``hungarian``, ``greedy``) work on the sparse list of positive similarities (names
must match for S > 0), so most rollouts never build a matrix. Soft assignment (``ot``) solves every
rollout of a request in a few padded batches with POT's batched Sinkhorn and falls back to
``ot.sinkhorn`` for any problem whose batched plan has not converged.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import ot
import ot.batch
from scipy.optimize import linear_sum_assignment

Entry = tuple[int, int, float]  # (predicted index, gold index, similarity > 0)


@dataclass(slots=True)
class Assignment:
    """Per predicted call: reward, matched gold index (-1 = none) and the similarity of that pair."""

    rewards: np.ndarray
    gold: np.ndarray
    similarity: np.ndarray


def dense(entries: list[Entry], m: int, n: int) -> np.ndarray:
    s = np.zeros((m, n))
    for i, j, v in entries:
        s[i, j] = v
    return s


def _hard(pairs: list[tuple[int, int, float]], m: int, penalty: float) -> Assignment:
    rewards = np.full(m, -penalty)
    gold = np.full(m, -1, dtype=np.int64)
    sim = np.zeros(m)
    for i, j, v in pairs:
        rewards[i] = v
        gold[i] = j
        sim[i] = v
    return Assignment(rewards, gold, sim)


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


# -- optimal transport ------------------------------------------------------------------------------


def ot_cost(s: np.ndarray, cost: str, tau: float) -> np.ndarray:
    """Cost matrix from similarities (last two axes: predicted x gold)."""
    if cost == "neg":
        return -s
    if cost == "linear":
        return 1.0 - s
    if cost == "normalized":
        d = 1.0 - s
        tot = d.sum(axis=-1, keepdims=True)
        return np.divide(d, tot, out=np.zeros_like(d), where=tot > 0)
    e = np.exp(-s / tau)
    return e / e.sum(axis=-1, keepdims=True)


def sinkhorn_plan(
    s: np.ndarray, cost: str, tau: float, reg: float, max_iter: int, stop_thr: float
) -> np.ndarray:
    """One problem with ``ot.sinkhorn`` (uniform marginals); log-domain if the plain one overflows."""
    m, n = s.shape
    a = np.full(m, 1.0 / m)
    b = np.full(n, 1.0 / n)
    c = ot_cost(s, cost, tau)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        z = ot.sinkhorn(a, b, c, reg, numItermax=max_iter, stopThr=stop_thr)
        if not np.all(np.isfinite(z)):
            z = ot.sinkhorn(a, b, c, reg, method="sinkhorn_log", numItermax=max_iter, stopThr=stop_thr)
    return np.nan_to_num(np.asarray(z, dtype=float), nan=0.0, posinf=0.0, neginf=0.0)


def _bucket(x: int) -> int:
    return 1 << max(0, (x - 1).bit_length())


def _batch_plans(
    kmat: np.ndarray, a: np.ndarray, b: np.ndarray, max_iter: int, stop_thr: float
) -> np.ndarray:
    """Sinkhorn plans of a padded batch, iterated exactly as ``ot.sinkhorn`` iterates each problem.

    ``ot.sinkhorn`` (Sinkhorn-Knopp) updates the column scaling first and checks the column marginal
    every 10 iterations. ``ot.batch.bregman_projection_batch`` updates the row scaling first, so it is
    run on the transposed problems: the sequence of plans is then the same (Sinkhorn plans do not
    depend on the scale of the initial vectors), and so is the stopping test.
    """
    res = ot.batch.bregman_projection_batch(
        np.ascontiguousarray(kmat.transpose(0, 2, 1)), b, a, max_iter=max_iter, tol=stop_thr
    )
    return np.asarray(res["T"]).transpose(0, 2, 1)


def ot_plans(
    problems: list[np.ndarray],
    cost: str,
    tau: float,
    reg: float,
    max_iter: int,
    stop_thr: float,
    first_pass: int = 100,
) -> list[np.ndarray]:
    """Transport plans for many similarity matrices (each m x n, m, n >= 1), as ``ot.sinkhorn`` gives them.

    Problems are padded with zero-mass rows and columns (which leaves the iterates of the real block
    unchanged) into power-of-two buckets and solved together with POT's batched Sinkhorn. A first pass of
    ``first_pass`` iterations settles most problems; the ones whose column marginal is still off by
    ``stop_thr`` or more run again from the start for the full ``max_iter``, as ``ot.sinkhorn`` would.
    A problem whose plan is not finite (underflow with a tiny ``reg``) is solved with ``ot.sinkhorn``.
    """
    out: list[np.ndarray] = [np.empty((0, 0))] * len(problems)
    buckets: dict[tuple[int, int], list[int]] = {}
    for k, s in enumerate(problems):
        m, n = s.shape
        if m == 1 and n == 1:
            out[k] = np.ones((1, 1))
            continue
        buckets.setdefault((_bucket(m), _bucket(n)), []).append(k)
    for (bm, bn), idx in buckets.items():
        size = len(idx)
        kmat = np.ones((size, bm, bn))
        a = np.zeros((size, bm))
        b = np.zeros((size, bn))
        for r, k in enumerate(idx):
            s = problems[k]
            m, n = s.shape
            kmat[r, :m, :n] = np.exp(-ot_cost(s, cost, tau) / reg)
            a[r, :m] = 1.0 / m
            b[r, :n] = 1.0 / n
        with np.errstate(all="ignore"):
            plans = _batch_plans(kmat, a, b, min(first_pass, max_iter), stop_thr)
            if first_pass < max_iter:
                err = np.linalg.norm(plans.sum(axis=1) - b, axis=1)
                slow = np.flatnonzero(~(err < stop_thr))
                if slow.size:
                    plans[slow] = _batch_plans(kmat[slow], a[slow], b[slow], max_iter, stop_thr)
        for r, k in enumerate(idx):
            m, n = problems[k].shape
            plan = plans[r, :m, :n]
            if not np.all(np.isfinite(plan)):
                plan = sinkhorn_plan(problems[k], cost, tau, reg, max_iter, stop_thr)
            out[k] = plan
    return out


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
    return Assignment(rewards, gold, sim)
