//! Per-rollout scoring after assignment (service/turnscore/core/rewards.py `_collect_calls`,
//! `_choose`, `_score`, `turn_call_rewards`; summary.call_counts), for every rollout of a request at once.
//!
//! Python API:
//! - `collect_calls(turns, matchable_answers) -> (calls, where)`: the calls that enter matching and their
//!   (turn, call) positions (an answer turn's calls are skipped unless `matchable_answers` is false).
//! - `score_hard(buf, rollouts, types, gold_share, malformed_penalty, metric, answer_turn, trajectory)`:
//!   `buf` is `assign_many`'s layout (rewards, gold indices, similarities) for every (rollout, reference)
//!   pair in order (OT's assignments concatenated the same way); `rollouts` a list of
//!   (turns, golds, m, group); `types` `(RolloutScore, CallCounts)`. `(scores, columns)`: per rollout a
//!   `RolloutScore` (reference, turn rewards, outcome, trajectory or None, its `CallCounts`) and the same
//!   as `ScoreColumns` (columns.rs); `None` for the whole batch when something needs the Python path.

use std::collections::HashMap;

use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple, PyType};
use pyo3::{intern, AsPyPointer};

mod columns;
mod fused;
mod lean;
mod matcher;
mod ot_layout;
mod text;

use text::{answer_text, outcome, GoldTokens, Metric};

pub(crate) use columns::{ScoreColumns, Scored};
pub(crate) use lean::{score_columns, LeanRollout, OtScoring, Scoring, Verdict};
pub(crate) use matcher::yield_gil;

use crate::sinkhorn::pairwise;

/// The calls of the turns that enter matching, and their (turn, call) positions.
#[pyfunction]
fn collect_calls<'py>(
    py: Python<'py>,
    turns: &'py PyList,
    matchable_answers: bool,
) -> PyResult<(&'py PyList, Vec<(usize, usize)>)> {
    let calls = PyList::empty(py);
    let mut place = Vec::new();
    for (t, turn) in turns.iter().enumerate() {
        if matchable_answers && !turn.getattr(intern!(py, "answer"))?.is_none() {
            continue;
        }
        for (c, call) in turn.getattr(intern!(py, "calls"))?.iter()?.enumerate() {
            calls.append(call?)?;
            place.push((t, c));
        }
    }
    Ok((calls, place))
}

/// `float(np.sum(a))`.
fn np_sum(a: &[f64]) -> f64 {
    0.0 + pairwise(a)
}

/// A parsed turn as scoring reads it: its answer, its malformed calls, its number of calls.
pub(crate) struct TurnInfo {
    pub(crate) answer: Option<Py<PyString>>,
    pub(crate) malformed: i64,
    pub(crate) calls: usize,
}

struct Gold {
    n_calls: usize,
    /// the answer's tokens, `None` without an answer
    tokens: Option<usize>,
}

type Row = (usize, Vec<f64>, f64, Option<f64>, usize, usize, usize);

/// A rollout's [`Scored`] from its row (`score_one`), its turns, its references and the rollout's
/// `num_calls` and `group`.
fn scored(row: Row, turns: &[TurnInfo], golds: &[Gold], num_calls: usize, group: i64) -> Scored {
    let (reference, turn_rewards, outcome, trajectory, matched, exact, covered) = row;
    Scored {
        reference,
        turn_rewards,
        outcome,
        trajectory,
        counts: [
            golds[reference].n_calls as i64,
            matched as i64,
            exact as i64,
            covered as i64,
        ],
        num_calls: num_calls as i64,
        group,
        malformed: turns.iter().map(|t| t.malformed).sum(),
        answered: turns.iter().any(|t| t.answer.is_some()),
    }
}

/// A parsed turn's answer (a `str` or `None`) and malformed-call count; `None` when a field is not what
/// the parser makes.
pub(super) fn turn_head(
    py: Python<'_>,
    turn: &PyAny,
) -> PyResult<Option<(Option<Py<PyString>>, i64)>> {
    let answer = turn.getattr(intern!(py, "answer"))?;
    let answer = if answer.is_none() {
        None
    } else if let Ok(s) = answer.downcast::<PyString>() {
        Some(Py::from(s))
    } else {
        return Ok(None);
    };
    match turn.getattr(intern!(py, "malformed"))?.extract() {
        Ok(k) => Ok(Some((answer, k))),
        Err(_) => Ok(None),
    }
}

