//! Rectangular linear sum assignment by shortest augmenting paths (Crouse, "On implementing 2D rectangular
//! assignment algorithms", IEEE TAES 2016), written to return exactly what
//! `scipy.optimize.linear_sum_assignment` returns, ties included: the same orientation (rows <= columns,
//! transposing otherwise), the same row order, the same choice among equally short paths (the first
//! minimum in the order of the remaining-columns list, an unassigned column winning a tie) and the same
//! floating-point operations on the dual variables.

const NONE: usize = usize::MAX;

/// The solver's buffers, reused from problem to problem (one set per matcher: no allocation per problem
/// once they have grown).
#[derive(Default)]
pub struct Lsap {
    u: Vec<f64>,
    v: Vec<f64>,
    dist: Vec<f64>,
    path: Vec<usize>,
    col4row: Vec<usize>,
    row4col: Vec<usize>,
    in_rows: Vec<bool>,
    in_cols: Vec<bool>,
    remaining: Vec<usize>,
}

/// `v` emptied and refilled with `len` copies of `x` (a buffer kept from problem to problem).
pub(crate) fn reset<T: Copy>(v: &mut Vec<T>, len: usize, x: T) {
    v.clear();
    v.resize(len, x);
}

/// Maximize the total of `s` (row-major `m x n`); returns the assigned column of each row (`-1`: none).
pub fn maximize(s: &[f64], m: usize, n: usize) -> Vec<i64> {
    let mut out = vec![-1i64; m];
    Lsap::default().maximize_into(s, m, n, &mut out);
    out
}

impl Lsap {
    /// [`maximize`] into `out` (`m` columns, `-1`: none).
    pub fn maximize_into(&mut self, s: &[f64], m: usize, n: usize, out: &mut [i64]) {
        out[..m].fill(-1);
        if m == 0 || n == 0 {
            return;
        }
        let transpose = n < m;
        let (nr, nc) = if transpose { (n, m) } else { (m, n) };
        // the cost of (row, column) of the oriented problem: -S, read in place
        if transpose {
            self.solve(nr, nc, |r, c| -s[c * n + r]);
        } else {
            self.solve(nr, nc, |r, c| -s[r * n + c]);
        }
        if transpose {
            for (r, &c) in self.col4row.iter().enumerate() {
                out[c] = r as i64; // original row c takes original column r
            }
        } else {
            for (r, &c) in self.col4row.iter().enumerate() {
                out[r] = c as i64;
            }
        }
    }

    /// Minimum-cost assignment of every row (nr <= nc; `cost(row, column)`) into `self.col4row`.
    #[inline(always)]
    fn solve(&mut self, nr: usize, nc: usize, cost: impl Fn(usize, usize) -> f64) {
        reset(&mut self.u, nr, 0.0);
        reset(&mut self.v, nc, 0.0);
        reset(&mut self.dist, nc, 0.0);
        reset(&mut self.path, nc, NONE);
        reset(&mut self.col4row, nr, NONE);
        reset(&mut self.row4col, nc, NONE);
        reset(&mut self.in_rows, nr, false);
        reset(&mut self.in_cols, nc, false);
        reset(&mut self.remaining, nc, 0);
        let Lsap {
            u,
            v,
            dist,
            path,
            col4row,
            row4col,
            in_rows,
            in_cols,
            remaining,
        } = self;

        for cur in 0..nr {
            // shortest augmenting path from row `cur` to a free column
            let mut min_val = 0.0f64;
            let mut n_rem = nc;
            for (k, r) in remaining.iter_mut().enumerate() {
                *r = nc - k - 1;
            }
            in_rows.fill(false);
            in_cols.fill(false);
            dist.fill(f64::INFINITY);
            let mut i = cur;
            let sink;
            loop {
                let mut index = NONE;
                let mut lowest = f64::INFINITY;
                in_rows[i] = true;
                let ui = u[i];
                for (k, &j) in remaining[..n_rem].iter().enumerate() {
                    let r = min_val + cost(i, j) - ui - v[j];
                    if r < dist[j] {
                        path[j] = i;
                        dist[j] = r;
                    }
                    if dist[j] < lowest || (dist[j] == lowest && row4col[j] == NONE) {
                        lowest = dist[j];
                        index = k;
                    }
                }
                min_val = lowest;
                // S is finite, so every column is reachable: `index` is always set
                let j = remaining[index];
                in_cols[j] = true;
                n_rem -= 1;
                remaining[index] = remaining[n_rem];
                if row4col[j] == NONE {
                    sink = j;
                    break;
                }
                i = row4col[j];
            }
            // dual update
            u[cur] += min_val;
            for r in 0..nr {
                if in_rows[r] && r != cur {
                    u[r] += min_val - dist[col4row[r]];
                }
            }
            for c in 0..nc {
                if in_cols[c] {
                    v[c] -= min_val - dist[c];
                }
            }
            // augment along the path
            let mut j = sink;
            loop {
                let r = path[j];
                row4col[j] = r;
                std::mem::swap(&mut col4row[r], &mut j);
                if r == cur {
                    break;
                }
            }
        }
    }
}
