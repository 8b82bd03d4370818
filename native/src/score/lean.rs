//! The match-and-score stage of the lean path (lean/mod.rs `score_lean`): the distinct rollouts as the
//! parser read them into Rust data (turns, keyed matchable calls), scored against each group's references
//! with the same code as `match_score_hard` (matcher.rs; OT with `ot_solve`'s solver), to the columns
//! only (no `RolloutScore`).

use pyo3::prelude::*;

use super::matcher::{at_chunk, gold_calls, over_budget, Matcher, Ot};
use super::{Cfg, ScoreColumns, TurnInfo};
use crate::matching::{Mode, PredCall};
use crate::sinkhorn::{deadline_in, Params};

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

/// OT assignment instead of hard: `(cost, tau, reg, max_iter, stop_thr, row_normalize, budget)` as
/// `soft.solve` passes them to `ot_solve` (`budget`: seconds to the deadline, `None` without one).
pub(crate) type OtScoring<'a> = (&'a str, f64, f64, usize, f64, bool, Option<f64>);

/// What the stage gives.
pub(crate) enum Verdict {
    /// something needs the Python path
    Python,
    /// the similarity cells (an int) exceed the budget
    Cells(PyObject),
    Columns(ScoreColumns),
}

/// Every distinct rollout matched and scored (`golds`: each group's `CompiledGold` list; `ext` this
/// module); the budget is checked before any matching, `check` called before each chunk of rollouts (and
/// when OT's iterations pass the deadline).
#[allow(clippy::too_many_arguments)]
pub(crate) fn score_columns<'py>(
    py: Python<'py>,
    ext: &PyAny,
    golds: &[&'py PyAny],
    rollouts: Vec<LeanRollout>,
    s: Scoring<'_>,
    ot: Option<OtScoring<'_>>,
    max_cells: &PyAny,
    check: &'py PyAny,
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
    let (Some(cfg), Ok(mode)) = (
        Cfg::new(gold_share, malformed_penalty, metric, a, t),
        Mode::parse(mode_name),
    ) else {
        return Ok(Verdict::Python);
    };
    let deadline = ot.and_then(|o| deadline_in(o.6));
    let ot = match ot {
        None => None,
        Some((cost, tau, reg, max_iter, stop_thr, row_normalize, _)) => {
            let Some(p) = Params::new(cost, tau, reg, max_iter, stop_thr, row_normalize) else {
                return Ok(Verdict::Python);
            };
            Some(Ot::new(p, deadline, check))
        }
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
    let mut matcher = Matcher::new(py, cfg, mode, case_sensitive, hungarian, penalty);
    matcher.ot = ot;
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
