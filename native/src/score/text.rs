//! Answer normalization and the outcome metrics (service/turnscore/core/text.py), with Python's `str`
//! semantics: `str.lower()` (ASCII here, Python's own method for any other string), every ASCII
//! punctuation character to a space, split on what `str.split()` calls whitespace.

use std::collections::HashSet;

use pyo3::prelude::*;
use pyo3::types::PyString;

/// `str.split()`'s whitespace (Py_UNICODE_ISSPACE): ASCII \t \n \v \f \r \x1c-\x1f and space, and the
/// Unicode characters of bidirectional class WS/B/S or category Zs.
fn is_py_space(c: char) -> bool {
    matches!(
        c,
        '\t'..='\r'
            | '\x1c'..='\x1f'
            | ' '
            | '\u{85}'
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
    )
}

/// `string.punctuation`: the 32 ASCII punctuation characters.
fn is_separator(c: char) -> bool {
    c.is_ascii_punctuation() || is_py_space(c)
}

/// `answer_tokens(s)`: the tokens of the normalized answer; `None` when `s` is not valid UTF-8 (lone
/// surrogates: Python decides).
pub fn tokens(s: &PyString) -> Option<Vec<String>> {
    let raw = s.to_str().ok()?;
    let lowered: String = if raw.is_ascii() {
        raw.to_ascii_lowercase()
    } else {
        let low = s.call_method0("lower").ok()?;
        low.downcast::<PyString>().ok()?.to_str().ok()?.to_owned()
    };
    Some(
        lowered
            .split(is_separator)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect(),
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    F1,
    Em,
    NoMetric,
}

impl Metric {
    pub fn parse(s: &str) -> Option<Metric> {
        match s {
            "f1" => Some(Metric::F1),
            "em" => Some(Metric::Em),
            "none" => Some(Metric::NoMetric),
            _ => None,
        }
    }
}

/// Token-set F1 (text.f1_tokens): 0 when either side has no tokens or none is common.
fn f1(pred: &[String], gold: &[String]) -> f64 {
    let p: HashSet<&str> = pred.iter().map(String::as_str).collect();
    let g: HashSet<&str> = gold.iter().map(String::as_str).collect();
    if p.is_empty() || g.is_empty() {
        return 0.0;
    }
    let common = p.intersection(&g).count();
    if common == 0 {
        return 0.0;
    }
    let precision = common as f64 / p.len() as f64;
    let recall = common as f64 / g.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

/// `outcome_score` from the tokens of both answers (`None`: that answer is missing).
pub fn outcome(pred: Option<&[String]>, gold: Option<&[String]>, metric: Metric) -> f64 {
    let (Some(p), Some(g)) = (pred, gold) else {
        return 0.0;
    };
    match metric {
        Metric::NoMetric => 0.0,
        Metric::Em => {
            if !g.is_empty() && p == g {
                1.0
            } else {
                0.0
            }
        }
        Metric::F1 => f1(p, g),
    }
}

/// `answer_tokens(s)` (for tests); `None` when Python must decide.
#[pyfunction]
fn answer_tokens(s: &PyString) -> Option<Vec<String>> {
    tokens(s)
}

/// `outcome_score(pred, answer_tokens(gold), gold, metric)`; `None` when Python must decide.
#[pyfunction]
fn outcome_score(pred: Option<&PyString>, gold: Option<&PyString>, metric: &str) -> Option<f64> {
    let metric = Metric::parse(metric)?;
    let p = match pred {
        Some(s) => Some(tokens(s)?),
        None => None,
    };
    let g = match gold {
        Some(s) => Some(tokens(s)?),
        None => None,
    };
    Some(outcome(p.as_deref(), g.as_deref(), metric))
}

pub fn register(m: &PyModule) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(answer_tokens, m)?)?;
    m.add_function(wrap_pyfunction!(outcome_score, m)?)?;
    Ok(())
}
