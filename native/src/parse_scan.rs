//! Literal-tag scanning of model text with Python's string semantics: `tags.TagScanner` (`spans`,
//! `first`), `tags.strip_think`, `str.strip()` and `str.splitlines()` boundaries, `parse._looks_like_call`.

use memchr::memmem::Finder;

pub(crate) const THINK_OPEN: &str = "<think>";
pub(crate) const THINK_CLOSE: &str = "</think>";

/// A literal tag and its searcher (memchr's SIMD substring search, built once).
pub(crate) struct Tag {
    pub(crate) s: String,
    f: Finder<'static>,
}

impl Tag {
    pub(crate) fn new(s: &str) -> Self {
        Tag {
            s: s.to_owned(),
            f: Finder::new(s.as_bytes()).into_owned(),
        }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.s.len()
    }

    /// `hay.find(self, from)`.
    #[inline]
    pub(crate) fn find(&self, hay: &str, from: usize) -> Option<usize> {
        self.f.find(&hay.as_bytes()[from..]).map(|k| k + from)
    }

    /// `self in hay`.
    #[inline]
    pub(crate) fn within(&self, hay: &str) -> bool {
        self.f.find(hay.as_bytes()).is_some()
    }
}

/// Python's `str.isspace` (what `str.strip()` drops).
#[inline]
pub(crate) fn py_space(c: char) -> bool {
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

#[inline]
pub(crate) fn py_strip(s: &str) -> &str {
    s.trim_matches(py_space)
}

/// Python's `str.splitlines()` boundaries (`\r\n` counts as two; callers skip empty lines).
#[inline]
pub(crate) fn line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\x0b'
            | '\x0c'
            | '\r'
            | '\x1c'
            | '\x1d'
            | '\x1e'
            | '\u{85}'
            | '\u{2028}'
            | '\u{2029}'
    )
}

/// `TagScanner.spans`: the bodies of `OPEN(.*?)CLOSE`, left to right, non-overlapping.
pub(crate) fn spans<'t>(text: &'t str, open: &Tag, close: &Tag) -> Vec<&'t str> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(o) = open.find(text, pos) {
        let Some(c) = close.find(text, o + open.len()) else {
            break;
        };
        out.push(&text[o + open.len()..c]);
        pos = c + close.len();
    }
    out
}

/// `TagScanner.first`.
pub(crate) fn first<'t>(text: &'t str, open: &Tag, close: &Tag) -> Option<&'t str> {
    let o = open.find(text, 0)?;
    let c = close.find(text, o + open.len())?;
    Some(&text[o + open.len()..c])
}

/// `tags.strip_think`: (the text without think blocks, the removed segments, whether one was unclosed);
/// `None` for the text when nothing was removed.
pub(crate) fn strip_think<'t>(
    text: &'t str,
    open: &Tag,
    close: &Tag,
) -> (Option<String>, Vec<&'t str>, bool) {
    let mut removed = Vec::new();
    let mut out = String::new();
    let (lo, lc) = (open.len(), close.len());
    let mut pos = 0;
    let mut unclosed = false;
    if let Some(first_close) = close.find(text, 0) {
        if !open.within(&text[..first_close]) {
            removed.push(&text[..first_close]);
            pos = first_close + lc;
        }
    }
    loop {
        let Some(o) = open.find(text, pos) else {
            out.push_str(&text[pos..]);
            break;
        };
        out.push_str(&text[pos..o]);
        let Some(c) = close.find(text, o + lo) else {
            removed.push(&text[o + lo..]);
            unclosed = true;
            break;
        };
        removed.push(&text[o + lo..c]);
        pos = c + lc;
    }
    if removed.is_empty() {
        (None, removed, false)
    } else {
        (Some(out), removed, unclosed)
    }
}

/// `parse._looks_like_call` for a tag scanner.
pub(crate) fn looks_like_call(model_text: &str, open: &Tag, has_answer: bool) -> bool {
    open.within(model_text)
        || (!has_answer
            && model_text.contains("\"name\"")
            && (model_text.contains("\"arguments\"") || model_text.contains("\"parameters\"")))
}

/// JSON strings (parse_json.rs): the index of the first byte at or after `i` that ends a run of plain string bytes (a quote, a
/// backslash or a control character), or `b.len()`: sixteen bytes at a time (SSE2, part of every x86-64),
/// then eight, then one by one.
#[inline]
pub(crate) fn plain_run(b: &[u8], mut i: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    unsafe {
        use std::arch::x86_64::*;
        let quote = _mm_set1_epi8(b'"' as i8);
        let slash = _mm_set1_epi8(b'\\' as i8);
        let ctl = _mm_set1_epi8(0x1f);
        while i + 16 <= b.len() {
            let x = _mm_loadu_si128(b.as_ptr().add(i) as *const __m128i);
            let low = _mm_cmpeq_epi8(_mm_max_epu8(x, ctl), ctl); // unsigned x <= 0x1f
            let m = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, slash)),
                low,
            );
            let bits = _mm_movemask_epi8(m) as u32;
            if bits != 0 {
                return i + bits.trailing_zeros() as usize;
            }
            i += 16;
        }
    }
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while i + 8 <= b.len() {
        let w = u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH; // some byte of x is 0
        let special = zero(w ^ (ONES * b'"' as u64))
            | zero(w ^ (ONES * b'\\' as u64))
            | (w.wrapping_sub(ONES * 0x20) & !w & HIGH); // some byte is below 0x20
        if special != 0 {
            break;
        }
        i += 8;
    }
    while i < b.len() && !matches!(b[i], b'"' | b'\\' | 0..=0x1f) {
        i += 1;
    }
    i
}
