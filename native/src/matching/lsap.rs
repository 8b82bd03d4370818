//! Rectangular linear sum assignment by shortest augmenting paths (Crouse, "On implementing 2D rectangular
//! assignment algorithms", IEEE TAES 2016), written to return exactly what
//! `scipy.optimize.linear_sum_assignment` returns, ties included: the same orientation (rows <= columns,
//! transposing otherwise), the same row order, the same choice among equally short paths (the first
//! minimum in the order of the remaining-columns list, an unassigned column winning a tie) and the same
//! floating-point operations on the dual variables.

/// Maximize the total of `s` (row-major `m x n`); returns the assigned column of each row (`-1`: none).
pub fn maximize(s: &[f64], m: usize, n: usize) -> Vec<i64> {
    let mut out = vec![-1i64; m];
    if m == 0 || n == 0 {
        return out;
    }
    let transpose = n < m;
    let (nr, nc) = if transpose { (n, m) } else { (m, n) };
    let mut cost = vec![0.0f64; nr * nc];
    for i in 0..m {
        for j in 0..n {
            let v = -s[i * n + j];
            if transpose {
                cost[j * nc + i] = v;
            } else {
                cost[i * nc + j] = v;
            }
        }
    }
    let col4row = solve(&cost, nr, nc);
    if transpose {
        for (r, &c) in col4row.iter().enumerate() {
            out[c] = r as i64; // original row c takes original column r
        }
    } else {
        for (r, &c) in col4row.iter().enumerate() {
            out[r] = c as i64;
        }
    }
    out
}

/// Minimum-cost assignment of every row (nr <= nc); returns the column of each row.
fn solve(cost: &[f64], nr: usize, nc: usize) -> Vec<usize> {
    const NONE: usize = usize::MAX;
    let mut u = vec![0.0f64; nr];
    let mut v = vec![0.0f64; nc];
    let mut dist = vec![0.0f64; nc];
    let mut path = vec![NONE; nc];
    let mut col4row = vec![NONE; nr];
    let mut row4col = vec![NONE; nc];
    let mut in_rows = vec![false; nr];
    let mut in_cols = vec![false; nc];
    let mut remaining = vec![0usize; nc];

    for cur in 0..nr {
        // shortest augmenting path from row `cur` to a free column
        let mut min_val = 0.0f64;
        let mut n_rem = nc;
        for (k, r) in remaining.iter_mut().enumerate() {
            *r = nc - k - 1;
        }
        in_rows.iter_mut().for_each(|x| *x = false);
        in_cols.iter_mut().for_each(|x| *x = false);
        dist.iter_mut().for_each(|x| *x = f64::INFINITY);
        let mut i = cur;
        let sink;
        loop {
            let mut index = NONE;
            let mut lowest = f64::INFINITY;
            in_rows[i] = true;
            for (k, &j) in remaining[..n_rem].iter().enumerate() {
                let r = min_val + cost[i * nc + j] - u[i] - v[j];
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
    col4row
}
