//! The match-and-score stage of the lean path (lean/mod.rs `score_lean`): the distinct rollouts as the
//! parser read them into Rust data (turns, keyed matchable calls), scored against each group's references
//! with the same code as `match_score_hard` (matcher.rs), to the columns only (no `RolloutScore`).

use pyo3::prelude::*;

use super::matcher::{at_chunk, gold_calls, over_budget, Matcher};
use super::{Cfg, Metric, ScoreColumns, TurnInfo};
use crate::matching::{Mode, PredCall};

/// A distinct rollout as the lean parser reads it.
pub(crate) struct LeanRollout {
    pub(crate) turns: Vec<TurnInfo>,
    /// the calls that enter matching (those of turns without an answer), keyed
    pub(crate) calls: Vec<PredCall>,
    /// its group (index into the request's groups, `Rollout.group`)
    pub(crate) group: usize,
}

/// `(value_match, case_sensitive, hungarian, penalty, gold_share, malformed_penalty, outcome metric,
/// answer_turn, trajectory)`, as `rewards._match_score_native` passes them to `match_score_hard`.
pub(crate) type Scoring<'a> = (&'a str, bool, bool, f64, bool, f64, &'a str, bool, bool);

/// What the stage gives.
pub(crate) enum Verdict {
    /// something needs the Python path
    Python,
    /// the similarity cells (an int) exceed the budget
    Cells(PyObject),
    Columns(ScoreColumns),
}

/// Every distinct rollout matched and scored (`golds`: each group's `CompiledGold` list; `ext` this
/// module); the budget is checked before any matching, `check` called before each chunk of rollouts.
pub(crate) fn score_columns<'py>(
    py: Python<'py>,
    ext: &PyAny,
    golds: &[&'py PyAny],
    rollouts: Vec<LeanRollout>,
    s: Scoring<'_>,
    max_cells: &PyAny,
    check: &PyAny,
) -> PyResult<Verdict> {
    let (
        mode_name,
        case_sensitive,
        hungarian,
        penalty,
        gold_share,
        malformed_penalty,
        metric,
        a,
        t,
    ) = s;
    let (Some(metric), Ok(mode)) = (Metric::parse(metric), Mode::parse(mode_name)) else {
        return Ok(Verdict::Python);
    };
    let n_sum = golds
        .iter()
        .map(|g| gold_calls(py, g))
        .collect::<PyResult<Vec<u64>>>()?;
    let cells: u64 = rollouts
        .iter()
        .map(|r| r.calls.len() as u64 * n_sum[r.group])
        .sum();
    if let Some(cells) = over_budget(py, cells, max_cells)? {
        return Ok(Verdict::Cells(cells));
    }
    let cfg = Cfg {
        gold_share,
        malformed_penalty,
        metric,
        answer_turn: a,
        trajectory: t,
    };
    let mut matcher = Matcher::new(py, cfg, mode, case_sensitive, hungarian, penalty);
    for g in golds {
        if !matcher.add_group(ext, g, mode_name)? {
            return Ok(Verdict::Python);
        }
    }
    let mut items = Vec::with_capacity(rollouts.len());
    for (i, r) in rollouts.into_iter().enumerate() {
        at_chunk(i, check)?;
        let Some(row) = matcher.one(&r.turns, r.calls, r.group, r.group as i64)? else {
            return Ok(Verdict::Python);
        };
        items.push(row);
    }
    Ok(Verdict::Columns(ScoreColumns { items }))
}
