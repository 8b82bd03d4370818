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

use std::time::{Duration, Instant};

use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyList};

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

/// K = exp(C / -reg) of one m x n problem into `k`, C = `ot_cost(S)` computed as `_flat_cost` does
/// (row totals summed in order from 0; a `normalized` row whose total is not > 0 becomes 0).
fn kernel(s: &[f64], n: usize, p: &Params, k: &mut [f64]) {
    for (row, out) in s.chunks_exact(n).zip(k.chunks_exact_mut(n)) {
        for (x, c) in row.iter().zip(out.iter_mut()) {
            *c = match p.cost {
                Cost::Neg => -*x,
                Cost::Exp => (*x / -p.tau).exp(),
                Cost::Linear | Cost::Normalized => 1.0 - *x,
            };
        }
        if matches!(p.cost, Cost::Exp | Cost::Normalized) {
            let mut tot = 0.0;
            for c in out.iter() {
                tot += *c * 1.0;
            }
            for c in out.iter_mut() {
                *c = if p.cost == Cost::Exp || tot > 0.0 {
                    *c / tot
                } else {
                    0.0
                };
            }
        }
    }
    for c in k.iter_mut() {
        *c = (*c / -p.reg).exp();
    }
}

/// Scratch buffers of one problem, reused across problems: scalings, K^T u, the stop test's terms, a
/// row's products (`assign_rows`) and the kernel / plan when the caller keeps no plan (`solve_scratch`).
#[derive(Default)]
pub(crate) struct Work {
    u: Vec<f64>,
    v: Vec<f64>,
    ktu: Vec<f64>,
    d: Vec<f64>,
    prod: Vec<f64>,
    plan: Vec<f64>,
}

/// How a problem ended.
pub(crate) enum Outcome {
    /// solved in that many iterations, its rows written
    Solved(usize),
    /// the plan is not finite (the Python path solves it); its rows untouched
    NotFinite(usize),
    /// the deadline passed
    Late,
}

/// K^T u into `ktu`: each column summed over the rows in order from 0 (`0.0 + K_0j u_0 + K_1j u_1 + ...`).
fn transpose_product(k: &[f64], n: usize, u: &[f64], ktu: &mut [f64]) {
    ktu.fill(0.0);
    for (row, &ui) in k.chunks_exact(n).zip(u) {
        for (t, &x) in ktu.iter_mut().zip(row) {
            *t += x * ui;
        }
    }
}

/// `R` rows of K (`rows`, R x n) in [`scale`]: their u (`a` over each row's sum of K_ij v_j from 0 in
/// column order, the R sums side by side) into `u`, then the rows added to K^T u in row order (`first`:
/// K^T u starts from 0.0, the block's first row added to it).
#[inline(always)]
fn scale_rows<const R: usize>(
    rows: &[f64],
    n: usize,
    a: f64,
    v: &[f64],
    u: &mut [f64],
    ktu: &mut [f64],
    first: bool,
) {
    let r: [&[f64]; R] = std::array::from_fn(|i| &rows[i * n..(i + 1) * n]);
    let mut sums = [0.0f64; R];
    for j in 0..n {
        let vj = v[j];
        for i in 0..R {
            sums[i] += r[i][j] * vj;
        }
    }
    let us: [f64; R] = std::array::from_fn(|i| a / sums[i]);
    u[..R].copy_from_slice(&us);
    for j in 0..n {
        let mut t = if first { 0.0 } else { ktu[j] };
        for i in 0..R {
            t += r[i][j] * us[i];
        }
        ktu[j] = t;
    }
}

/// One half-step of the iteration: u_i = a / sum_j K_ij v_j (each row summed from 0 in column order),
/// then K^T u (as [`transpose_product`]). Rows go four (then two, then one) at a time, each block's rows
/// added to K^T u in row order as soon as their u is known: every sum keeps its terms and their order
/// (bit-identical to the two passes), with one pass over K and independent additions side by side.
fn scale(k: &[f64], n: usize, a: f64, v: &[f64], u: &mut [f64], ktu: &mut [f64]) {
    let (v, ktu) = (&v[..n], &mut ktu[..n]);
    let m = u.len();
    let mut i = 0;
    while i + 4 <= m {
        scale_rows::<4>(&k[i * n..], n, a, v, &mut u[i..], ktu, i == 0);
        i += 4;
    }
    if i + 2 <= m {
        scale_rows::<2>(&k[i * n..], n, a, v, &mut u[i..], ktu, i == 0);
        i += 2;
    }
    if i < m {
        scale_rows::<1>(&k[i * n..], n, a, v, &mut u[i..], ktu, i == 0);
    }
}

