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
mod pyobj;
mod summary;

use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyFloat, PyList, PyTuple};
use pyo3::{intern, PyTypeInfo};

use crate::score::ScoreColumns;
use advantages::{Output, Params};
use build::{build, Built};
use fsum::fsum;
use pyobj::{attr, bytes_of};

/// response._scheme's schemes, by the index Python passes.
const OUTCOME: usize = 0;
const TURN: usize = 1;
const TURN_OUTCOME: usize = 2;
const TRAJECTORY: usize = 3;
const TRAJECTORY_OUTCOME: usize = 4;

/// A distinct rollout with what its rows need.
struct Unique {
    group: usize,
    turn_rewards: Vec<f64>,
    outcome: f64,
    trajectory: Option<f64>,
    ret: f64,
    outcome_in: f64,
    num_calls: i64,
    malformed: i64,
    answered: bool,
    reference: i64,
    toolrl: Option<(PyObject, PyObject)>,
    counts: [i64; 4],
}

/// What `rows_input` read, for `score_rows`.
#[pyclass]
pub struct RowsInput {
    uniq: Vec<Unique>,
    order: Vec<usize>,
}

fn exact_float(o: &PyAny) -> Option<f64> {
    if PyFloat::is_exact_type_of(o) {
        o.extract().ok()
    } else {
        None
    }
}

fn finite(x: f64) -> f64 {
    if x.is_finite() {
        x
    } else {
        0.0
    }
}

/// One distinct rollout; `None` when a field is not what the core makes (a float that is not exactly
/// `float`, a list that is not a list) or the scheme's sum raises.
fn read_one(
    py: Python<'_>,
    rollout: &PyAny,
    score: &PyAny,
    counts: &PyAny,
    scheme: usize,
    discounted: bool,
) -> PyResult<Option<Unique>> {
    let group: usize = attr(rollout, intern!(py, "group"))?.extract()?;
    let num_calls: i64 = attr(rollout, intern!(py, "num_calls"))?.extract()?;
    let parsed = attr(rollout, intern!(py, "parsed"))?;
    let Ok(turns) = attr(parsed, intern!(py, "turns"))?.downcast::<PyList>() else {
        return Ok(None);
    };
    let (mut malformed, mut answered) = (0i64, false);
    for turn in turns.iter() {
        malformed += attr(turn, intern!(py, "malformed"))?.extract::<i64>()?;
        answered |= !attr(turn, intern!(py, "answer"))?.is_none();
    }
    let Ok(raw) = attr(score, intern!(py, "turn_rewards"))?.downcast::<PyList>() else {
        return Ok(None);
    };
    let mut turn_rewards = Vec::with_capacity(raw.len());
    for v in raw.iter() {
        let Some(v) = exact_float(v) else {
            return Ok(None);
        };
        turn_rewards.push(v);
    }
    let Some(outcome) = exact_float(attr(score, intern!(py, "outcome"))?) else {
        return Ok(None);
    };
    let trajectory = attr(score, intern!(py, "trajectory"))?;
    let trajectory = if trajectory.is_none() {
        None
    } else {
        let Some(t) = exact_float(trajectory) else {
            return Ok(None);
        };
        Some(t)
    };
    let reference: i64 = attr(score, intern!(py, "reference"))?.extract()?;
    let toolrl = attr(score, intern!(py, "toolrl"))?;
    let toolrl = if toolrl.is_none() {
        None
    } else {
        let Ok(t) = toolrl.downcast::<PyTuple>() else {
            return Ok(None);
        };
        if t.len() != 2 {
            return Ok(None);
        }
        Some((t.get_item(0)?.into(), t.get_item(1)?.into()))
    };
    let mut c = [0i64; 4];
    for (slot, name) in c.iter_mut().zip([
        intern!(py, "gold_calls"),
        intern!(py, "matched"),
        intern!(py, "exact"),
        intern!(py, "covered"),
    ]) {
        *slot = attr(counts, name)?.extract()?;
    }
    let Some((outcome_in, ret)) =
        apply_scheme(&mut turn_rewards, outcome, trajectory, scheme, discounted)
    else {
        return Ok(None);
    };
    Ok(Some(Unique {
        group,
        turn_rewards,
        outcome,
        trajectory,
        ret,
        outcome_in,
        num_calls,
        malformed,
        answered,
        reference,
        toolrl,
        counts: c,
    }))
}

/// response._scheme: the turn rewards used (in place), and (r^o in turn returns, R); `None` where the
/// scheme's sum raises.
fn apply_scheme(
    turn_rewards: &mut [f64],
    outcome: f64,
    trajectory: Option<f64>,
    scheme: usize,
    discounted: bool,
) -> Option<(f64, f64)> {
    let outcome_in_turns = if discounted { outcome } else { 0.0 };
    Some(match scheme {
        OUTCOME => {
            turn_rewards.iter_mut().for_each(|v| *v = 0.0);
            (outcome, outcome)
        }
        TURN => (0.0, fsum(turn_rewards.iter().copied())?),
        TURN_OUTCOME => {
            let s = fsum(turn_rewards.iter().copied())?;
            (outcome_in_turns, s + outcome_in_turns)
        }
        TRAJECTORY => (0.0, trajectory.unwrap_or(0.0)),
        TRAJECTORY_OUTCOME => (outcome_in_turns, trajectory.unwrap_or(0.0) + outcome),
        _ => return None,
    })
}

type Arrays<'py> = (
    &'py PyByteArray,
    &'py PyByteArray,
    &'py PyByteArray,
    &'py PyByteArray,
    &'py PyByteArray,
);

