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

/// FxHash's mixing of a token's length and its bytes as little-endian words (`word(i)`: the eight bytes
/// from `i`, those past the token's end masked off).
#[inline]
fn fx_words(len: usize, word: impl Fn(usize) -> u64) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mix = |h: u64, w: u64| (h.rotate_left(5) ^ w).wrapping_mul(K);
    let mut h = (len as u64).wrapping_mul(K);
    let mut i = 0;
    while i + 8 <= len {
        h = mix(h, word(i));
        i += 8;
    }
    if i < len {
        h = mix(h, word(i) & (u64::MAX >> (8 * (8 - (len - i)))));
    }
    h
}

/// The hash of the token `low[a..b]`: `low` has eight bytes past any token's end.
#[inline]
fn token_hash(low: &[u8], a: usize, b: usize) -> u64 {
    fx_words(b - a, |i| word(low, a + i))
}

/// The eight bytes of `buf` from `i`, as a little-endian word.
#[inline]
fn word(buf: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(buf[i..i + 8].try_into().expect("8 bytes"))
}

/// Whether the tokens `x[a..b]` and `y[c..d]` are equal (both buffers have eight bytes past their tokens).
#[inline]
fn same(x: &[u8], a: usize, b: usize, y: &[u8], c: usize, d: usize) -> bool {
    let n = b - a;
    if n != d - c {
        return false;
    }
    let mut i = 0;
    while i + 8 <= n {
        if word(x, a + i) != word(y, c + i) {
            return false;
        }
        i += 8;
    }
    i == n || (word(x, a + i) ^ word(y, c + i)) & (u64::MAX >> (8 * (8 - (n - i)))) == 0
}

