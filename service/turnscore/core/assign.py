"""Assignment of predicted to gold calls and the resulting call rewards (SCORING.md §3).

Hard assignments (``hungarian``, ``greedy``) work on the sparse list of positive similarities (names
must match for S > 0), so most rollouts never build a matrix. Soft assignment (``ot``) solves every
rollout of a request in a few padded batches with a batched Sinkhorn that iterates and stops each
problem as ``ot.sinkhorn`` does, and falls back to ``ot.sinkhorn`` for a plan that is not finite.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import ot
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


def ot_cost(s: np.ndarray, cost: str, tau: float, cols: np.ndarray | None = None) -> np.ndarray:
    """Cost matrix from similarities (last two axes: predicted x gold).

    ``cols`` (broadcastable to ``s``, 1 on real gold columns, 0 on padding) keeps padded columns out
    of the row sums of the ``normalized`` and ``exp`` costs; the cost on padding is meaningless.
    """
    if cost == "neg":
        return -s
    if cost == "linear":
        return 1.0 - s
    if cost == "normalized":
        d = 1.0 - s
        tot = (d if cols is None else d * cols).sum(axis=-1, keepdims=True)
        return np.divide(d, tot, out=np.zeros_like(d), where=tot > 0)
    e = np.exp(-s / tau)
    return e / (e if cols is None else e * cols).sum(axis=-1, keepdims=True)


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


_State = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _iterate(state: _State, start: int, stop: int, stop_thr: float, done: dict[int, np.ndarray]) -> _State:
    """Sinkhorn-Knopp iterations ``start..stop-1`` of a padded batch, each problem stopping on its own.

    ``state`` = (kt, p, q, f, g, ids): the kernels transposed (B, n, m), gold and predicted marginals
    (0 on padding), the two scalings and each row's problem index. ``ot.sinkhorn`` updates the gold-side
    scaling first and, every 10th iteration, stops when the gold marginal of the plan is within
    ``stop_thr`` (2-norm); here every problem takes that test on its own, its plan (n x m) goes to
    ``done`` and it leaves the batch. The updates are those of ``ot.batch.bregman_projection_batch``.
    Returns the state of the problems still running.
    """
    kt, p, q, f, g, ids = state
    add = np.add.reduce  # what np.sum calls, without its Python-level dispatch (hot loop)
    for it in range(start, stop):
        f = p / add(kt * g[:, None, :], axis=2)
        g = q / add(kt * f[:, :, None], axis=1)
        if it % 10 == 0:
            t = kt * f[:, :, None] * g[:, None, :]
            err = add((add(t, axis=2) - p) ** 2, axis=1) ** 0.5
            ok = err < stop_thr
            if ok.any():
                for r in np.flatnonzero(ok).tolist():
                    done[int(ids[r])] = t[r]
                keep = ~ok
                kt, p, q, f, g, ids = kt[keep], p[keep], q[keep], f[keep], g[keep], ids[keep]
                if not ids.size:
                    break
    return kt, p, q, f, g, ids


def _merge(states: list[_State]) -> _State:
    """One batch from several (padding the smaller problems again; the scalings carry over)."""
    rows = sum(st[5].size for st in states)
    n = max(st[0].shape[1] for st in states)
    m = max(st[0].shape[2] for st in states)
    kt, p, q = np.ones((rows, n, m)), np.zeros((rows, n)), np.zeros((rows, m))
    f, g, ids = np.zeros((rows, n)), np.zeros((rows, m)), np.zeros(rows, dtype=np.int64)
    r = 0
    for skt, sp, sq, sf, sg, sids in states:
        b, bn, bm = skt.shape
        kt[r : r + b, :bn, :bm] = skt
        p[r : r + b, :bn], q[r : r + b, :bm] = sp, sq
        f[r : r + b, :bn], g[r : r + b, :bm] = sf, sg
        ids[r : r + b] = sids
        r += b
    return kt, p, q, f, g, ids


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

    Problems are padded with zero-mass rows and columns into power-of-two buckets and iterated together
    (the padding leaves the iterates of the real block unchanged: the initial scaling is 1 on the real
    predicted calls and 0 on padding), each problem stopping when ``ot.sinkhorn`` would (see
    :func:`_iterate`). After ``first_pass`` iterations the few problems still running, from every
    bucket, continue as one batch up to ``max_iter``. A problem whose plan is not finite (underflow
    with a tiny ``reg``) is solved with ``ot.sinkhorn``.
    """
    out: list[np.ndarray] = [np.empty((0, 0))] * len(problems)
    buckets: dict[tuple[int, int], list[int]] = {}
    for k, s in enumerate(problems):
        m, n = s.shape
        if m == 1 and n == 1:
            out[k] = np.ones((1, 1))
            continue
        buckets.setdefault((_bucket(m), _bucket(n)), []).append(k)
    done: dict[int, np.ndarray] = {}
    running: list[_State] = []
    split = min(first_pass, max_iter)
    with np.errstate(all="ignore"):
        for (bm, bn), idx in buckets.items():
            state = _bucket_state(problems, idx, bm, bn, cost, tau, reg)
            state = _iterate(state, 0, split, stop_thr, done)
            if state[5].size:
                running.append(state)
        unconverged: list[int] = []
        if running:
            kt, _, _, f, g, ids = _iterate(_merge(running), split, max_iter, stop_thr, done)
            t = kt * f[:, :, None] * g[:, None, :]
            unconverged = ids.tolist()
            for r, k in enumerate(unconverged):
                done[k] = t[r]
    for k, t in done.items():
        m, n = problems[k].shape
        out[k] = t[:n, :m].T
    # a converged plan is finite (its marginal error is); only the others can need the fallback
    for k in unconverged:
        if not np.all(np.isfinite(out[k])):
            out[k] = sinkhorn_plan(problems[k], cost, tau, reg, max_iter, stop_thr)
    return out


def _bucket_state(
    problems: list[np.ndarray], idx: list[int], bm: int, bn: int, cost: str, tau: float, reg: float
) -> _State:
    """The initial state of one bucket: kernels exp(-C/reg) transposed, 1 on padding; marginals 1/m, 1/n."""
    size = len(idx)
    s = np.zeros((size, bm, bn))
    ms = np.empty(size, dtype=np.int64)
    ns = np.empty(size, dtype=np.int64)
    for r, k in enumerate(idx):
        prob = problems[k]
        m, n = prob.shape
        s[r, :m, :n] = prob
        ms[r], ns[r] = m, n
    rows = np.arange(bm)[None, :] < ms[:, None]  # (size, bm) real predicted calls
    cols = np.arange(bn)[None, :] < ns[:, None]  # (size, bn) real gold calls
    real = rows[:, :, None] & cols[:, None, :]
    kmat = np.where(real, np.exp(-ot_cost(s, cost, tau, cols[:, None, :]) / reg), 1.0)
    kt = np.ascontiguousarray(kmat.transpose(0, 2, 1))
    p = np.where(cols, 1.0 / ns[:, None], 0.0)
    q = np.where(rows, 1.0 / ms[:, None], 0.0)
    return kt, p, q, np.zeros((size, bn)), rows.astype(float), np.array(idx, dtype=np.int64)


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
