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
    set: TokenSet,
}

impl GoldTokens {
    pub fn new(seq: Vec<String>) -> GoldTokens {
        let mut set = TokenSet::default();
        set.reset(seq.len());
        for t in &seq {
            set.insert(fx_bytes(t.as_bytes()), t.as_bytes());
        }
        GoldTokens { seq, set }
    }
}

const FX: u64 = 0x517c_c1b7_2722_0a95;

/// One byte into a token's hash (FxHash's mixing, byte by byte).
#[inline]
fn fx_step(h: u64, b: u8) -> u64 {
    (h.rotate_left(5) ^ b as u64).wrapping_mul(FX)
}

fn fx_bytes(b: &[u8]) -> u64 {
    b.iter().fold(0, |h, &x| fx_step(h, x))
}

/// A set of distinct tokens (their bytes) by open addressing; `reset` keeps the allocations, so one set
/// serves every predicted answer of a request.
#[derive(Default)]
pub struct TokenSet {
    /// 0: empty, else 1 + the index in `entries`
    slots: Vec<u32>,
    /// (hash, start, end) of each token in `bytes`
    entries: Vec<(u64, u32, u32)>,
    bytes: Vec<u8>,
}

impl TokenSet {
    /// Empties the set, sized for up to `max_tokens` tokens (at most half the slots in use).
    pub fn reset(&mut self, max_tokens: usize) {
        let cap = (2 * max_tokens + 2).next_power_of_two().max(16);
        self.slots.clear();
        self.slots.resize(cap, 0);
        self.entries.clear();
        self.bytes.clear();
    }

    /// The number of distinct tokens.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The slot of `tok` (`Ok`) or the empty slot where it would go (`Err`).
    fn find(&self, h: u64, tok: &[u8]) -> Result<usize, usize> {
        let mask = self.slots.len() - 1;
        let mut i = (h as usize ^ (h >> 32) as usize) & mask;
        loop {
            let e = self.slots[i];
            if e == 0 {
                return Err(i);
            }
            let (eh, a, b) = self.entries[e as usize - 1];
            if eh == h && &self.bytes[a as usize..b as usize] == tok {
                return Ok(i);
            }
            i = (i + 1) & mask;
        }
    }

    pub fn contains(&self, h: u64, tok: &[u8]) -> bool {
        self.find(h, tok).is_ok()
    }

    /// Adds `tok` (hash `h`); whether it was new. The caller keeps within `reset`'s `max_tokens`.
    pub fn insert(&mut self, h: u64, tok: &[u8]) -> bool {
        match self.find(h, tok) {
            Ok(_) => false,
            Err(i) => {
                let a = self.bytes.len() as u32;
                self.bytes.extend_from_slice(tok);
                self.entries.push((h, a, self.bytes.len() as u32));
                self.slots[i] = self.entries.len() as u32;
                true
            }
        }
    }
}

/// What one F1 needs besides the answers: the predicted answer's distinct tokens and the token being read.
#[derive(Default)]
pub struct Scratch {
    pred: TokenSet,
    tok: Vec<u8>,
}

/// ASCII bytes lowered (`str.lower()`), and 0 for a separator (punctuation or `str.split()` whitespace).
const FOLD: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut b = 0;
    while b < 128 {
        t[b] = if SEPARATOR[b] {
            0
        } else {
            (b as u8).to_ascii_lowercase()
        };
        b += 1;
    }
    t
};

/// F1 (text.f1_tokens of `answer_tokens(pred)`) of an ASCII predicted answer as it comes (not lowered):
/// lowered, split and counted in one pass.
fn f1_ascii(pred: &[u8], gold: &GoldTokens, scratch: &mut Scratch) -> f64 {
    let Scratch { pred: set, tok } = scratch;
    set.reset(pred.len() / 2 + 1);
    let mut common = 0usize;
    let mut h = 0u64;
    tok.clear();
    for &b in pred.iter().chain(std::iter::once(&b' ')) {
        let c = FOLD[b as usize];
        if c != 0 {
            tok.push(c);
            h = fx_step(h, c);
        } else if !tok.is_empty() {
            if set.insert(h, tok) && gold.set.contains(h, tok) {
                common += 1;
            }
            tok.clear();
            h = 0;
        }
    }
    ratio(common, set.len(), gold.set.len())
}

/// `2 p r / (p + r)` of `common` tokens among `pred` and `gold` distinct ones (0 without tokens on a side
/// or in common), as text.f1_tokens computes it.
fn ratio(common: usize, pred: usize, gold: usize) -> f64 {
    if pred == 0 || gold == 0 || common == 0 {
        return 0.0;
    }
    let precision = common as f64 / pred as f64;
    let recall = common as f64 / gold as f64;
    2.0 * precision * recall / (precision + recall)
}

/// `outcome_score(pred, gold tokens, gold, metric)` of a predicted answer as it comes; `None` when Python
/// must decide (a string that is not UTF-8).
pub fn outcome_of_str(
    pred: &PyString,
    gold: &GoldTokens,
    metric: Metric,
    scratch: &mut Scratch,
) -> Option<f64> {
    if metric == Metric::F1 {
        let raw = pred.to_str().ok()?;
        if raw.is_ascii() {
            return Some(f1_ascii(raw.as_bytes(), gold, scratch));
        }
    }
    let p = lowered(pred)?;
    Some(outcome(Some(&p), Some(gold), metric))
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

/// Token-set F1 (text.f1_tokens) of a lowered answer: 0 when either side has no tokens or none is common.
fn f1(pred: &str, gold: &GoldTokens) -> f64 {
    let p: FxSet<&str> = split(pred).into_iter().collect();
    let common = p
        .iter()
        .filter(|t| gold.set.contains(fx_bytes(t.as_bytes()), t.as_bytes()))
        .count();
    ratio(common, p.len(), gold.set.len())
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
    let g = match gold {
        Some(s) => Some(GoldTokens::new(tokens(s)?)),
        None => None,
    };
    match (pred, g) {
        // as the scoring calls it (the F1 of an ASCII answer in one pass)
        (Some(p), Some(g)) => outcome_of_str(p, &g, metric, &mut Scratch::default()),
        (Some(p), None) => lowered(p).map(|_| 0.0),
        (None, _) => Some(0.0),
    }
}

pub fn register(m: &PyModule) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(answer_tokens, m)?)?;
    m.add_function(wrap_pyfunction!(outcome_score, m)?)?;
    Ok(())
}
