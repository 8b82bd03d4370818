//! Soft assignment (``ot``): Sinkhorn-Knopp transport plans and their rewards (core/sinkhorn.py,
//! core/assign.py `ot_cost` / `ot_assignment`; core/soft.py calls it).
//!
//! Python API:
//! - `ot_solve(problems, cost, tau, reg, max_iter, stop_thr, row_normalize, budget)
//!   -> (bytearray, list[int], list[int]) | None`: `problems` are 2-D float64 buffers (the S matrices,
//!   m x n, C-contiguous). The bytearray holds every problem's plan (row-major, concatenated), then the
//!   rewards of every problem (float64 x M, M = the sum of the m), their gold indices (int64 x M) and
//!   their similarities (float64 x M), as `ot_assignment` gives them. Then the problems whose plan is not
//!   finite (the caller solves those in Python: `ot_plans` decides about its fallback) and the iterations
//!   each problem ran. `None` when an input is not such a buffer, `cost` is unknown, or `budget` (seconds,
//!   `None` = no limit) ran out: the caller then runs the Python path.
//!
//! Every problem runs on its own, with the arithmetic of `ot_plans`'s block system in the same order:
//! K = exp(C / -reg) from the cost C; u = a, K^T u summed over rows in order; per iteration v = b / K^T u,
//! u = a / K v (each row summed from 0 in column order), K^T u; on every 10th iteration (0, 10, ...) the stop
//! test sqrt(sum_j (v_j (K^T u)_j - b_j)^2) < stop_thr with numpy's `add.reduceat` summation (first term,
//! then the pairwise sum of the rest). Plan u_i K_ij v_j (1 x 1: exactly 1); rewards sum_j Z_ij S_ij as
//! numpy's pairwise row sum.

mod solver;

use std::time::{Duration, Instant};

use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyList};

pub(crate) use solver::{Outcome, Problem, Solver};

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Cost {
    Neg,
    Linear,
    Normalized,
    Exp,
}

impl Cost {
    fn parse(name: &str) -> Option<Cost> {
        match name {
            "neg" => Some(Cost::Neg),
            "linear" => Some(Cost::Linear),
            "normalized" => Some(Cost::Normalized),
            "exp" => Some(Cost::Exp),
            _ => None,
        }
    }
}

/// The settings of `ot_plans` / `ot_assignment` (`cost`, `tau`, `reg`, `ot_max_iter`, `ot_stop_thr`,
/// `row_normalize`).
#[derive(Clone, Copy)]
pub(crate) struct Params {
    pub(crate) cost: Cost,
    pub(crate) tau: f64,
    pub(crate) reg: f64,
    pub(crate) max_iter: usize,
    pub(crate) stop_thr: f64,
    pub(crate) row_normalize: bool,
}

impl Params {
    /// `None` for an unknown cost.
    pub(crate) fn new(
        cost: &str,
        tau: f64,
        reg: f64,
        max_iter: usize,
        stop_thr: f64,
        row_normalize: bool,
    ) -> Option<Params> {
        Some(Params {
            cost: Cost::parse(cost)?,
            tau,
            reg,
            max_iter,
            stop_thr,
            row_normalize,
        })
    }
}

/// The instant `budget` seconds from now (`None`: no limit, as is a budget too large for an `Instant`).
pub(crate) fn deadline_in(budget: Option<f64>) -> Option<Instant> {
    budget.and_then(|secs| {
        Duration::try_from_secs_f64(secs.max(0.0))
            .ok()
            .and_then(|d| Instant::now().checked_add(d))
    })
}

