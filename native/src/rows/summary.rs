//! `summary.summarize` of `/v1/score` (service/turnscore/core/summary.py): counts are sums, means over
//! rollouts, `return_std` the population std, every ratio 0 when its denominator is 0, the float means
//! 0 when not finite; sums of floats are `math.fsum` (fsum.rs), so the values are Python's bit for bit.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::fsum::{fsum, square};
use super::pyobj::{set_f64, set_i64};

/// One response rollout as the summary counts it (summary.RolloutStats).
pub struct Stat {
    pub turns: i64,
    pub outcome: f64,
    pub ret: f64,
    pub abs_sum: f64,
    pub count: i64,
    pub calls: i64,
    pub malformed: i64,
    pub answered: bool,
    /// gold calls, matched, exact, covered (summary.CallCounts)
    pub counts: [i64; 4],
}

/// The summary's values, in wire order (summary.SCORE_FIELDS).
pub struct Summary {
    ints: [i64; 9],
    floats: [f64; 10],
}

fn ratio(num: f64, den: f64) -> f64 {
    if den != 0.0 {
        num / den
    } else {
        0.0
    }
}

fn finite(x: f64) -> f64 {
    if x.is_finite() {
        x
    } else {
        0.0
    }
}

/// `summarize(stats)`; `None` where Python raises (fsum or `**` overflow).
pub fn summarize(stats: &[&Stat]) -> Option<Summary> {
    let n = stats.len() as i64;
    let nf = n as f64;
    let (mut turns, mut calls, mut malformed, mut answered, mut count) =
        (0i64, 0i64, 0i64, 0i64, 0i64);
    let mut c = [0i64; 4];
    for s in stats {
        turns += s.turns;
        calls += s.calls;
        malformed += s.malformed;
        answered += s.answered as i64;
        count += s.count;
        for (total, v) in c.iter_mut().zip(s.counts) {
            *total += v;
        }
    }
    let [gold, matched, exact, covered] = c;
    // Python's int / int is the quotient of the two doubles for ints below 2**53
    let precision = ratio(matched as f64, calls as f64);
    let recall = ratio(covered as f64, gold as f64);
    let mean = ratio(fsum(stats.iter().map(|s| s.ret))?, nf);
    let mut squares = Vec::with_capacity(stats.len());
    for s in stats {
        squares.push(square(s.ret - mean)?);
    }
    let floats = [
        ratio(turns as f64, nf),
        precision,
        recall,
        ratio(2.0 * precision * recall, precision + recall),
        ratio((calls - matched) as f64, calls as f64),
        ratio(answered as f64, nf),
        finite(ratio(fsum(stats.iter().map(|s| s.outcome))?, nf)),
        finite(mean),
        finite(ratio(fsum(squares)?, nf).sqrt()),
        finite(ratio(fsum(stats.iter().map(|s| s.abs_sum))?, count as f64)),
    ];
    let ints = [
        n,
        calls,
        malformed,
        gold,
        matched,
        exact,
        calls - matched,
        covered,
        gold - covered,
    ];
    Some(Summary { ints, floats })
}

impl Summary {
    /// The summary dict, keys in summary.SCORE_FIELDS order.
    pub fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<&'py PyDict> {
        let (i, f) = (&self.ints, &self.floats);
        let d = PyDict::new(py);
        set_i64(d, intern!(py, "rollouts"), i[0])?;
        set_f64(d, intern!(py, "turns_mean"), f[0])?;
        set_i64(d, intern!(py, "calls"), i[1])?;
        set_i64(d, intern!(py, "malformed_calls"), i[2])?;
        set_i64(d, intern!(py, "gold_calls"), i[3])?;
        set_i64(d, intern!(py, "matched_calls"), i[4])?;
        set_i64(d, intern!(py, "exact_calls"), i[5])?;
        set_i64(d, intern!(py, "redundant_calls"), i[6])?;
        set_i64(d, intern!(py, "covered_gold"), i[7])?;
        set_i64(d, intern!(py, "missed_gold"), i[8])?;
        set_f64(d, intern!(py, "call_precision"), f[1])?;
        set_f64(d, intern!(py, "call_recall"), f[2])?;
        d.set_item(intern!(py, "call_f1"), f[3])?;
        set_f64(d, intern!(py, "redundant_ratio"), f[4])?;
        set_f64(d, intern!(py, "answer_rate"), f[5])?;
        set_f64(d, intern!(py, "outcome_mean"), f[6])?;
        set_f64(d, intern!(py, "return_mean"), f[7])?;
        set_f64(d, intern!(py, "return_std"), f[8])?;
        set_f64(d, intern!(py, "advantage_abs_mean"), f[9])?;
        Ok(d)
    }
}
