"""The batched Sinkhorn of soft assignment (``ot``): transport plans for every rollout of a request at once.

The problems (one S matrix per rollout and reference) become one block-diagonal sparse system K, no
padding; Sinkhorn-Knopp runs on all blocks together with the CSR kernels of :mod:`sparse`, each block
stopping exactly when ``ot.sinkhorn`` would, and blocks that finished are compacted away. A plan that is
not finite (underflow with a tiny ``reg``) falls back to ``ot.sinkhorn`` (:func:`sinkhorn_plan`).
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass

import numpy as np
import ot

from . import sparse
from .assign import cost_in_place, exp_in_place, ot_cost
from .limits import check_deadline


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


_CHUNK = 8192  # entries per temporary in _flat_cost: below malloc's mmap threshold (128 KB)


@dataclass(slots=True)
class _System:
    """Problems as one block-diagonal system K in CSR form (int64 indices), no padding.

    Rows are the predicted calls of every problem, columns the gold calls, both in problem order; each
    problem is a dense m x n block. ``t`` is K^T in CSR form once built (else K^T products use K's
    arrays as CSC). ``rows`` / ``cols`` / ``pids`` number rows, columns and problems as in the system
    the solver started from.
    """

    kp: np.ndarray  # indptr, indices, data
    kj: np.ndarray
    kx: np.ndarray
    t: tuple[np.ndarray, np.ndarray, np.ndarray] | None
    a: np.ndarray  # predicted marginal of each row (1/m)
    b: np.ndarray  # gold marginal of each column (1/n)
    row_pid: np.ndarray  # problem (numbered in this system) of each row / column
    col_pid: np.ndarray
    first_col: np.ndarray  # first column of each problem
    sizes: np.ndarray  # m * n of each problem
    rows: np.ndarray
    cols: np.ndarray
    pids: np.ndarray

    def compact(self, keep: np.ndarray) -> _System:
        """The system of the problems with ``keep`` set, with K^T built."""
        rk, ck = keep[self.row_pid], keep[self.col_pid]
        lengths = np.diff(self.kp)
        entries = np.repeat(rk, lengths)
        kp = np.zeros(int(rk.sum()) + 1, dtype=np.int64)
        np.cumsum(lengths[rk], out=kp[1:])
        kj = (np.cumsum(ck) - 1)[self.kj[entries]]
        kx = self.kx[entries]
        nr, nc, nnz = kp.size - 1, int(ck.sum()), kx.size
        t = (np.empty(nc + 1, dtype=np.int64), np.empty(nnz, dtype=np.int64), np.empty(nnz))
        sparse.csr_tocsc(nr, nc, kp, kj, kx, *t)
        new_pid = np.cumsum(keep) - 1
        col_pid = new_pid[self.col_pid[ck]]
        return _System(
            kp=kp,
            kj=kj,
            kx=kx,
            t=t,
            a=self.a[rk],
            b=self.b[ck],
            row_pid=new_pid[self.row_pid[rk]],
            col_pid=col_pid,
            first_col=np.flatnonzero(np.diff(col_pid, prepend=-1)),
            sizes=self.sizes[keep],
            rows=self.rows[rk],
            cols=self.cols[ck],
            pids=self.pids[keep],
        )


def _build_system(
    s: np.ndarray, ms: np.ndarray, ns: np.ndarray, cost: str, tau: float, reg: float
) -> _System:
    """The system of the problems whose similarities ``s`` are the m x n blocks (row-major, concatenated).

    ``s`` becomes K's data. Temporaries of s's size are avoided: a fresh array above malloc's mmap
    threshold costs a page fault per 4 KB when first written, which is as much as the work on it.
    """
    count = ms.size
    pid = np.arange(count, dtype=np.int32)  # int32 index arrays: fewer pages to touch
    row_pid = np.repeat(pid, ms)
    col_pid = np.repeat(pid, ns)
    nrows, ncols, nnz = row_pid.size, col_pid.size, s.size
    row_len = np.repeat(ns, ms)
    kp = np.zeros(nrows + 1, dtype=np.int64)
    np.cumsum(row_len, out=kp[1:])
    first_col = np.cumsum(ns) - ns
    # column of each entry: a running count that jumps, at each row start, to the block's first column
    row_col = np.repeat(first_col, ms)
    kj = np.ones(nnz, dtype=np.int64)
    kj[0] = 0
    kj[kp[1:-1]] = row_col[1:] - row_col[:-1] - row_len[:-1] + 1
    np.cumsum(kj, out=kj)
    _flat_cost(s, cost, tau, kp, kj, row_len, ncols)
    np.divide(s, -reg, out=s)  # K = exp(M / -reg) as POT has it; exp: exp_in_place
    exp_in_place(s)
    return _System(
        kp=kp,
        kj=kj,
        kx=s,
        t=None,
        a=(1.0 / ms)[row_pid],
        b=(1.0 / ns)[col_pid],
        row_pid=row_pid,
        col_pid=col_pid,
        first_col=first_col,
        sizes=ms * ns,
        rows=np.arange(nrows, dtype=np.int32),
        cols=np.arange(ncols, dtype=np.int32),
        pids=pid,
    )


def _flat_cost(
    s: np.ndarray, cost: str, tau: float, kp: np.ndarray, kj: np.ndarray, row_len: np.ndarray, ncols: int
) -> None:
    """:func:`ot_cost` in place on the concatenated blocks: its entrywise step, then the row sums from
    K's CSR structure ``kp``, ``kj``."""
    if not cost_in_place(s, cost, tau):
        return
    tot = np.zeros(kp.size - 1)
    sparse.csr_matvec(tot.size, ncols, kp, kj, s, np.ones(ncols), tot)  # row sums
    # each entry over its row's total, a chunk of rows at a time (np.repeat has no ``out``)
    step = max(1, _CHUNK // int(row_len.max()))
    for r in range(0, tot.size, step):
        e0, e1 = int(kp[r]), int(kp[min(r + step, tot.size)])
        den = np.repeat(tot[r : r + step], row_len[r : r + step])
        if cost == "exp":
            np.divide(s[e0:e1], den, out=s[e0:e1])
        else:
            np.divide(s[e0:e1], den, out=s[e0:e1], where=den > 0)
            s[e0:e1][~(den > 0)] = 0.0


def _iterate(
    system: _System,
    max_iter: int,
    stop_thr: float,
    u_out: np.ndarray,
    v_out: np.ndarray,
    compact: float,
    deadline: float | None = None,
    iterations: np.ndarray | None = None,
) -> np.ndarray:
    """Sinkhorn-Knopp on every block of ``system`` at once, each stopping as ``ot.sinkhorn`` does.

    ``ot.sinkhorn`` starts from u = a, updates v = b / K^T u, then u = a / K v, and on every 10th
    iteration (0, 10, ...) stops when the gold marginal v * K^T u of the plan is within ``stop_thr``
    (2-norm). Here each block takes that test on its own and, when it passes, its scalings go to
    ``u_out`` / ``v_out`` (numbered as in ``system``). A finished block keeps iterating (harmlessly:
    blocks do not interact) until finished blocks hold a ``compact`` share of the entries; then the
    system is rebuilt without them, with K^T. Returns the problems that ran all ``max_iter``
    iterations, whose last scalings also go to ``u_out`` / ``v_out``. Every 10th iteration checks
    ``deadline`` (:func:`~turnscore.core.limits.check_deadline`). ``iterations``: where each problem's
    count of iterations run goes when it stops (those running all ``max_iter`` are left alone).
    """
    u, v = system.a.copy(), system.b.copy()  # ot.sinkhorn's initial scalings
    ktu = np.zeros(system.b.size)
    sparse.csc_matvec(system.b.size, system.a.size, system.kp, system.kj, system.kx, u, ktu)
    alive = np.ones(system.pids.size, dtype=bool)
    # y += A @ x with A in CSR (csr_matvec) or CSC (csc_matvec: K's CSR arrays are K^T's CSC arrays)
    divide, matvec, cscmatvec = np.divide, sparse.csr_matvec, sparse.csc_matvec
    start = 0
    while True:
        nr, nc, kp, kj, kx, a, b = (
            system.a.size,
            system.b.size,
            system.kp,
            system.kj,
            system.kx,
            system.a,
            system.b,
        )
        tmatvec, tp, tj, tx = (cscmatvec, kp, kj, kx) if system.t is None else (matvec, *system.t)
        ku = np.empty(nr)
        finished = 0  # entries of the blocks that finished
        for it in range(start, max_iter):
            divide(b, ktu, out=v)
            ku.fill(0.0)
            matvec(nr, nc, kp, kj, kx, v, ku)
            divide(a, ku, out=u)
            ktu.fill(0.0)
            tmatvec(nc, nr, tp, tj, tx, u, ktu)
            if it % 10:
                continue
            check_deadline(deadline)
            if _finish(system, u, v, ktu, alive, stop_thr, u_out, v_out):
                if iterations is not None:  # finished now or earlier: the minimum keeps the first stop
                    iterations[system.pids[~alive]] = np.minimum(iterations[system.pids[~alive]], it + 1)
                finished = int(system.sizes[~alive].sum())
                if finished == kx.size:
                    return np.zeros(0, dtype=np.int64)
            # compact once finished blocks hold a ``compact`` share, and at iteration 10 at the latest
            # (which builds K^T: a K^T product from K's arrays, as CSC, is ~1.4x slower)
            if (finished >= compact * kx.size or (system.t is None and it)) and it + 1 < max_iter:
                break
        else:
            rm, cm = alive[system.row_pid], alive[system.col_pid]
            u_out[system.rows[rm]] = u[rm]
            v_out[system.cols[cm]] = v[cm]
            return system.pids[alive]
        start = it + 1
        rk, ck = alive[system.row_pid], alive[system.col_pid]
        u, v, ktu = u[rk], v[ck], ktu[ck]
        system = system.compact(alive)
        alive = np.ones(system.pids.size, dtype=bool)


def _finish(
    system: _System,
    u: np.ndarray,
    v: np.ndarray,
    ktu: np.ndarray,
    alive: np.ndarray,
    stop_thr: float,
    u_out: np.ndarray,
    v_out: np.ndarray,
) -> bool:
    """``ot.sinkhorn``'s stopping test on every running block: those passing it leave ``alive`` and their
    scalings go to ``u_out`` / ``v_out``. Whether any did."""
    d = v * ktu
    d -= system.b
    d *= d
    ok = np.sqrt(np.add.reduceat(d, system.first_col)) < stop_thr
    ok &= alive
    if not ok.any():
        return False
    rm, cm = ok[system.row_pid], ok[system.col_pid]
    u_out[system.rows[rm]] = u[rm]
    v_out[system.cols[cm]] = v[cm]
    alive &= ~ok
    return True


def ot_plans(
    problems: list[np.ndarray],
    cost: str,
    tau: float,
    reg: float,
    max_iter: int,
    stop_thr: float,
    compact: float = 0.25,
    deadline: float | None = None,
    iterations: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Transport plans for many similarity matrices (each m x n, m, n >= 1), as ``ot.sinkhorn`` gives them.

    All problems are solved together as one block-diagonal system (see :func:`_iterate`), each
    stopping when ``ot.sinkhorn`` would; a 1 x 1 plan is set to exactly [[1]]. A problem whose plan is
    not finite (underflow with a tiny ``reg``) is solved with ``ot.sinkhorn``. The plans are views
    into one array. ``compact``: the share of the running entries that, once their problems have
    finished, makes the solver rebuild the system without them. ``deadline``: a ``time.monotonic()``
    value past which :class:`~turnscore.core.errors.DeadlineExceeded` stops the iterations.
    ``iterations`` (int64, one per problem; for tests): set to the iterations each problem ran in the
    block system (``max_iter`` for one that did not stop, fallback or not).
    """
    if not problems:
        return []
    shapes = [s.shape for s in problems]
    mn = np.fromiter(itertools.chain.from_iterable(shapes), dtype=np.int64, count=2 * len(shapes))
    ms, ns = mn[0::2], mn[1::2]
    flat = np.concatenate([s.ravel() for s in problems]).astype(np.float64, copy=False)
    with np.errstate(all="ignore"):
        system = _build_system(flat, ms, ns, cost, tau, reg)
        nr, nc = system.a.size, system.b.size
        u, v = np.zeros(nr), np.zeros(nc)
        if iterations is not None:
            iterations[:] = max_iter
        unconverged = _iterate(system, max_iter, stop_thr, u, v, compact, deadline, iterations)
        # K's data becomes the plans: u_i K_ij v_j, multiplied in POT's order
        sparse.csr_scale_rows(nr, nc, system.kp, system.kj, system.kx, u)
        sparse.csr_scale_columns(nr, nc, system.kp, system.kj, system.kx, v)
    plan = system.kx
    ends = np.cumsum(ms * ns)
    plan[ends[ms * ns == 1] - 1] = 1.0  # 1 x 1: [[1]] exactly
    stops = ends.tolist()
    starts = [0, *stops[:-1]]
    out = [plan[a:b].reshape(shape) for a, b, shape in zip(starts, stops, shapes, strict=True)]
    # a converged plan is finite (its marginal error is); only the others can need the fallback
    for k in unconverged.tolist():
        if out[k].size > 1 and not np.all(np.isfinite(out[k])):
            out[k] = sinkhorn_plan(problems[k], cost, tau, reg, max_iter, stop_thr)
    return out
