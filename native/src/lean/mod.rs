//! The lean path of `engine.score`: a request's raw rollouts to the score columns and the warnings in one
//! call, with no `Turn`, `Call`, `ParsedRollout` or `Rollout` object. Parsing is parse_group.rs's
//! (`dedupe`, `read_turns`: the same turns, notes, limits and cap of model calls) with its calls keyed
//! into `PredCall`s (sink.rs); scoring is `match_score_hard`'s (score/matcher.rs); the warnings are
//! diag.rs's aggregation of the same notes.
//!
//! Python API: `score_lean(parser, groups, ext, limits, scoring, wants_answer, max_cells, check, ot)`:
//! `parser` the format's `TextParser` (built with its group types); `groups` a list of `(rollouts,
//! golds)` per group of the request (the raw rollout objects, the group's `CompiledGold` list); `ext`
//! this module; `limits` `(max_calls, max_turns, max_text_chars)`; `scoring` `(value_match,
//! case_sensitive, hungarian, penalty, gold_share, malformed_penalty, outcome, answer_turn,
//! trajectory)`; `wants_answer` whether a rollout without an answer gets `answer_missing` (outcome not
//! `none`); `max_cells` the similarity-cell budget; `check` `None` or the deadline check (a callable
//! that raises), called before each group is read and before each chunk of rollouts is matched; `ot`
//! `None` for hard assignment, else OT's `(cost, tau, reg, max_iter, stop_thr, row_normalize, budget)`
//! (`budget`: seconds to the deadline or `None`; `scoring`'s `hungarian` and `penalty` unused). Returns
//! `None` when anything needs today's path (a rollout Python reads, a value not keyed here, ...: nothing
//! is raised then), the number of cells (an int) when over `max_cells`, else `(columns, order, warnings,
//! per_rollout)`: the `ScoreColumns` of the distinct rollouts, per rollout of the request the index of
//! its distinct one, the warnings as `diagnostics` gives them (`[(code, path, count)]`) and each
//! rollout's number of occurrences.

mod sink;

use std::cell::Cell;

use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};
use pyo3::{intern, PyCell};

use crate::diag::{entries_py, Collector};
use crate::matching::{Mode, PredCall};
use crate::parse::forms::Notes;
use crate::parse::group::{dedupe, read_turns, Limits};
use crate::parse::{TextParser, TurnOut};
use crate::score::{score_columns, yield_gil, LeanRollout, OtScoring, Scoring, TurnInfo, Verdict};
use sink::LeanSink;

/// A distinct rollout's notes and whether a turn has an answer (what the warnings need).
struct Seen {
    notes: Notes,
    answered: bool,
}

/// A rollout's turns as scoring reads them and its matchable calls; `None` for an answer that is not a
/// `str` (not what the parser makes).
fn to_scoring(
    py: Python<'_>,
    turns: Vec<TurnOut<PredCall>>,
) -> Option<(Vec<TurnInfo>, Vec<PredCall>)> {
    let mut infos = Vec::with_capacity(turns.len());
    let matchable = turns.iter().filter(|t| t.answer.is_none(py));
    let mut calls = Vec::with_capacity(matchable.map(|t| t.calls.len()).sum());
    for t in turns {
        let answer = if t.answer.is_none(py) {
            None
        } else {
            Some(Py::from(t.answer.as_ref(py).downcast::<PyString>().ok()?))
        };
        let n = t.calls.len();
        if answer.is_none() {
            calls.extend(t.calls);
        }
        infos.push(TurnInfo {
            answer,
            malformed: t.malformed as i64,
            calls: n,
        });
    }
    Some((infos, calls))
}

