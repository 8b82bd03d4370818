//! The `/v1/score` response rows and summaries (service/turnscore/core/response.py `advantage_rows`,
//! `score_groups`; summary.py `scored_stats`, `summarize`) for every rollout of a request in two calls,
//! around the advantages: numpy's (core/advantages.py) in between, or for the common settings computed here.
//!
//! Python API (response.native_rows):
//! - `rows_input(rollouts, scores, counts, order, scheme, discounted, arrays)`: the distinct rollouts, their
//!   `RolloutScore`s and `CallCounts`, each response rollout's index among them, the reward scheme's index
//!   in `SCHEMES`, whether the outcome is discounted into turn returns. `None` when something needs the
//!   Python path, else `(RowsInput, (returns, outcome, group, num_turns, turn_rewards))`: the
//!   `AdvantageInput` arrays (bytearrays of float64 / int64, per response rollout or turn; None in their
//!   place without `arrays`, for `score_rows_native`).
//! - `rows_input_columns(columns, order, scheme, discounted, arrays)`: the same from the compiled scores' columns
//!   (`ScoreColumns`, score/columns.rs) in place of the rollouts, scores and counts.
//! - `score_rows(input, trajectory, turn, combined, sizes, entries)`: the advantages (float64 bytes; `sizes`
//!   GiGPO's int64 step-group sizes or None) -> each row appended to its group's list in `entries`, and
//!   `(rows, malformed calls, group summaries, summary, floats, ints)` (the last two: the rollouts'
//!   `RolloutStats` as columns, summary.RolloutColumns); `None` (nothing appended) where Python raises.
//! - `score_rows_native(input, params, entries)`: `score_rows` with the advantages computed here
//!   (rows/advantages.rs) for `advantage` dual, trajectory and turn (response.native_params); numpy's
//!   arrays are then not needed.
//! - `advantages(arrays, params)`: rows/advantages.rs' (trajectory, turn, combined) from `AdvantageInput`'s
//!   arrays as bytes, for the parity tests.
//! - `fsum(values)`, `square(x)`: `math.fsum(values)` and `x ** 2` as the rows compute them (`None` where
//!   Python raises), for the parity tests.

mod advantages;
mod build;
mod fsum;
mod input;
mod pyobj;
mod summary;

use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyList};

use advantages::{Output, Params};
use build::{build, Built};
use fsum::fsum;
pub use input::RowsInput;
use pyobj::bytes_of;

fn finite(x: f64) -> f64 {
    if x.is_finite() {
        x
    } else {
        0.0
    }
}

fn floats(b: &[u8]) -> Vec<f64> {
    b.chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// Every response row, appended to its group's `rollouts`, and the summaries (module docs).
#[pyfunction]
fn score_rows<'py>(
    py: Python<'py>,
    input: PyRef<RowsInput>,
    trajectory: &[u8],
    turn: &[u8],
    combined: &[u8],
    sizes: Option<&[u8]>,
    entries: &PyList,
) -> PyResult<Option<Built<'py>>> {
    let sizes: Option<Vec<i64>> = sizes.map(|s| {
        s.chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
            .collect()
    });
    let adv = Output {
        trajectory: floats(trajectory),
        turn: floats(turn),
        combined: floats(combined),
    };
    if trajectory.len() % 8 != 0 || turn.len() % 8 != 0 || combined.len() % 8 != 0 {
        return Ok(None);
    }
    build(py, &input, adv, sizes, entries)
}

/// `score_rows` with the advantages computed here (rows/advantages.rs) from what `rows_input` read:
/// `params` (advantage, turn_normalization, std, singleton raw, combine mean, epsilon, gamma), the
/// strings numbered as response.py's tuples number them. `None`: Python's rows (as `score_rows`).
#[pyfunction]
fn score_rows_native<'py>(
    py: Python<'py>,
    input: PyRef<RowsInput>,
    params: ParamTuple,
    entries: &PyList,
) -> PyResult<Option<Built<'py>>> {
    let Some(adv) = input.advantage_arrays().compute(params) else {
        return Ok(None);
    };
    build(py, &input, adv, None, entries)
}

