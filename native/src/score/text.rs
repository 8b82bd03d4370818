//! Answer normalization and the outcome metrics (service/turnscore/core/text.py), with Python's `str`
//! semantics: `str.lower()` (ASCII here, Python's own method for any other string), every ASCII
//! punctuation character to a space, split on what `str.split()` calls whitespace.

use std::borrow::Cow;
use std::cell::RefCell;

use pyo3::prelude::*;
use pyo3::types::PyString;

// `str.split()`'s whitespace (Py_UNICODE_ISSPACE) is `str.isspace`'s.
use crate::parse::scan::py_space;

/// `string.punctuation`: the 32 ASCII punctuation characters.
fn is_separator(c: char) -> bool {
    c.is_ascii_punctuation() || py_space(c)
}

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

/// What [`outcome`] reads of an answer: an ASCII `s` as it is, any other `str.lower()` of it; `None` for
/// strings that are not UTF-8.
pub fn answer_text(s: &PyString) -> Option<Cow<'_, str>> {
    let raw = s.to_str().ok()?;
    if raw.is_ascii() {
        return Some(Cow::Borrowed(raw));
    }
    lowered(s).map(Cow::Owned)
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
    let mut out = Vec::new();
    each_token(lowered, |a, b| out.push(&lowered[a..b]));
    out
}

/// `answer_tokens(s)`: the tokens of the normalized answer; `None` when Python must decide.
pub fn tokens(s: &PyString) -> Option<Vec<String>> {
    Some(split(&lowered(s)?).into_iter().map(str::to_owned).collect())
}

/// A token's hash (FxHash's mixing, eight bytes at a time).
fn token_hash(t: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mix = |h: u64, w: u64| (h.rotate_left(5) ^ w).wrapping_mul(K);
    let mut h = (t.len() as u64).wrapping_mul(K);
    let mut words = t.chunks_exact(8);
    for w in &mut words {
        h = mix(h, u64::from_le_bytes(w.try_into().expect("8 bytes")));
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let w = rest.iter().rev().fold(0u64, |w, &b| (w << 8) | b as u64);
        h = mix(h, w);
    }
    h
}

/// `f(start, end)` for each token of an already lowered `text`, in order.
#[inline]
fn each_token(text: &str, mut f: impl FnMut(usize, usize)) {
    let bytes = text.as_bytes();
    if !text.is_ascii() {
        let base = text.as_ptr() as usize;
        for t in text.split(is_separator).filter(|t| !t.is_empty()) {
            let a = t.as_ptr() as usize - base;
            f(a, a + t.len());
        }
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if SEPARATOR[b as usize] {
            if i > start {
                f(start, i);
            }
            start = i + 1;
        }
    }
    if bytes.len() > start {
        f(start, bytes.len());
    }
}

/// Open addressing over token indices (`u32::MAX`: empty), probed from a hash's high bits.
struct Table {
    slots: Vec<u32>,
    shift: u32,
}

impl Table {
    const fn empty() -> Table {
        Table {
            slots: Vec::new(),
            shift: 63,
        }
    }

    /// Emptied, with room for `n` entries at most half full.
    fn reset(&mut self, n: usize) {
        let size = (2 * n).next_power_of_two().max(2);
        self.shift = 64 - size.trailing_zeros();
        self.slots.clear();
        self.slots.resize(size, u32::MAX);
    }

    /// The index of the entry `same` accepts among those of hash `h`, else where to put one (`Err`).
    #[inline]
    fn find(&self, h: u64, same: impl Fn(u32) -> bool) -> Result<u32, usize> {
        let mask = self.slots.len() - 1;
        let mut at = (h >> self.shift) as usize;
        loop {
            let k = self.slots[at];
            if k == u32::MAX {
                return Err(at);
            }
            if same(k) {
                return Ok(k);
            }
            at = (at + 1) & mask;
        }
    }
}

/// A gold answer's tokens, in order and distinct (built once per gold answer).
pub struct GoldTokens {
    seq: Vec<String>,
    /// the distinct tokens (indices into `seq`) and their hashes
    distinct: Vec<(u32, u64)>,
    table: Table,
}

