//! Hard assignment of one problem (assign.hungarian / assign.greedy) into the three sections of an
//! assignment buffer (`assign_many`'s layout), and the similarity matrix OT starts from, with buffers kept
//! from problem to problem (a matcher holds one [`Scratch`]: no allocation per problem once grown).

use super::lsap::{reset, Lsap};
use super::{sparse_into, GoldTable, PredTable};

/// The buffers of one problem: its positive entries (i, j, S), the dense S, the rows and columns taken,
/// the column of each row and the LSAP solver's.
#[derive(Default)]
pub(crate) struct Scratch {
    entries: Vec<(usize, usize, f64)>,
    s: Vec<f64>,
    rows: Vec<bool>,
    cols: Vec<bool>,
    col: Vec<i64>,
    lsap: Lsap,
}

/// The dense m x n S of the entries into `s`.
pub(crate) fn dense_into(e: &[(usize, usize, f64)], m: usize, n: usize, s: &mut Vec<f64>) {
    reset(s, m * n, 0.0);
    for &(i, j, v) in e {
        s[i * n + j] = v;
    }
}

impl Scratch {
    /// The dense S (m x n, row-major) of the pair.
    pub(crate) fn similarity(&mut self, p: &PredTable, g: &GoldTable) -> &[f64] {
        sparse_into(p, g, &mut self.entries);
        dense_into(&self.entries, p.calls.len(), g.n_calls(), &mut self.s);
        &self.s
    }

    /// Write the assignment of one problem at `off` of the three sections (rewards, gold, similarity) of
    /// `buf` (`total` rows each): -`penalty` / -1 / untouched for a row left unassigned.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn assign_into(
        &mut self,
        buf: &mut [f64],
        total: usize,
        off: usize,
        p: &PredTable,
        g: &GoldTable,
        hungarian: bool,
        penalty: f64,
    ) {
        let (m, n) = (p.calls.len(), g.n_calls());
        buf[off..off + m].iter_mut().for_each(|x| *x = -penalty);
        buf[total + off..total + off + m]
            .iter_mut()
            .for_each(|x| *x = f64::from_bits((-1i64) as u64));
        let mut put = |i: usize, j: usize, v: f64| {
            buf[off + i] = v;
            buf[total + off + i] = f64::from_bits(j as u64);
            buf[2 * total + off + i] = v;
        };
        sparse_into(p, g, &mut self.entries);
        let e = &mut self.entries;
        reset(&mut self.rows, m, false);
        reset(&mut self.cols, n, false);
        let (rows, cols) = (&mut self.rows, &mut self.cols);
        if hungarian {
            let conflict = e.iter().any(|&(i, j, _)| {
                let c = rows[i] || cols[j];
                rows[i] = true;
                cols[j] = true;
                c
            });
            if !conflict {
                // no two entries share a row or a column: every optimal assignment takes them all
                e.iter().for_each(|&(i, j, v)| put(i, j, v));
                return;
            }
            dense_into(e, m, n, &mut self.s);
            reset(&mut self.col, m, -1);
            self.lsap.maximize_into(&self.s, m, n, &mut self.col);
            for (i, &c) in self.col.iter().enumerate() {
                if c >= 0 && self.s[i * n + c as usize] > 0.0 {
                    put(i, c as usize, self.s[i * n + c as usize]);
                }
            }
            return;
        }
        // S descending, ties in (i, j) order (a stable sort of entries already in (i, j) order)
        e.sort_by(|a, b| b.2.partial_cmp(&a.2).unwrap());
        for &(i, j, v) in e.iter() {
            if rows[i] || cols[j] {
                continue;
            }
            rows[i] = true;
            cols[j] = true;
            put(i, j, v);
        }
    }
}