/// Reads a rollout's turns; `None` when a field is not what the parser makes.
fn read_turns(py: Python<'_>, turns: &PyAny) -> PyResult<Option<Vec<TurnInfo>>> {
    let list: &PyList = match turns.downcast() {
        Ok(l) => l,
        Err(_) => return Ok(None),
    };
    let mut out = Vec::with_capacity(list.len());
    for turn in list.iter() {
        let Some((answer, malformed)) = turn_head(py, turn)? else {
            return Ok(None);
        };
        let calls = turn.getattr(intern!(py, "calls"))?.len()?;
        out.push(TurnInfo {
            answer,
            malformed,
            calls,
        });
    }
    Ok(Some(out))
}

/// Gold answers' tokens, computed once per distinct string object of the batch (the strings outlive it).
struct TokenCache<'py> {
    py: Python<'py>,
    index: HashMap<usize, Option<usize>>,
    store: Vec<GoldTokens>,
}

impl<'py> TokenCache<'py> {
    /// Index into `store`, `Err(())` when Python must decide.
    fn get(&mut self, s: &PyString) -> Result<usize, ()> {
        let key = s.as_ptr() as usize;
        if let Some(&got) = self.index.get(&key) {
            return got.ok_or(());
        }
        let got = GoldTokens::of(s).map(|t| {
            self.store.push(t);
            self.store.len() - 1
        });
        self.index.insert(key, got);
        got.ok_or(())
    }
}

/// The scoring settings `score_one` reads.
struct Cfg {
    gold_share: bool,
    malformed_penalty: f64,
    metric: Metric,
    answer_turn: bool,
    trajectory: bool,
}

impl Cfg {
    /// The settings as `match_score_hard` / `score_hard` / the lean path take them; `None` for an unknown
    /// outcome metric (the Python path decides).
    fn new(
        gold_share: bool,
        malformed_penalty: f64,
        metric: &str,
        answer_turn: bool,
        trajectory: bool,
    ) -> Option<Cfg> {
        Some(Cfg {
            gold_share,
            malformed_penalty,
            metric: Metric::parse(metric)?,
            answer_turn,
            trajectory,
        })
    }
}

/// (matched, exact, covered) of one assignment (summary.call_counts; `gold`: the gold indices' int64 bits).
fn counts(gold: &[f64], sim: &[f64]) -> (usize, usize, usize) {
    let (mut matched, mut exact) = (0, 0);
    // the distinct gold indices matched: below 64 in a bit mask, any other in a list
    let (mut low, mut high): (u64, Vec<i64>) = (0, Vec::new());
    for (&j, &s) in gold.iter().zip(sim) {
        let j = j.to_bits() as i64;
        if j >= 0 && s > 0.0 {
            matched += 1;
            if j < 64 {
                low |= 1 << j;
            } else if !high.contains(&j) {
                high.push(j);
            }
            if s >= 1.0 {
                exact += 1;
            }
        }
    }
    (matched, exact, low.count_ones() as usize + high.len())
}

fn outcome_of(
    cache: &mut TokenCache<'_>,
    pred: Option<&Py<PyString>>,
    gold: &Gold,
    metric: Metric,
) -> Result<f64, ()> {
    if metric == Metric::Off {
        return Ok(0.0);
    }
    let (Some(p), Some(g)) = (pred, gold.tokens) else {
        return Ok(0.0);
    };
    let p = answer_text(p.as_ref(cache.py)).ok_or(())?;
    Ok(outcome(Some(&p), Some(&cache.store[g]), metric))
}

