//! What `rows_input` / `rows_input_columns` read of a request's distinct rollouts (rows.rs module docs):
//! each one's values with the reward scheme applied, and the `AdvantageInput` arrays of the response
//! rollouts.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyFloat, PyList, PyTuple};
use pyo3::PyTypeInfo;

use super::fsum::fsum;
use super::pyobj::{attr, bytes_of};
use super::AdvantageArrays;
use crate::score::ScoreColumns;

/// response._scheme's schemes, by the index Python passes.
const OUTCOME: usize = 0;
const TURN: usize = 1;
const TURN_OUTCOME: usize = 2;
const TRAJECTORY: usize = 3;
const TRAJECTORY_OUTCOME: usize = 4;

/// A distinct rollout with what its rows need.
pub(super) struct Unique {
    pub(super) group: usize,
    pub(super) turn_rewards: Vec<f64>,
    pub(super) outcome: f64,
    pub(super) trajectory: Option<f64>,
    pub(super) ret: f64,
    pub(super) outcome_in: f64,
    pub(super) num_calls: i64,
    pub(super) malformed: i64,
    pub(super) answered: bool,
    pub(super) reference: i64,
    pub(super) toolrl: Option<(PyObject, PyObject)>,
    pub(super) counts: [i64; 4],
}

/// What `rows_input` read, for `score_rows`.
#[pyclass]
pub struct RowsInput {
    pub(super) uniq: Vec<Unique>,
    pub(super) order: Vec<usize>,
}

fn exact_float(o: &PyAny) -> Option<f64> {
    if PyFloat::is_exact_type_of(o) {
        o.extract().ok()
    } else {
        None
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
pub(super) fn rows_input<'py>(
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
    let input = RowsInput { uniq, order };
    if !arrays {
        return (input, None);
    }
    let a = input.advantage_arrays();
    let ints = |v: &[usize]| bytes_of(py, v.iter().map(|&x| x as i64), i64::to_le_bytes);
    let arrays = Some((
        bytes_of(py, a.returns.into_iter(), f64::to_le_bytes),
        bytes_of(py, a.outcome.into_iter(), f64::to_le_bytes),
        ints(&a.group),
        ints(&a.num_turns),
        bytes_of(py, a.turn_rewards.into_iter(), f64::to_le_bytes),
    ));
    (input, arrays)
}

impl RowsInput {
    /// `AdvantageInput`'s arrays of the response rollouts (per rollout, and the turns flat in order).
    pub(super) fn advantage_arrays(&self) -> AdvantageArrays {
        let rows = || self.order.iter().map(|&k| &self.uniq[k]);
        AdvantageArrays {
            returns: rows().map(|u| u.ret).collect(),
            outcome: rows().map(|u| u.outcome_in).collect(),
            group: rows().map(|u| u.group).collect(),
            num_turns: rows().map(|u| u.turn_rewards.len()).collect(),
            turn_rewards: rows()
                .flat_map(|u| u.turn_rewards.iter().copied())
                .collect(),
        }
    }
}

/// `rows_input` from the compiled scores' columns (score/columns.rs) instead of the rollouts, their scores
/// and counts: the same values, read without a Python object per rollout.
#[pyfunction]
pub(super) fn rows_input_columns<'py>(
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
        let Some((outcome_in, ret)) = apply_scheme(
            &mut turn_rewards,
            s.outcome,
            s.trajectory,
            scheme,
            discounted,
        ) else {
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