/// The rows' inputs and the `AdvantageInput` arrays (module docs).
#[pyfunction]
#[allow(clippy::too_many_arguments)] // the Python signature (module docs)
fn rows_input<'py>(
    py: Python<'py>,
    rollouts: &PyList,
    scores: &PyList,
    counts: &PyList,
    order: Vec<usize>,
    scheme: usize,
    discounted: bool,
    arrays: bool,
) -> PyResult<Option<(RowsInput, Option<Arrays<'py>>)>> {
    let n = rollouts.len();
    if scores.len() != n || counts.len() != n || order.iter().any(|&k| k >= n) {
        return Ok(None);
    }
    let mut uniq = Vec::with_capacity(n);
    for k in 0..n {
        let one = read_one(
            py,
            rollouts.get_item(k)?,
            scores.get_item(k)?,
            counts.get_item(k)?,
            scheme,
            discounted,
        )?;
        let Some(one) = one else {
            return Ok(None);
        };
        uniq.push(one);
    }
    Ok(Some(with_arrays(py, uniq, order, arrays)))
}

/// The `AdvantageInput` arrays of the response rollouts (module docs), beside what `score_rows` reads.
fn with_arrays(
    py: Python<'_>,
    uniq: Vec<Unique>,
    order: Vec<usize>,
    arrays: bool,
) -> (RowsInput, Option<Arrays<'_>>) {
    if !arrays {
        return (RowsInput { uniq, order }, None);
    }
    let rows = || order.iter().map(|&k| &uniq[k]);
    let arrays = Some((
        bytes_of(py, rows().map(|u| u.ret), f64::to_le_bytes),
        bytes_of(py, rows().map(|u| u.outcome_in), f64::to_le_bytes),
        bytes_of(py, rows().map(|u| u.group as i64), i64::to_le_bytes),
        bytes_of(
            py,
            rows().map(|u| u.turn_rewards.len() as i64),
            i64::to_le_bytes,
        ),
        bytes_of(
            py,
            rows().flat_map(|u| u.turn_rewards.iter().copied()),
            f64::to_le_bytes,
        ),
    ));
    (RowsInput { uniq, order }, arrays)
}

/// `rows_input` from the compiled scores' columns (score/columns.rs) instead of the rollouts, their scores
/// and counts: the same values, read without a Python object per rollout.
#[pyfunction]
fn rows_input_columns<'py>(
    py: Python<'py>,
    columns: PyRef<ScoreColumns>,
    order: Vec<usize>,
    scheme: usize,
    discounted: bool,
    arrays: bool,
) -> PyResult<Option<(RowsInput, Option<Arrays<'py>>)>> {
    let n = columns.items.len();
    if order.iter().any(|&k| k >= n) {
        return Ok(None);
    }
    let mut uniq = Vec::with_capacity(n);
    for s in &columns.items {
        let Ok(group) = usize::try_from(s.group) else {
            return Ok(None);
        };
        let mut turn_rewards = s.turn_rewards.clone();
        let Some((outcome_in, ret)) =
            apply_scheme(&mut turn_rewards, s.outcome, s.trajectory, scheme, discounted)
        else {
            return Ok(None);
        };
        uniq.push(Unique {
            group,
            turn_rewards,
            outcome: s.outcome,
            trajectory: s.trajectory,
            ret,
            outcome_in,
            num_calls: s.num_calls,
            malformed: s.malformed,
            answered: s.answered,
            reference: s.reference as i64,
            toolrl: None,
            counts: s.counts,
        });
    }
    Ok(Some(with_arrays(py, uniq, order, arrays)))
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
    let Some(adv) = input_advantages(&input, params) else {
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

/// The advantages of `rows_input`'s rollouts (the arrays it returned, read from its state).
fn input_advantages(
    input: &RowsInput,
    params: ParamTuple,
) -> Option<Output> {
    let rows = || input.order.iter().map(|&k| &input.uniq[k]);
    let returns: Vec<f64> = rows().map(|u| u.ret).collect();
    let outcome: Vec<f64> = rows().map(|u| u.outcome_in).collect();
    let group: Vec<usize> = rows().map(|u| u.group).collect();
    let num_turns: Vec<usize> = rows().map(|u| u.turn_rewards.len()).collect();
    let turn_rewards: Vec<f64> = rows()
        .flat_map(|u| u.turn_rewards.iter().copied())
        .collect();
    let inp = advantages::Input {
        returns: &returns,
        outcome: &outcome,
        group: &group,
        num_turns: &num_turns,
        turn_rewards: &turn_rewards,
    };
    advantages::compute(&inp, &to_params(params))
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
    let (group, num_turns) = (ints(group)?, ints(num_turns)?);
    let (returns, outcome, turn_rewards) = (floats(returns), floats(outcome), floats(turn_rewards));
    let inp = advantages::Input {
        returns: &returns,
        outcome: &outcome,
        group: &group,
        num_turns: &num_turns,
        turn_rewards: &turn_rewards,
    };
    let out = advantages::compute(&inp, &to_params(params))?;
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
    m.add_function(wrap_pyfunction!(rows_input, m)?)?;
    m.add_function(wrap_pyfunction!(rows_input_columns, m)?)?;
    m.add_function(wrap_pyfunction!(score_rows, m)?)?;
    m.add_function(wrap_pyfunction!(score_rows_native, m)?)?;
    m.add_function(wrap_pyfunction!(py_advantages, m)?)?;
    Ok(())
}
