//! The scores of a request's distinct rollouts as the compiled paths give them (`match_score_hard`,
//! `score_hard`): `rewards.RolloutScore` objects (with their `summary.CallCounts`) built by writing their
//! slots, no `__init__` per rollout, and the same values as columns ([`ScoreColumns`]) that the rows stage
//! (rows.rs `rows_input_columns`) reads instead of going back to those objects and to the parsed turns.
//!
//! Python API: `SCORE_FIELDS`, `COUNTS_FIELDS` (rewards.py checks them against the dataclasses' fields,
//! else the Python path builds the objects); the `ScoreColumns` class (`len()`; nothing else is read from
//! Python).

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyType};
use pyo3::AsPyPointer;

use crate::parse::Slots;

/// The fields of `rewards.RolloutScore`, in order.
pub const SCORE_FIELDS: [&str; 7] = [
    "reference",
    "turn_rewards",
    "outcome",
    "trajectory",
    "assignment",
    "toolrl",
    "counts",
];
/// The fields of `summary.CallCounts`, in order.
pub const COUNTS_FIELDS: [&str; 4] = ["gold_calls", "matched", "exact", "covered"];

/// One distinct rollout's score and what the rows need of its rollout.
pub(crate) struct Scored {
    pub reference: usize,
    pub turn_rewards: Vec<f64>,
    pub outcome: f64,
    pub trajectory: Option<f64>,
    /// gold_calls, matched, exact, covered (`CallCounts`)
    pub counts: [i64; 4],
    /// `Rollout.num_calls`, `.group`; the parsed turns' malformed calls, whether one has an answer
    pub num_calls: i64,
    pub group: i64,
    pub malformed: i64,
    pub answered: bool,
}

/// Every distinct rollout's [`Scored`], in the order of the scores list built beside it.
#[pyclass(module = "turnscore_native")]
pub struct ScoreColumns {
    pub(crate) items: Vec<Scored>,
}

#[pymethods]
impl ScoreColumns {
    fn __len__(&self) -> usize {
        self.items.len()
    }
}

/// `[RolloutScore(reference, turn_rewards, outcome, trajectory, None, None, CallCounts(*counts)), ...]`
/// (`types`: the two classes) and the columns of the same values. The objects, their lists and counts
/// hold only numbers (the assignment, set later with `explain`, holds arrays): not tracked by the cyclic
/// GC, as parse_slots.rs explains for the parsed trees.
pub(super) fn build(
    py: Python<'_>,
    types: (Py<PyType>, Py<PyType>),
    items: Vec<Scored>,
) -> PyResult<(PyObject, ScoreColumns)> {
    let score = Slots::new(py, types.0, &SCORE_FIELDS);
    let counts = Slots::new(py, types.1, &COUNTS_FIELDS);
    let mut out = Vec::with_capacity(items.len());
    for s in &items {
        let rewards = PyList::new(py, &s.turn_rewards);
        untrack(rewards.as_ptr());
        let c = counts.build(py, s.counts.map(|x| x.into_py(py)))?;
        let values: [PyObject; 7] = [
            s.reference.into_py(py),
            rewards.into(),
            s.outcome.into_py(py),
            s.trajectory.into_py(py),
            py.None(),
            py.None(),
            c,
        ];
        out.push(score.build(py, values)?);
    }
    Ok((PyList::new(py, out).into(), ScoreColumns { items }))
}

/// Stop the cyclic GC tracking `p` (a list of floats).
fn untrack(p: *mut ffi::PyObject) {
    unsafe {
        if ffi::PyObject_IS_GC(p) != 0 {
            ffi::PyObject_GC_UnTrack(p as *mut std::ffi::c_void);
        }
    }
}

pub fn register(m: &PyModule) -> PyResult<()> {
    m.add_class::<ScoreColumns>()?;
    m.add("SCORE_FIELDS", SCORE_FIELDS.to_vec())?;
    m.add("COUNTS_FIELDS", COUNTS_FIELDS.to_vec())
}
