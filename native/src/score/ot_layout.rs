//! OT assignments handed to `score_hard` without per-problem Python views (service/turnscore/core/rewards.py
//! `_match`, `_assignment_buffer`).
//!
//! Python API:
//! - `ot_layout(buf, plan_cells, sizes) -> bytes | None`: `ot_solve`'s buffer (the plans, `plan_cells`
//!   floats, then every problem's rewards, gold indices and similarities) laid out as `assign_many`'s for
//!   every (rollout, reference) pair in order: `sizes[p] > 0` takes the next problem's rows, `< 0` gives
//!   that many rows of a pair without gold calls (reward 0, gold -1, similarity 0), `0` none. `None` when
//!   the sizes do not account for the buffer's rows.

use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes};

use crate::matching::as_bytes;

#[pyfunction]
fn ot_layout<'py>(
    py: Python<'py>,
    buf: &PyByteArray,
    plan_cells: usize,
    sizes: Vec<i64>,
) -> Option<&'py PyBytes> {
    // SAFETY: the bytes are copied out before any Python code can run
    let raw = unsafe { buf.as_bytes() };
    if raw.len() % 8 != 0 {
        return None;
    }
    let x: Vec<f64> = raw
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let rows = x.len().checked_sub(plan_cells)? / 3;
    if plan_cells + 3 * rows != x.len() {
        return None;
    }
    let total: usize = sizes.iter().map(|s| s.unsigned_abs() as usize).sum();
    let solved: usize = sizes.iter().filter(|&&s| s > 0).map(|&s| s as usize).sum();
    if solved != rows {
        return None;
    }
    let (rewards, rest) = x[plan_cells..].split_at(rows);
    let (gold, sim) = rest.split_at(rows);
    let mut out = vec![0.0f64; 3 * total];
    let (mut src, mut dst) = (0usize, 0usize);
    for s in sizes {
        let k = s.unsigned_abs() as usize;
        if s > 0 {
            out[dst..dst + k].copy_from_slice(&rewards[src..src + k]);
            out[total + dst..total + dst + k].copy_from_slice(&gold[src..src + k]);
            out[2 * total + dst..2 * total + dst + k].copy_from_slice(&sim[src..src + k]);
            src += k;
        } else {
            out[total + dst..total + dst + k].fill(f64::from_bits((-1i64) as u64));
        }
        dst += k;
    }
    Some(PyBytes::new(py, as_bytes(&out)))
}

pub fn register(m: &PyModule) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(ot_layout, m)?)
}