/// One rollout's row from its slices of the assignment buffer (one per reference, `m` calls each;
/// `gold_idx` as the buffer holds them, int64 bits).
#[allow(clippy::too_many_arguments)]
fn score_one(
    cache: &mut TokenCache<'_>,
    turns: &[TurnInfo],
    golds: &[Gold],
    rewards: &[f64],
    gold_idx: &[f64],
    sim: &[f64],
    m: usize,
    cfg: &Cfg,
) -> Result<Row, ()> {
    let mut k = 0;
    if golds.len() > 1 {
        // np.argmax: the first maximum, or the first NaN (soft assignments may give one)
        let mut best = f64::NEG_INFINITY;
        for r in 0..golds.len() {
            let total = np_sum(&rewards[r * m..(r + 1) * m]);
            if total.is_nan() {
                k = r;
                break;
            }
            if total > best || r == 0 {
                best = total;
                k = r;
            }
        }
    }
    let a = &rewards[k * m..(k + 1) * m];
    let gold = &golds[k];
    // each turn's sum (its calls' rewards in order from 0.0, then its malformed calls' penalty) and
    // its number of calls, turned into its reward
    let share = 1.0 / gold.n_calls.max(1) as f64;
    let mut pos = 0;
    let mut turn_rewards: Vec<f64> = Vec::with_capacity(turns.len());
    for turn in turns {
        let (mut sum, mut num) = (0.0f64, 0i64);
        if turn.answer.is_none() {
            for &x in &a[pos..pos + turn.calls] {
                sum += x;
            }
            num += turn.calls as i64;
            pos += turn.calls;
        }
        if cfg.malformed_penalty != 0.0 {
            let bad = if turn.answer.is_some() {
                0
            } else {
                turn.malformed
            };
            sum -= cfg.malformed_penalty * bad as f64;
            num += bad;
        }
        turn_rewards.push(if cfg.gold_share {
            sum * share
        } else if num != 0 {
            sum / num as f64
        } else {
            0.0
        });
    }
    if cfg.answer_turn {
        for (t, turn) in turns.iter().enumerate() {
            if turn.answer.is_some() {
                turn_rewards[t] = outcome_of(cache, turn.answer.as_ref(), gold, cfg.metric)?;
            }
        }
    }
    // the final answer's outcome (with `answer_turn`, its turn's reward: the same metric of the same strings)
    let outcome = match turns.iter().rposition(|t| t.answer.is_some()) {
        Some(t) if cfg.answer_turn => turn_rewards[t],
        last => outcome_of(
            cache,
            last.and_then(|t| turns[t].answer.as_ref()),
            gold,
            cfg.metric,
        )?,
    };
    let trajectory = if cfg.trajectory {
        Some(if m > 0 { np_sum(a) / m as f64 } else { 0.0 })
    } else {
        None
    };
    let (matched, exact, covered) = counts(&gold_idx[k * m..(k + 1) * m], &sim[k * m..(k + 1) * m]);
    Ok((
        k,
        turn_rewards,
        outcome,
        trajectory,
        matched,
        exact,
        covered,
    ))
}

fn floats(b: &[u8]) -> Vec<f64> {
    b.chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// Every rollout's row after hard assignment; `None` when anything needs the Python path.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn score_hard(
    py: Python<'_>,
    buf: &[u8],
    rollouts: &PyList,
    types: (Py<PyType>, Py<PyType>),
    gold_share: bool,
    malformed_penalty: f64,
    metric: &str,
    answer_turn: bool,
    trajectory: bool,
) -> PyResult<Option<(PyObject, ScoreColumns)>> {
    let Some(cfg) = Cfg::new(
        gold_share,
        malformed_penalty,
        metric,
        answer_turn,
        trajectory,
    ) else {
        return Ok(None);
    };
    if buf.len() % 24 != 0 {
        return Ok(None);
    }
    let all = floats(buf);
    let total = all.len() / 3;
    let (rewards, rest) = all.split_at(total);
    let (gold_idx, sim) = rest.split_at(total);
    let mut cache = TokenCache {
        py,
        index: HashMap::new(),
        store: Vec::new(),
    };
    let mut out = Vec::with_capacity(rollouts.len());
    let mut off = 0;
    for item in rollouts.iter() {
        let item: &PyTuple = match item.downcast::<PyTuple>() {
            Ok(t) if t.len() == 4 => t,
            _ => return Ok(None),
        };
        let Some(turns) = read_turns(py, item.get_item(0)?)? else {
            return Ok(None);
        };
        let m: usize = item.get_item(2)?.extract()?;
        let group: i64 = item.get_item(3)?.extract()?;
        let matchable: usize = turns
            .iter()
            .filter(|t| t.answer.is_none())
            .map(|t| t.calls)
            .sum();
        if matchable != m {
            return Ok(None);
        }
        let mut golds = Vec::new();
        for g in item.get_item(1)?.iter()? {
            let g = g?;
            let n_calls = g.getattr(intern!(py, "calls"))?.len()?;
            let answer = g.getattr(intern!(py, "answer"))?;
            let tokens = if answer.is_none() {
                None
            } else {
                match answer.downcast::<PyString>() {
                    Ok(s) => match cache.get(s) {
                        Ok(i) => Some(i),
                        Err(()) => return Ok(None),
                    },
                    Err(_) => return Ok(None),
                }
            };
            golds.push(Gold { n_calls, tokens });
        }
        let span = m * golds.len();
        if golds.is_empty() || off + span > total {
            return Ok(None);
        }
        let range = off..off + span;
        match score_one(
            &mut cache,
            &turns,
            &golds,
            &rewards[range.clone()],
            &gold_idx[range.clone()],
            &sim[range],
            m,
            &cfg,
        ) {
            Ok(row) => out.push(scored(row, &turns, &golds, m, group)),
            Err(()) => return Ok(None),
        }
        off += span;
    }
    if off != total {
        return Ok(None);
    }
    Ok(Some(columns::build(py, types, out)?))
}

pub fn register(m: &PyModule) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(collect_calls, m)?)?;
    m.add_function(wrap_pyfunction!(score_hard, m)?)?;
    columns::register(m)?;
    fused::register(m)?;
    ot_layout::register(m)?;
    text::register(m)
}