/// Whether a reference of the list has an answer.
fn gold_answer(py: Python<'_>, golds: &PyAny) -> PyResult<bool> {
    for g in golds.iter()? {
        if !g?.getattr(intern!(py, "answer"))?.is_none() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The warnings (diagnostics.collect): per rollout of the request, in order, its notes then
/// `answer_missing`; `None` on an overflow.
fn warnings(groups: &[(Vec<usize>, bool)], seen: &[Seen], wants_answer: bool) -> Option<Collector> {
    let mut out = Collector::default();
    let mut per_rollout = Vec::new();
    for (gi, (order, gold_answer)) in groups.iter().enumerate() {
        for (ri, &k) in order.iter().enumerate() {
            let (gi, ri) = (gi as i64, ri as i64);
            let mut total: i64 = 0;
            for (code, path, count) in &seen[k].notes {
                let count = i64::try_from(*count).ok()?;
                out.add(code, gi, ri, path, count)?;
                total = total.checked_add(count)?;
            }
            if wants_answer && *gold_answer && !seen[k].answered {
                out.add("answer_missing", gi, ri, "", 1)?;
                total = total.checked_add(1)?;
            }
            per_rollout.push(total);
        }
    }
    out.per_rollout = per_rollout;
    Some(out)
}

/// See the module documentation.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn score_lean(
    py: Python<'_>,
    parser: &PyCell<TextParser>,
    groups: &PyList,
    ext: &PyAny,
    limits: (i64, i64, i64),
    scoring: Scoring<'_>,
    wants_answer: bool,
    max_cells: &PyAny,
    check: &PyAny,
    ot: Option<OtScoring<'_>>,
) -> PyResult<PyObject> {
    let none = py.None();
    let p = parser.borrow();
    let (Some(g), Ok(mode)) = (p.group_types(), Mode::parse(scoring.0)) else {
        return Ok(none);
    };
    let limits = Limits {
        calls: limits.0,
        turns: limits.1,
        text_chars: limits.2,
    };
    let sink = LeanSink {
        mode,
        case_sensitive: scoring.1,
        max_depth: p.max_depth(),
        fallback: p.fallback(),
        bail: Cell::new(false),
    };
    let mut golds: Vec<&PyAny> = Vec::with_capacity(groups.len());
    let mut orders: Vec<(Vec<usize>, bool)> = Vec::with_capacity(groups.len());
    let mut reads: Vec<LeanRollout> = Vec::new();
    let mut seen: Vec<Seen> = Vec::new();
    let mut all_order: Vec<usize> = Vec::new();
    for (gi, item) in groups.iter().enumerate() {
        yield_gil(py); // a thread waiting for the GIL runs between groups (matcher.rs `yield_gil`)
        if !check.is_none() {
            check.call0()?; // the deadline, before each group is read (as engine._parse_groups checks it)
        }
        let item: &PyTuple = item.downcast()?;
        let rollouts: &PyList = item.get_item(0)?.downcast()?;
        let group_golds = item.get_item(1)?;
        let raws: Vec<&PyAny> = rollouts.iter().collect();
        let Some((first, order)) = dedupe(&raws) else {
            return Ok(none);
        };
        let base = reads.len();
        for &ri in &first {
            let Some((_, turns, notes)) = read_turns(&p, g, &sink, py, raws[ri], &limits, false)?
            else {
                return Ok(none);
            };
            let answered = turns.iter().any(|t| !t.answer.is_none(py));
            let Some((turns, calls)) = to_scoring(py, turns) else {
                return Ok(none);
            };
            reads.push(LeanRollout {
                turns,
                calls,
                group: gi,
            });
            seen.push(Seen { notes, answered });
        }
        if sink.bail.get() {
            return Ok(none);
        }
        let order: Vec<usize> = order.into_iter().map(|k| base + k).collect();
        all_order.extend(&order);
        orders.push((order, gold_answer(py, group_golds)?));
        golds.push(group_golds);
    }
    let columns = match score_columns(py, ext, &golds, reads, scoring, ot, max_cells, check)? {
        Verdict::Python => return Ok(none),
        Verdict::Cells(cells) => return Ok(cells),
        Verdict::Columns(c) => c,
    };
    let Some(found) = warnings(&orders, &seen, wants_answer) else {
        return Ok(none);
    };
    let (entries, per_rollout) = (found.entries, found.per_rollout);
    let diag = entries_py(py, entries, per_rollout)?;
    let diag: &PyTuple = diag.as_ref(py).downcast()?;
    Ok((
        Py::new(py, columns)?,
        PyList::new(py, all_order),
        diag.get_item(0)?,
        diag.get_item(1)?,
    )
        .into_py(py))
}

pub fn register(m: &PyModule) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(score_lean, m)?)
}
