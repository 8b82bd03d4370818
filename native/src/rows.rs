//! The `/v1/score` response rows and summaries (service/turnscore/core/response.py `advantage_rows`,
//! `score_groups`; summary.py `scored_stats`, `summarize`) for every rollout of a request in two calls,
//! around the advantages that Python (numpy, core/advantages.py) computes in between.
//!
//! Python API (response.native_rows):
//! - `rows_input(rollouts, scores, counts, order, scheme, discounted)`: the distinct rollouts, their
//!   `RolloutScore`s and `CallCounts`, each response rollout's index among them, the reward scheme's index
//!   in `SCHEMES`, whether the outcome is discounted into turn returns. `None` when something needs the
//!   Python path, else `(RowsInput, (returns, outcome, group, num_turns, turn_rewards))`: the
//!   `AdvantageInput` arrays (bytearrays of float64 / int64, per response rollout or turn).
//! - `rows_input_columns(columns, order, scheme, discounted)`: the same from the compiled scores' columns
//!   (`ScoreColumns`, score/columns.rs) in place of the rollouts, scores and counts.
//! - `score_rows(input, trajectory, turn, combined, sizes, entries)`: the advantages (float64 bytes; `sizes`
//!   GiGPO's int64 step-group sizes or None) -> each row appended to its group's list in `entries`, and
//!   `(rows, malformed calls, group summaries, summary, floats, ints)` (the last two: the rollouts'
//!   `RolloutStats` as columns, summary.RolloutColumns); `None` (nothing appended) where Python raises.
//! - `fsum(values)`, `square(x)`: `math.fsum(values)` and `x ** 2` as the rows compute them (`None` where
//!   Python raises), for the parity tests.

mod fsum;
mod pyobj;
mod summary;

use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyDict, PyFloat, PyList, PyTuple};
use pyo3::{intern, PyTypeInfo};

use crate::score::ScoreColumns;
use fsum::{fsum, Fsum};
use pyobj::{attr, bytes_of, set_any, set_f64, set_i64};
use summary::{summarize, Stat};

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
fn rows_input<'py>(
    py: Python<'py>,
    rollouts: &PyList,
    scores: &PyList,
    counts: &PyList,
    order: Vec<usize>,
    scheme: usize,
    discounted: bool,
) -> PyResult<Option<(RowsInput, Arrays<'py>)>> {
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
    Ok(Some(with_arrays(py, uniq, order)))
}

/// The `AdvantageInput` arrays of the response rollouts (module docs), beside what `score_rows` reads.
fn with_arrays(py: Python<'_>, uniq: Vec<Unique>, order: Vec<usize>) -> (RowsInput, Arrays<'_>) {
    let rows = || order.iter().map(|&k| &uniq[k]);
    let arrays = (
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
    );
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
) -> PyResult<Option<(RowsInput, Arrays<'py>)>> {
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
    Ok(Some(with_arrays(py, uniq, order)))
}

fn floats(b: &[u8]) -> Vec<f64> {
    b.chunks_exact(8)
        .map(|c| finite(f64::from_le_bytes(c.try_into().unwrap())))
        .collect()
}