/// `Params` as Python passes them (response.native_params).
type ParamTuple = (usize, usize, usize, bool, bool, f64, f64);
/// `AdvantageInput`'s arrays as bytes.
type ByteArrays<'a> = (&'a [u8], &'a [u8], &'a [u8], &'a [u8], &'a [u8]);

fn to_params(p: ParamTuple) -> Params {
    let (advantage, turn_normalization, std, singleton_raw, combine_mean, epsilon, gamma) = p;
    Params {
        advantage,
        turn_normalization,
        std,
        singleton_raw,
        combine_mean,
        epsilon,
        gamma,
    }
}

/// `AdvantageInput`'s arrays, owned (rows/advantages.rs reads them as its `Input`).
pub(crate) struct AdvantageArrays {
    returns: Vec<f64>,
    outcome: Vec<f64>,
    group: Vec<usize>,
    num_turns: Vec<usize>,
    turn_rewards: Vec<f64>,
}

impl AdvantageArrays {
    /// rows/advantages.rs' trajectory, turn and combined advantages of the arrays.
    fn compute(&self, params: ParamTuple) -> Option<Output> {
        let inp = advantages::Input {
            returns: &self.returns,
            outcome: &self.outcome,
            group: &self.group,
            num_turns: &self.num_turns,
            turn_rewards: &self.turn_rewards,
        };
        advantages::compute(&inp, &to_params(params))
    }
}

/// `adv.compute`'s trajectory, turn and combined advantages (float64 bytes) by rows/advantages.rs from
/// `AdvantageInput`'s arrays (float64 / int64 bytes), for the parity tests; `None` where it does not
/// compute them.
#[pyfunction(name = "advantages")]
fn py_advantages<'py>(
    py: Python<'py>,
    arrays: ByteArrays<'_>,
    params: ParamTuple,
) -> Option<(&'py PyByteArray, &'py PyByteArray, &'py PyByteArray)> {
    let (returns, outcome, group, num_turns, turn_rewards) = arrays;
    let ints = |b: &[u8]| -> Option<Vec<usize>> {
        b.chunks_exact(8)
            .map(|c| usize::try_from(i64::from_le_bytes(c.try_into().unwrap())).ok())
            .collect()
    };
    let arrays = AdvantageArrays {
        returns: floats(returns),
        outcome: floats(outcome),
        group: ints(group)?,
        num_turns: ints(num_turns)?,
        turn_rewards: floats(turn_rewards),
    };
    let out = arrays.compute(params)?;
    let b = |v: Vec<f64>| bytes_of(py, v.into_iter(), f64::to_le_bytes);
    Some((b(out.trajectory), b(out.turn), b(out.combined)))
}

/// `math.fsum(values)`; `None` where it raises.
#[pyfunction(name = "fsum")]
fn py_fsum(values: Vec<f64>) -> Option<f64> {
    fsum(values)
}

/// `x ** 2`; `None` where it raises.
#[pyfunction(name = "square")]
fn py_square(x: f64) -> Option<f64> {
    fsum::square(x)
}

pub fn register(m: &PyModule) -> PyResult<()> {
    m.add_class::<RowsInput>()?;
    m.add_function(wrap_pyfunction!(py_fsum, m)?)?;
    m.add_function(wrap_pyfunction!(py_square, m)?)?;
    m.add_function(wrap_pyfunction!(input::rows_input, m)?)?;
    m.add_function(wrap_pyfunction!(input::rows_input_columns, m)?)?;
    m.add_function(wrap_pyfunction!(score_rows, m)?)?;
    m.add_function(wrap_pyfunction!(score_rows_native, m)?)?;
    m.add_function(wrap_pyfunction!(py_advantages, m)?)?;
    Ok(())
}
