//! Hard assignment of a whole request in one call: collect the matchable calls of each rollout's parsed
//! turns, key them, match them against each reference's compiled gold table and score the rollout
//! (service/turnscore/core/rewards.py `_collect_calls`, `check_budget`, `_match`, `_score_native`),
//! without a Python object per rollout (no calls list, `PredTable` or assignment buffer unless asked).
//!
//! Python API:
//! - `match_score_hard(rollouts, ext, types, mode, case_sensitive, hungarian, penalty, gold_share,
//!   malformed_penalty, metric, answer_turn, trajectory, max_cells, check, want_buffer)`: `rollouts` are
//!   `rewards.Rollout`s; `ext` this module (for `CompiledGold.native_table`); `types` `(RolloutScore,
//!   CallCounts)`; `check` `None` or a callable called before each chunk of rollouts (the deadline check: it
//!   raises). Returns `None` when anything needs the Python path (nothing is raised then, the caller runs
//!   that path), the number of similarity cells (an int) when it exceeds `max_cells` (before any matching),
//!   else `(scores, columns, buf)`: `score_hard`'s scores and columns (each rollout's `num_calls` set to
//!   its matchable call count), and `assign_many`'s buffer of every (rollout, reference) pair when
//!   `want_buffer` (else `None`).

use std::collections::HashMap;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyType};
use pyo3::{intern, AsPyPointer, PyTypeInfo};

use super::matcher::{at_chunk, gold_calls, over_budget, Matcher};
use super::{columns, turn_head, Cfg, Scored, TurnInfo};
use crate::matching::{as_bytes, pred_call, unwrap_unsupported, Mode};

/// A rollout as read before the budget check: its turns and the calls that enter matching.
struct Read<'py> {
    turns: Vec<TurnInfo>,
    calls: Vec<&'py PyAny>,
    group: usize,
    /// `Rollout.group`
    index: i64,
}

/// The references of one group (rollouts share their group's `golds` list) and their gold calls.
struct Refs<'py> {
    golds: &'py PyAny,
    n_sum: u64,
}

/// A rollout's turns and matchable calls; `None` when a field is not what the parser makes.
fn read_rollout<'py>(
    py: Python<'py>,
    turns: &'py PyAny,
) -> PyResult<Option<(Vec<TurnInfo>, Vec<&'py PyAny>)>> {
    if !PyList::is_exact_type_of(turns) {
        return Ok(None);
    }
    let list: &PyList = turns.downcast()?;
    let mut out = Vec::with_capacity(list.len());
    let mut calls = Vec::new();
    for turn in list.iter() {
        let Some((answer, malformed)) = turn_head(py, turn)? else {
            return Ok(None);
        };
        let turn_calls = turn.getattr(intern!(py, "calls"))?;
        let Ok(turn_calls) = turn_calls.downcast::<PyList>() else {
            return Ok(None);
        };
        if answer.is_none() {
            calls.extend(turn_calls.iter());
        }
        out.push(TurnInfo {
            answer,
            malformed,
            calls: turn_calls.len(),
        });
    }
    Ok(Some((out, calls)))
}

/// See the module documentation.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn match_score_hard(
    py: Python<'_>,
    rollouts: &PyList,
    ext: &PyAny,
    types: (Py<PyType>, Py<PyType>),
    mode_name: &str,
    case_sensitive: bool,
    hungarian: bool,
    penalty: f64,
    gold_share: bool,
    malformed_penalty: f64,
    metric: &str,
    answer_turn: bool,
    trajectory: bool,
    max_cells: &PyAny,
    check_deadline: &PyAny,
    want_buffer: bool,
) -> PyResult<PyObject> {
    let none = py.None();
    let (Some(cfg), Ok(mode)) = (
        Cfg::new(
            gold_share,
            malformed_penalty,
            metric,
            answer_turn,
            trajectory,
        ),
        Mode::parse(mode_name),
    ) else {
        return Ok(none);
    };
    // read every rollout and count the similarity cells (rewards.check_budget) before any matching
    let mut reads = Vec::with_capacity(rollouts.len());
    let mut groups: Vec<Refs<'_>> = Vec::new();
    let mut group_of: HashMap<usize, usize> = HashMap::new();
    let mut cells: u64 = 0;
    for r in rollouts.iter() {
        let turns = r
            .getattr(intern!(py, "parsed"))?
            .getattr(intern!(py, "turns"))?;
        let Some((turns, calls)) = read_rollout(py, turns)? else {
            return Ok(none);
        };
        let golds = r.getattr(intern!(py, "golds"))?;
        let group = match group_of.get(&(golds.as_ptr() as usize)) {
            Some(&g) => g,
            None => {
                let n_sum = gold_calls(py, golds)?;
                groups.push(Refs { golds, n_sum });
                group_of.insert(golds.as_ptr() as usize, groups.len() - 1);
                groups.len() - 1
            }
        };
        cells += calls.len() as u64 * groups[group].n_sum;
        let index: i64 = r.getattr(intern!(py, "group"))?.extract()?;
        reads.push(Read {
            turns,
            calls,
            group,
            index,
        });
    }
    if let Some(cells) = over_budget(py, cells, max_cells)? {
        return Ok(cells);
    }
    // each group's gold tables and answers (read once per request)
    let mut matcher = Matcher::new(py, cfg, mode, case_sensitive, hungarian, penalty);
    for refs in &groups {
        if !matcher.add_group(ext, refs.golds, mode_name)? {
            return Ok(none);
        }
    }
    // match and score each rollout
    let mut rows: Vec<Scored> = Vec::with_capacity(reads.len());
    let mut parts: [Vec<f64>; 3] = Default::default();
    for (i, read) in reads.iter().enumerate() {
        at_chunk(i, check_deadline)?;
        let mut pred = Vec::with_capacity(read.calls.len());
        for call in &read.calls {
            let Some(p) = unwrap_unsupported(pred_call(py, call, mode, case_sensitive))? else {
                return Ok(none);
            };
            pred.push(p);
        }
        let Some(row) = matcher.one(&read.turns, pred, read.group, read.index)? else {
            return Ok(none);
        };
        rows.push(row);
        if want_buffer {
            let local = &matcher.local;
            let span = local.len() / 3;
            for (s, part) in parts.iter_mut().enumerate() {
                part.extend_from_slice(&local[s * span..(s + 1) * span]);
            }
        }
    }
    let buf = if want_buffer {
        let all: Vec<f64> = parts.concat();
        PyBytes::new(py, as_bytes(&all)).into_py(py)
    } else {
        none
    };
    for (r, s) in rollouts.iter().zip(&rows) {
        r.setattr(intern!(py, "num_calls"), s.num_calls)?;
    }
    let (scores, cols) = columns::build(py, types, rows)?;
    Ok((scores, cols, buf).into_py(py))
}

pub fn register(m: &PyModule) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(match_score_hard, m)?)
}
