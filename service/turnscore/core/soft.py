"""Soft assignment (``ot``) of a request's problems: transport plans and the call rewards they give.

With the compiled core active, ``ot_solve`` computes both for every problem in one call (the same
arithmetic as :func:`sinkhorn.ot_plans` and :func:`assign.ot_assignment`, tests/native checks it); a
problem whose plan it finds not finite, or a call it hands back (``None``), goes to the Python path,
which stays the reference.
"""

from __future__ import annotations

import time

import numpy as np

from . import native, sinkhorn
from .assign import Assignment, ot_assignment
from .limits import check_deadline

#: ``ot_solve``'s buffer (plans, then every problem's rewards, gold indices, similarities) and the problems
#: it handed back (non-finite plans)
Solved = tuple[bytearray, list[int]]


def ot_assignments(
    problems: list[np.ndarray],
    cost: str,
    tau: float,
    reg: float,
    max_iter: int,
    stop_thr: float,
    row_normalize: bool,
    deadline: float | None = None,
) -> list[Assignment]:
    """The :class:`Assignment` (with its plan) of each similarity matrix (m x n, m, n >= 1).

    ``deadline``: a ``time.monotonic()`` value past which
    :class:`~turnscore.core.errors.DeadlineExceeded` stops the work."""
    if not problems:
        return []
    solved = solve(problems, cost, tau, reg, max_iter, stop_thr, row_normalize, deadline)
    return assignments(solved, problems, cost, tau, reg, max_iter, stop_thr, row_normalize, deadline)


def solve(
    problems: list[np.ndarray],
    cost: str,
    tau: float,
    reg: float,
    max_iter: int,
    stop_thr: float,
    row_normalize: bool,
    deadline: float | None = None,
) -> Solved | None:
    """The extension's solution of every problem (m, n >= 1): ``ot_solve``'s buffer and the problems it
    handed back; ``None`` without the compiled core or when it hands the call back (raises when past
    ``deadline``)."""
    ext = native.module()
    if ext is None or not problems:
        return None
    budget = None if deadline is None else deadline - time.monotonic()
    res = ext.ot_solve(
        problems, cost, float(tau), float(reg), int(max_iter), float(stop_thr), bool(row_normalize), budget
    )
    if res is None:
        check_deadline(deadline)
        return None
    buf, fallback, _iterations = res
    return buf, fallback


def assignments(
    solved: Solved | None,
    problems: list[np.ndarray],
    cost: str,
    tau: float,
    reg: float,
    max_iter: int,
    stop_thr: float,
    row_normalize: bool,
    deadline: float | None = None,
) -> list[Assignment]:
    """Each problem's :class:`Assignment` from :func:`solve`'s result: views of its buffer, the problems it
    handed back (or all of them, for ``None``) solved by the Python path."""
    if solved is None:
        plans = sinkhorn.ot_plans(problems, cost, tau, reg, max_iter, stop_thr, deadline=deadline)
        return [ot_assignment(s, z, row_normalize) for s, z in zip(problems, plans, strict=True)]
    buf, fallback = solved
    x = np.frombuffer(buf, dtype=np.float64)  # a bytearray: writable, as the Python plans are
    shapes = [s.shape for s in problems]
    total = m_total = 0
    for m, n in shapes:
        total += m * n
        m_total += m
    rewards = x[total : total + m_total]
    gold = x[total + m_total : total + 2 * m_total].view(np.int64)
    sim = x[total + 2 * m_total :]
    out = []
    start = row = 0
    for shape in shapes:  # views of the four arrays (the loop is kept lean: one pass per problem)
        m, n = shape
        end, row_end = start + m * n, row + m
        plan = x[start:end].reshape(shape)
        out.append(Assignment(rewards[row:row_end], gold[row:row_end], sim[row:row_end], plan))
        start, row = end, row_end
    if fallback:
        redo = [problems[k] for k in fallback]
        plans = sinkhorn.ot_plans(redo, cost, tau, reg, max_iter, stop_thr, deadline=deadline)
        for k, s, z in zip(fallback, redo, plans, strict=True):
            out[k] = ot_assignment(s, z, row_normalize)
    return out
