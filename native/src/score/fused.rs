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
use pyo3::types::{PyBytes, PyList, PyString, PyType};
use pyo3::{intern, AsPyPointer, PyTypeInfo};

use super::{columns, score_one, scored, turn_head, Cfg, Gold, Metric, Scored, TokenCache, TurnInfo};
use crate::matching::{
    as_bytes, assign_into, check, pred_call, unwrap_unsupported, GoldTable, Mode, PredTable,
};

/// Rollouts between two calls of the deadline check.
const CHUNK: usize = 32;

/// A rollout as read before the budget check: its turns and the calls that enter matching.
struct Read<'py> {
    turns: Vec<TurnInfo>,
    calls: Vec<&'py PyAny>,
    group: usize,
    /// `Rollout.group`
    index: i64,
}

/// The references of one group (rollouts share their group's `golds` list).
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
    let (Some(metric), Ok(mode)) = (Metric::parse(metric), Mode::parse(mode_name)) else {
        return Ok(none);
    };
    let cfg = Cfg {
        gold_share,
        malformed_penalty,
        metric,
        answer_turn,
        trajectory,
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
                let mut n_sum = 0u64;
                for g in golds.iter()? {
                    n_sum += g?.getattr(intern!(py, "calls"))?.len()? as u64;
                }
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
    let cells = cells.into_py(py);
    if cells.as_ref(py).gt(max_cells)? {
        return Ok(cells);
    }
    // each group's gold tables and answers (read once per request)
    let mut cache = TokenCache {
        py,
        index: HashMap::new(),
        store: Vec::new(),
    };
    let mut tables: Vec<Vec<PyRef<'_, GoldTable>>> = Vec::with_capacity(groups.len());
    let mut refs_of: Vec<Vec<Gold>> = Vec::with_capacity(groups.len());
    for refs in &groups {
        let (mut ts, mut gs) = (Vec::new(), Vec::new());
        for g in refs.golds.iter()? {
            let g = g?;
            let table = g.call_method1(
                intern!(py, "native_table"),
                (ext, mode_name, case_sensitive),
            )?;
            let Ok(table) = table.extract::<PyRef<'_, GoldTable>>() else {
                return Ok(none); // None: a value the extension cannot key
            };
            let answer = g.getattr(intern!(py, "answer"))?;
            let tokens = if answer.is_none() {
                None
            } else {
                let Ok(s) = answer.downcast::<PyString>() else {
                    return Ok(none);
                };
                let Ok(i) = cache.get(s) else {
                    return Ok(none);
                };
                Some(i)
            };
            gs.push(Gold {
                n_calls: table.n_calls(),
                tokens,
            });
            ts.push(table);
        }
        if ts.is_empty() {
            return Ok(none);
        }
        tables.push(ts);
        refs_of.push(gs);
    }
    // match and score each rollout
    let mut rows: Vec<Scored> = Vec::with_capacity(reads.len());
    let mut parts: [Vec<f64>; 3] = Default::default();
    let mut local: Vec<f64> = Vec::new();
    for (i, read) in reads.iter().enumerate() {
        if i % CHUNK == 0 && !check_deadline.is_none() {
            check_deadline.call0()?;
        }
        let mut pred = Vec::with_capacity(read.calls.len());
        for call in &read.calls {
            let Some(p) = unwrap_unsupported(pred_call(py, call, mode, case_sensitive))? else {
                return Ok(none);
            };
            pred.push(p);
        }
        let pred = PredTable {
            mode,
            case_sensitive,
            calls: pred,
        };
        let m = pred.calls.len();
        let golds = &tables[read.group];
        let span = m * golds.len();
        local.clear();
        local.resize(3 * span, 0.0);
        for (k, g) in golds.iter().enumerate() {
            check(&pred, g)?;
            assign_into(&mut local, span, k * m, &pred, g, hungarian, penalty);
        }
        let gold_idx: Vec<i64> = local[span..2 * span]
            .iter()
            .map(|x| x.to_bits() as i64)
            .collect();
        let row = score_one(
            &mut cache,
            &read.turns,
            &refs_of[read.group],
            &local[..span],
            &gold_idx,
            &local[2 * span..],
            m,
            &cfg,
        );
        let Ok(row) = row else {
            return Ok(none);
        };
        rows.push(scored(row, &read.turns, &refs_of[read.group], m, read.index));
        if want_buffer {
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