type Built<'py> = (
    &'py PyList,
    i64,
    &'py PyList,
    &'py PyDict,
    &'py PyByteArray,
    &'py PyByteArray,
);

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
    let (uniq, order) = (&input.uniq, &input.order);
    let m: usize = order.iter().map(|&k| uniq[k].turn_rewards.len()).sum();
    let n = order.len();
    let groups = entries.len();
    let sizes_ok = sizes.is_none_or(|s| s.len() == 8 * m);
    if trajectory.len() != 8 * n || turn.len() != 8 * m || combined.len() != 8 * m || !sizes_ok {
        return Ok(None);
    }
    if order.iter().any(|&k| uniq[k].group >= groups) {
        return Ok(None);
    }
    let (trajectory, turn, combined) = (floats(trajectory), floats(turn), floats(combined));
    let sizes: Option<Vec<i64>> = sizes.map(|s| {
        s.chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
            .collect()
    });
    // everything that can fail first: nothing is appended to `entries` unless all of it succeeds
    let mut stats = Vec::with_capacity(n);
    let mut pos = 0;
    for &k in order {
        let u = &uniq[k];
        let t = u.turn_rewards.len();
        let mut abs = Fsum::new();
        combined[pos..pos + t].iter().for_each(|v| abs.add(v.abs()));
        let Some(abs_sum) = abs.total() else {
            return Ok(None);
        };
        stats.push(Stat {
            turns: t as i64,
            outcome: finite(u.outcome),
            ret: finite(u.ret),
            abs_sum,
            count: t as i64,
            calls: u.num_calls,
            malformed: u.malformed,
            answered: u.answered,
            counts: u.counts,
        });
        pos += t;
    }
    let mut per_group: Vec<Vec<&Stat>> = vec![Vec::new(); groups];
    for (&k, s) in order.iter().zip(&stats) {
        per_group[uniq[k].group].push(s);
    }
    let mut summaries = Vec::with_capacity(groups + 1);
    let all: Vec<&Stat> = stats.iter().collect();
    for items in per_group.iter().chain(std::iter::once(&all)) {
        let Some(s) = summarize(items) else {
            return Ok(None);
        };
        summaries.push(s);
    }
    let rows = PyList::empty(py);
    let mut pos = 0;
    let mut malformed = 0;
    for (i, &k) in order.iter().enumerate() {
        let u = &uniq[k];
        let t = u.turn_rewards.len();
        let span = pos..pos + t;
        let row = PyDict::new(py);
        let turn_rewards = u.turn_rewards.iter().map(|&v| finite(v));
        set_any(
            row,
            intern!(py, "turn_rewards"),
            PyList::new(py, turn_rewards),
        )?;
        set_f64(row, intern!(py, "outcome_reward"), finite(u.outcome))?;
        set_f64(row, intern!(py, "return"), finite(u.ret))?;
        set_f64(row, intern!(py, "trajectory_advantage"), trajectory[i])?;
        let turn_adv = PyList::new(py, &turn[span.clone()]);
        set_any(row, intern!(py, "turn_advantages"), turn_adv)?;
        let adv = PyList::new(py, &combined[span.clone()]);
        set_any(row, intern!(py, "advantages"), adv)?;
        set_i64(row, intern!(py, "num_turns"), t as i64)?;
        if let Some(v) = u.trajectory {
            set_f64(row, intern!(py, "trajectory_reward"), finite(v))?;
        }
        if let Some(s) = &sizes {
            set_any(
                row,
                intern!(py, "step_group_sizes"),
                PyList::new(py, &s[span]),
            )?;
        }
        set_i64(row, intern!(py, "num_calls"), u.num_calls)?;
        set_i64(row, intern!(py, "malformed_calls"), u.malformed)?;
        set_i64(row, intern!(py, "reference"), u.reference)?;
        if let Some((format, correctness)) = &u.toolrl {
            let d = PyDict::new(py);
            d.set_item(intern!(py, "format"), format)?;
            d.set_item(intern!(py, "correctness"), correctness)?;
            set_any(row, intern!(py, "toolrl"), d)?;
        }
        entries
            .get_item(u.group)?
            .downcast::<PyList>()?
            .append(row)?;
        rows.append(row)?;
        malformed += u.malformed;
        pos += t;
    }
    let total = summaries
        .pop()
        .expect("the request's summary")
        .to_dict(py)?;
    let group_summaries = PyList::empty(py);
    for s in &summaries {
        group_summaries.append(s.to_dict(py)?)?;
    }
    let mut fl = Vec::with_capacity(3 * n);
    fl.extend(stats.iter().map(|s| s.outcome));
    fl.extend(stats.iter().map(|s| s.ret));
    fl.extend(stats.iter().map(|s| s.abs_sum));
    let mut it = Vec::with_capacity(9 * n);
    for c in 0..9 {
        it.extend(stats.iter().map(|s| match c {
            0 => s.turns,
            1 => s.count,
            2 => s.calls,
            3 => s.malformed,
            4 => s.answered as i64,
            k => s.counts[k - 5],
        }));
    }
    let fl = bytes_of(py, fl.into_iter(), f64::to_le_bytes);
    let it = bytes_of(py, it.into_iter(), i64::to_le_bytes);
    Ok(Some((rows, malformed, group_summaries, total, fl, it)))
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
    Ok(())
}