/// Sinkhorn-Knopp on one problem's K (m x n): the iterations run (`max_iter` when the stop test never
/// passed), the scalings left in `w.u` / `w.v`; `None` when `deadline` passed.
fn iterate(
    k: &[f64],
    m: usize,
    n: usize,
    p: &Params,
    deadline: Option<Instant>,
    w: &mut Work,
) -> Option<usize> {
    let (a, b) = (1.0 / m as f64, 1.0 / n as f64);
    w.u.clear();
    w.u.resize(m, a);
    w.v.clear();
    w.v.resize(n, b);
    w.ktu.resize(n, 0.0);
    w.d.resize(n, 0.0);
    transpose_product(k, n, &w.u, &mut w.ktu);
    for it in 0..p.max_iter {
        for (v, &t) in w.v.iter_mut().zip(&w.ktu) {
            *v = b / t;
        }
        scale(k, n, a, &w.v, &mut w.u, &mut w.ktu);
        if it % 10 != 0 {
            continue;
        }
        if let Some(limit) = deadline {
            if Instant::now() >= limit {
                return None;
            }
        }
        for ((d, &v), &t) in w.d.iter_mut().zip(&w.v).zip(&w.ktu) {
            let e = v * t - b;
            *d = e * e;
        }
        let err = (w.d[0] + pairwise(&w.d[1..])).sqrt();
        if err < p.stop_thr {
            return Some(it + 1);
        }
    }
    Some(p.max_iter)
}

/// Rewards, gold index and similarity of each row of one solved problem (`ot_assignment`).
#[allow(clippy::too_many_arguments)]
fn assign_rows(
    s: &[f64],
    plan: &[f64],
    n: usize,
    p: &Params,
    prod: &mut Vec<f64>,
    rewards: &mut [f64],
    gold: &mut [f64],
    sim: &mut [f64],
) {
    let m = rewards.len();
    prod.clear();
    prod.resize(n, 0.0);
    for i in 0..m {
        let (srow, zrow) = (&s[i * n..(i + 1) * n], &plan[i * n..(i + 1) * n]);
        for ((q, &z), &x) in prod.iter_mut().zip(zrow).zip(srow) {
            *q = z * x;
        }
        let mut r = 0.0 + pairwise(prod);
        if p.row_normalize {
            r *= m as f64;
        }
        let mut best = 0;
        for j in 1..n {
            if zrow[j] > zrow[best] {
                best = j;
            }
        }
        rewards[i] = r;
        gold[i] = f64::from_bits(best as u64);
        sim[i] = srow[best];
    }
}

/// One problem (S, m x n, m, n >= 1): its plan into `k` (m * n floats), then, when the plan is finite,
/// each row's reward, gold index (int64 bits) and similarity into `rewards` / `gold` / `sim` (m each).
/// The one solver of `ot_solve` and of the lean path (score/matcher.rs).
#[allow(clippy::too_many_arguments)]
pub(crate) fn solve_one(
    s: &[f64],
    m: usize,
    n: usize,
    p: &Params,
    deadline: Option<Instant>,
    w: &mut Work,
    k: &mut [f64],
    rewards: &mut [f64],
    gold: &mut [f64],
    sim: &mut [f64],
) -> Outcome {
    kernel(s, n, p, k);
    let Some(iterations) = iterate(k, m, n, p, deadline, w) else {
        return Outcome::Late;
    };
    if m * n == 1 {
        k[0] = 1.0;
    } else {
        for (row, &u) in k.chunks_exact_mut(n).zip(&w.u) {
            for (x, &v) in row.iter_mut().zip(&w.v) {
                *x = *x * u * v;
            }
        }
    }
    if !k.iter().all(|x| x.is_finite()) {
        return Outcome::NotFinite(iterations);
    }
    assign_rows(s, k, n, p, &mut w.prod, rewards, gold, sim);
    Outcome::Solved(iterations)
}

/// [`solve_one`] with the plan in `w`'s scratch buffer (the caller keeps only the rows).
#[allow(clippy::too_many_arguments)]
pub(crate) fn solve_scratch(
    s: &[f64],
    m: usize,
    n: usize,
    p: &Params,
    deadline: Option<Instant>,
    w: &mut Work,
    rewards: &mut [f64],
    gold: &mut [f64],
    sim: &mut [f64],
) -> Outcome {
    let mut k = std::mem::take(&mut w.plan);
    k.clear();
    k.resize(m * n, 0.0);
    let got = solve_one(s, m, n, p, deadline, w, &mut k, rewards, gold, sim);
    w.plan = k;
    got
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
    let mut w = Work::default();
    let (mut off, mut roff) = (0, 0);
    for (idx, (s, m, n)) in problems.iter().enumerate() {
        let (m, n) = (*m, *n);
        let r = roff..roff + m;
        match solve_one(
            s,
            m,
            n,
            p,
            deadline,
            &mut w,
            &mut plan_buf[off..off + m * n],
            &mut rew_buf[r.clone()],
            &mut gold_buf[r.clone()],
            &mut sim_buf[r],
        ) {
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