impl GoldTokens {
    pub fn new(seq: Vec<String>) -> GoldTokens {
        let mut g = GoldTokens {
            distinct: Vec::new(),
            table: Table::empty(),
            seq,
        };
        g.table.reset(g.seq.len());
        for (i, t) in g.seq.iter().enumerate() {
            let h = token_hash(t.as_bytes());
            if let Err(at) = g.find(h, t.as_bytes()) {
                g.table.slots[at] = g.distinct.len() as u32;
                g.distinct.push((i as u32, h));
            }
        }
        g
    }

    /// Where the token `t` of hash `h` is, or would go.
    #[inline]
    fn find(&self, h: u64, t: &[u8]) -> Result<u32, usize> {
        self.table.find(h, |k| {
            let (i, kh) = self.distinct[k as usize];
            kh == h && self.seq[i as usize].as_bytes() == t
        })
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

/// A predicted answer lowered, its tokens (start, end, hash) and their distinct set, reused from answer to
/// answer.
struct Scratch {
    low: String,
    tokens: Vec<(usize, usize, u64)>,
    table: Table,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = const {
        RefCell::new(Scratch {
            low: String::new(),
            tokens: Vec::new(),
            table: Table::empty(),
        })
    };
}

impl Scratch {
    /// `pred` (ASCII, or lowered by `str.lower()`) lowered into `low`, its tokens into `tokens`.
    fn read(&mut self, pred: &str) {
        self.low.clear();
        self.low.push_str(pred);
        self.low.make_ascii_lowercase();
        let (low, tokens) = (&self.low, &mut self.tokens);
        tokens.clear();
        each_token(low, |a, b| tokens.push((a, b, token_hash(&low.as_bytes()[a..b]))));
    }
}

/// Token-set F1 (text.f1_tokens): 0 when either side has no tokens or none is common.
fn f1(pred: &str, gold: &GoldTokens) -> f64 {
    if gold.distinct.is_empty() {
        return 0.0;
    }
    let (distinct, common) = SCRATCH.with(|s| {
        let s = &mut *s.borrow_mut();
        s.read(pred);
        s.table.reset(s.tokens.len());
        let (bytes, toks) = (s.low.as_bytes(), &s.tokens);
        let (mut distinct, mut common) = (0usize, 0usize);
        for (i, &(a, b, h)) in toks.iter().enumerate() {
            let t = &bytes[a..b];
            let seen = s.table.find(h, |k| {
                let (ka, kb, kh) = toks[k as usize];
                kh == h && &bytes[ka..kb] == t
            });
            if let Err(at) = seen {
                s.table.slots[at] = i as u32;
                distinct += 1;
                common += gold.find(h, t).is_ok() as usize;
            }
        }
        (distinct, common)
    });
    if distinct == 0 || common == 0 {
        return 0.0;
    }
    let precision = common as f64 / distinct as f64;
    let recall = common as f64 / gold.distinct.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

/// Whether the tokens of `pred` are the gold answer's, in order.
fn same_tokens(pred: &str, gold: &GoldTokens) -> bool {
    SCRATCH.with(|s| {
        let s = &mut *s.borrow_mut();
        s.read(pred);
        let bytes = s.low.as_bytes();
        s.tokens.len() == gold.seq.len()
            && s.tokens.iter().zip(&gold.seq).all(|(&(a, b, _), g)| &bytes[a..b] == g.as_bytes())
    })
}

/// `outcome_score` of a predicted answer against a gold answer's tokens (`None`: missing): `pred` is ASCII
/// (the metrics lower its letters) or lowered by `str.lower()` ([`answer_text`]).
pub fn outcome(pred: Option<&str>, gold: Option<&GoldTokens>, metric: Metric) -> f64 {
    let (Some(p), Some(g)) = (pred, gold) else {
        return 0.0;
    };
    match metric {
        Metric::Off => 0.0,
        Metric::Em => {
            if !g.seq.is_empty() && same_tokens(p, g) {
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
        Some(s) => Some(answer_text(s)?),
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
