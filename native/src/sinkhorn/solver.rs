//! The Sinkhorn-Knopp solver of one problem (sinkhorn.rs module docs: the arithmetic, in `ot_plans`'s
//! order): its kernel, its iterations and its rows.

use std::time::Instant;

use super::{pairwise, Cost, Params};

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
/// row's products (`assign_rows`) and the kernel / plan when the caller keeps no plan (`Solver::solve`).
#[derive(Default)]
struct Work {
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

/// One problem: S (m x n, row-major, m, n >= 1) and where its rows go (m each).
pub(crate) struct Problem<'a> {
    pub(crate) s: &'a [f64],
    pub(crate) m: usize,
    pub(crate) n: usize,
    pub(crate) rewards: &'a mut [f64],
    pub(crate) gold: &'a mut [f64],
    pub(crate) sim: &'a mut [f64],
}

/// The solver of `ot_solve` and of the lean path (score/matcher.rs): the settings, the deadline of the
/// iterations (`None`: none) and the scratch buffers, reused from problem to problem.
pub(crate) struct Solver {
    pub(crate) params: Params,
    deadline: Option<Instant>,
    work: Work,
}

impl Solver {
    pub(crate) fn new(params: Params, deadline: Option<Instant>) -> Solver {
        Solver {
            params,
            deadline,
            work: Work::default(),
        }
    }

    /// The problem's plan into `k` (m * n floats), then, when the plan is finite, each row's reward,
    /// gold index (int64 bits) and similarity into the problem's `rewards` / `gold` / `sim`.
    pub(crate) fn solve_into(&mut self, pr: Problem<'_>, k: &mut [f64]) -> Outcome {
        let (s, m, n, p, w) = (pr.s, pr.m, pr.n, &self.params, &mut self.work);
        kernel(s, n, p, k);
        let Some(iterations) = iterate(k, m, n, p, self.deadline, w) else {
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
        assign_rows(s, k, n, p, &mut w.prod, pr.rewards, pr.gold, pr.sim);
        Outcome::Solved(iterations)
    }

    /// [`Solver::solve_into`] with the plan in a scratch buffer (the caller keeps only the rows).
    pub(crate) fn solve(&mut self, pr: Problem<'_>) -> Outcome {
        let mut k = std::mem::take(&mut self.work.plan);
        k.clear();
        k.resize(pr.m * pr.n, 0.0);
        let got = self.solve_into(pr, &mut k);
        self.work.plan = k;
        got
    }
}