/// numpy's pairwise summation (`pairwise_sum` of its add loops): below 8 terms in order from 0, up to
/// 128 with 8 accumulators, above that halves at a multiple of 8. Sums match numpy's bit for bit (also
/// used by score.rs).
pub(crate) fn pairwise(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        let mut res = 0.0;
        for &x in a {
            res += x;
        }
        res
    } else if n <= 128 {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&a[..8]);
        let mut i = 8;
        while i < n - n % 8 {
            for k in 0..8 {
                r[k] += a[i + k];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &x in &a[i..] {
            res += x;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise(&a[..n2]) + pairwise(&a[n2..])
    }
}

struct Solved {
    buf: Vec<f64>,
    fallback: Vec<usize>,
    iterations: Vec<usize>,
}

/// Every problem (S, m, n): plans then rewards, gold, similarities in one buffer; `None` past `deadline`.
fn solve_all(
    problems: &[(Vec<f64>, usize, usize)],
    p: &Params,
    deadline: Option<Instant>,
) -> Option<Solved> {
    let plans: usize = problems.iter().map(|(s, _, _)| s.len()).sum();
    let rows: usize = problems.iter().map(|(_, m, _)| *m).sum();
    let mut buf = vec![0.0f64; plans + 3 * rows];
    let (plan_buf, rest) = buf.split_at_mut(plans);
    let (rew_buf, rest) = rest.split_at_mut(rows);
    let (gold_buf, sim_buf) = rest.split_at_mut(rows);
    let mut fallback = Vec::new();
    let mut iterations = Vec::with_capacity(problems.len());
    let mut solver = Solver::new(*p, deadline);
    let (mut off, mut roff) = (0, 0);
    for (idx, (s, m, n)) in problems.iter().enumerate() {
        let (m, n) = (*m, *n);
        let r = roff..roff + m;
        let problem = Problem {
            s,
            m,
            n,
            rewards: &mut rew_buf[r.clone()],
            gold: &mut gold_buf[r.clone()],
            sim: &mut sim_buf[r],
        };
        match solver.solve_into(problem, &mut plan_buf[off..off + m * n]) {
            Outcome::Solved(it) => iterations.push(it),
            Outcome::NotFinite(it) => {
                iterations.push(it);
                fallback.push(idx);
            }
            Outcome::Late => return None,
        }
        off += m * n;
        roff += m;
    }
    Some(Solved {
        buf,
        fallback,
        iterations,
    })
}

fn as_bytes(v: &[f64]) -> &[u8] {
    // SAFETY: f64 has no padding or invalid bit patterns; u8 has alignment 1.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}

/// The S matrices of `problems` (2-D, float64, m, n >= 1), or `None`.
fn read_problems(py: Python<'_>, problems: &PyList) -> Option<Vec<(Vec<f64>, usize, usize)>> {
    let mut out = Vec::with_capacity(problems.len());
    for item in problems.iter() {
        let b = PyBuffer::<f64>::get(item).ok()?;
        if b.dimensions() != 2 || !b.is_c_contiguous() {
            return None;
        }
        let (m, n) = (b.shape()[0], b.shape()[1]);
        if m == 0 || n == 0 {
            return None;
        }
        out.push((b.to_vec(py).ok()?, m, n));
    }
    Some(out)
}

#[allow(clippy::too_many_arguments)]
#[pyfunction]
fn ot_solve<'py>(
    py: Python<'py>,
    problems: &PyList,
    cost: &str,
    tau: f64,
    reg: f64,
    max_iter: usize,
    stop_thr: f64,
    row_normalize: bool,
    budget: Option<f64>,
) -> Option<(&'py PyByteArray, Vec<usize>, Vec<usize>)> {
    let p = Params::new(cost, tau, reg, max_iter, stop_thr, row_normalize)?;
    let deadline = deadline_in(budget);
    let input = read_problems(py, problems)?;
    let solved = py.allow_threads(|| solve_all(&input, &p, deadline))?;
    Some((
        PyByteArray::new(py, as_bytes(&solved.buf)),
        solved.fallback,
        solved.iterations,
    ))
}

pub fn register(m: &PyModule) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(ot_solve, m)?)?;
    Ok(())
}