/// The ASCII `text` lowered into `low` (which it must start empty) and `f(start, end)` for each of its
/// tokens: 64 bytes at a time, the separators found as a bit mask (SSE2, part of every x86-64).
#[cfg(target_arch = "x86_64")]
fn ascii_tokens(text: &[u8], low: &mut Vec<u8>, mut f: impl FnMut(usize, usize)) {
    use std::arch::x86_64::*;
    let mut start = None;
    let mut base = 0;
    while base < text.len() {
        let mut chunk = [b' '; 64];
        let n = (text.len() - base).min(64);
        chunk[..n].copy_from_slice(&text[base..base + n]);
        let mut out = [0u8; 64];
        let mut sep = 0u64;
        for q in 0..4 {
            // SAFETY: SSE2 is part of x86-64; loads and stores stay inside the 64-byte arrays
            unsafe {
                let x = _mm_loadu_si128(chunk.as_ptr().add(16 * q) as *const __m128i);
                let within = |lo: u8, hi: u8| {
                    let y = _mm_sub_epi8(x, _mm_set1_epi8(lo as i8));
                    _mm_cmpeq_epi8(_mm_min_epu8(y, _mm_set1_epi8((hi - lo) as i8)), y)
                };
                let s = _mm_or_si128(
                    _mm_or_si128(within(0x09, 0x0d), within(0x1c, 0x2f)),
                    _mm_or_si128(
                        _mm_or_si128(within(0x3a, 0x40), within(0x5b, 0x60)),
                        within(0x7b, 0x7e),
                    ),
                );
                let lowered = _mm_or_si128(x, _mm_and_si128(within(b'A', b'Z'), _mm_set1_epi8(0x20)));
                _mm_storeu_si128(out.as_mut_ptr().add(16 * q) as *mut __m128i, lowered);
                sep |= (_mm_movemask_epi8(s) as u32 as u64) << (16 * q);
            }
        }
        low.extend_from_slice(&out[..n]);
        let mut pos = 0u32;
        while pos < 64 {
            match start {
                Some(a) => {
                    let rest = sep >> pos;
                    if rest == 0 {
                        break;
                    }
                    pos += rest.trailing_zeros();
                    f(a, base + pos as usize);
                    start = None;
                }
                None => {
                    let rest = !sep >> pos;
                    if rest == 0 {
                        break;
                    }
                    pos += rest.trailing_zeros();
                    start = Some(base + pos as usize);
                }
            }
            pos += 1;
        }
        base += 64;
    }
    if let Some(a) = start {
        f(a, text.len());
    }
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

/// A token: (start, end) in its lowered text, hash.
type Token = (usize, usize, u64);

/// `text` (ASCII, or lowered by `str.lower()`) lowered into `low` (then eight bytes more), its tokens into
/// `tokens`.
fn read(text: &str, low: &mut Vec<u8>, tokens: &mut Vec<Token>) {
    low.clear();
    tokens.clear();
    #[cfg(target_arch = "x86_64")]
    if text.is_ascii() {
        ascii_tokens(text.as_bytes(), low, |a, b| tokens.push((a, b, 0)));
    }
    if low.len() != text.len() {
        low.clear();
        low.extend_from_slice(text.as_bytes());
        low.make_ascii_lowercase();
        each_token(text, |a, b| tokens.push((a, b, 0)));
    }
    low.extend_from_slice(&[0; 8]);
    for t in tokens.iter_mut() {
        t.2 = token_hash(low, t.0, t.1);
    }
}

/// A gold answer's tokens, in order and distinct (built once per gold answer).
pub struct GoldTokens {
    low: Vec<u8>,
    seq: Vec<Token>,
    /// the number of distinct tokens
    distinct: usize,
    /// the distinct tokens (indices into `seq`)
    table: Table,
}

impl GoldTokens {
    /// The tokens of the answer `s` (`answer_text`); `None` when Python must decide.
    pub fn of(s: &PyString) -> Option<GoldTokens> {
        let text = answer_text(s)?;
        let mut g = GoldTokens {
            low: Vec::new(),
            seq: Vec::new(),
            distinct: 0,
            table: Table::empty(),
        };
        read(&text, &mut g.low, &mut g.seq);
        g.table.reset(g.seq.len());
        for (i, &(a, b, h)) in g.seq.iter().enumerate() {
            if let Err(at) = g.find(h, &g.low, a, b) {
                g.table.slots[at] = i as u32;
                g.distinct += 1;
            }
        }
        Some(g)
    }

    /// Where the token `x[a..b]` of hash `h` is, or would go (`x` has eight bytes past it).
    #[inline]
    fn find(&self, h: u64, x: &[u8], a: usize, b: usize) -> Result<u32, usize> {
        self.table.find(h, |k| {
            let (c, d, kh) = self.seq[k as usize];
            kh == h && same(x, a, b, &self.low, c, d)
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

/// A predicted answer lowered (and eight bytes more), its tokens and their distinct set, reused from
/// answer to answer.
struct Scratch {
    low: Vec<u8>,
    tokens: Vec<Token>,
    table: Table,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = const {
        RefCell::new(Scratch {
            low: Vec::new(),
            tokens: Vec::new(),
            table: Table::empty(),
        })
    };
}

/// Token-set F1 (text.f1_tokens): 0 when either side has no tokens or none is common.
fn f1(pred: &str, gold: &GoldTokens) -> f64 {
    if gold.distinct == 0 {
        return 0.0;
    }
    let (distinct, common) = SCRATCH.with(|s| {
        let s = &mut *s.borrow_mut();
        read(pred, &mut s.low, &mut s.tokens);
        s.table.reset(s.tokens.len());
        let (bytes, toks) = (&s.low[..], &s.tokens);
        let (mut distinct, mut common) = (0usize, 0usize);
        for (i, &(a, b, h)) in toks.iter().enumerate() {
            let seen = s.table.find(h, |k| {
                let (c, d, kh) = toks[k as usize];
                kh == h && same(bytes, a, b, bytes, c, d)
            });
            if let Err(at) = seen {
                s.table.slots[at] = i as u32;
                distinct += 1;
                common += gold.find(h, bytes, a, b).is_ok() as usize;
            }
        }
        (distinct, common)
    });
    if distinct == 0 || common == 0 {
        return 0.0;
    }
    let precision = common as f64 / distinct as f64;
    let recall = common as f64 / gold.distinct as f64;
    2.0 * precision * recall / (precision + recall)
}

/// Whether the tokens of `pred` are the gold answer's, in order.
fn same_tokens(pred: &str, gold: &GoldTokens) -> bool {
    SCRATCH.with(|s| {
        let s = &mut *s.borrow_mut();
        read(pred, &mut s.low, &mut s.tokens);
        let bytes = &s.low[..];
        s.tokens.len() == gold.seq.len()
            && s.tokens
                .iter()
                .zip(&gold.seq)
                .all(|(&(a, b, _), &(c, d, _))| same(bytes, a, b, &gold.low, c, d))
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
        Some(s) => Some(GoldTokens::of(s)?),
        None => None,
    };
    Some(outcome(p.as_deref(), g.as_ref(), metric))
}

pub fn register(m: &PyModule) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(answer_tokens, m)?)?;
    m.add_function(wrap_pyfunction!(outcome_score, m)?)?;
    Ok(())
}
