//! Answer normalization and the outcome metrics (service/turnscore/core/text.py), with Python's `str`
//! semantics: `str.lower()` (ASCII here, Python's own method for any other string), every ASCII
//! punctuation character to a space, split on what `str.split()` calls whitespace.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use pyo3::prelude::*;
use pyo3::types::PyString;

// `str.split()`'s whitespace (Py_UNICODE_ISSPACE) is `str.isspace`'s.
use crate::parse::scan::py_space;

/// `string.punctuation`: the 32 ASCII punctuation characters.
fn is_separator(c: char) -> bool {
    c.is_ascii_punctuation() || py_space(c)
}

/// A fast hasher for short tokens (FxHash's mixing): sets of tokens need no DoS resistance here.
#[derive(Default, Clone, Copy)]
pub struct Fx(u64);

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().unwrap()));
        }
        for &b in chunks.remainder() {
            self.add(b as u64);
        }
    }
    fn write_u8(&mut self, b: u8) {
        self.add(b as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl Fx {
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

pub type FxSet<T> = HashSet<T, BuildHasherDefault<Fx>>;

/// `str.lower()` of `s` (ASCII here, Python's method otherwise); `None` for strings that are not UTF-8
/// (lone surrogates: Python decides).
pub fn lowered(s: &PyString) -> Option<String> {
    let raw = s.to_str().ok()?;
    if raw.is_ascii() {
        return Some(raw.to_ascii_lowercase());
    }
    let low = s.call_method0("lower").ok()?;
    Some(low.downcast::<PyString>().ok()?.to_str().ok()?.to_owned())
}

/// ASCII bytes that separate tokens: punctuation and `str.split()`'s ASCII whitespace.
const SEPARATOR: [bool; 128] = {
    let mut t = [false; 128];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        t[b] = c.is_ascii_punctuation() || matches!(c, b'\t'..=b'\r' | 0x1c..=0x1f | b' ');
        b += 1;
    }
    t
};

/// The tokens of an already lowered answer (`answer_tokens` after `lower()`).
pub fn split(lowered: &str) -> Vec<&str> {
    if !lowered.is_ascii() {
        return lowered
            .split(is_separator)
            .filter(|t| !t.is_empty())
            .collect();
    }
    let bytes = lowered.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if SEPARATOR[b as usize] {
            if i > start {
                out.push(&lowered[start..i]);
            }
            start = i + 1;
        }
    }
    if bytes.len() > start {
        out.push(&lowered[start..]);
    }
    out
}

/// `answer_tokens(s)`: the tokens of the normalized answer; `None` when Python must decide.
pub fn tokens(s: &PyString) -> Option<Vec<String>> {
    Some(split(&lowered(s)?).into_iter().map(str::to_owned).collect())
}

/// A gold answer's tokens, in order and as a set (built once per gold answer).
pub struct GoldTokens {
    seq: Vec<String>,
    set: FxSet<String>,
}

impl GoldTokens {
    pub fn new(seq: Vec<String>) -> GoldTokens {
        let set = seq.iter().cloned().collect();
        GoldTokens { seq, set }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    F1,
    Em,
    Off,
}

impl Metric {
    pub fn parse(s: &str) -> Option<Metric> {
        match s {
            "f1" => Some(Metric::F1),
            "em" => Some(Metric::Em),
            "none" => Some(Metric::Off),
            _ => None,
        }
    }
}

/// Token-set F1 (text.f1_tokens): 0 when either side has no tokens or none is common.
fn f1(pred: &str, gold: &GoldTokens) -> f64 {
    let p: FxSet<&str> = split(pred).into_iter().collect();
    if p.is_empty() || gold.set.is_empty() {
        return 0.0;
    }
    let common = p.iter().filter(|t| gold.set.contains(**t)).count();
    if common == 0 {
        return 0.0;
    }
    let precision = common as f64 / p.len() as f64;
    let recall = common as f64 / gold.set.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

/// `outcome_score` of a lowered predicted answer against a gold answer's tokens (`None`: missing).
pub fn outcome(pred: Option<&str>, gold: Option<&GoldTokens>, metric: Metric) -> f64 {
    let (Some(p), Some(g)) = (pred, gold) else {
        return 0.0;
    };
    match metric {
        Metric::Off => 0.0,
        Metric::Em => {
            if !g.seq.is_empty() && split(p).into_iter().eq(g.seq.iter().map(String::as_str)) {
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
        Some(s) => Some(lowered(s)?),
        None => None,
    };
    let g = match gold {
        Some(s) => Some(GoldTokens::new(tokens(s)?)),
        None => None,
    };
    Some(outcome(p.as_deref(), g.as_ref(), metric))
}

pub fn register(m: &PyModule) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(answer_tokens, m)?)?;
    m.add_function(wrap_pyfunction!(outcome_score, m)?)?;
    Ok(())
}
