//! Pieces of Python's string semantics for model text: a literal tag's `str.find`, `str.strip()` and
//! `str.splitlines()` boundaries, `parse._looks_like_call` (the scanning itself: parse_hits.rs,
//! parse_read.rs).

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

/// `str.strip()`: ASCII ends byte by byte; a non-ASCII character left at either end takes the general path.
#[inline]
pub(crate) fn py_strip(s: &str) -> &str {
    let b = s.as_bytes();
    let ascii_space = |c: u8| matches!(c, b'\t'..=b'\r' | 0x1c..=0x1f | b' ');
    let mut i = 0;
    while i < b.len() && ascii_space(b[i]) {
        i += 1;
    }
    let mut j = b.len();
    while j > i && ascii_space(b[j - 1]) {
        j -= 1;
    }
    let s = &s[i..j];
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(&f), Some(&l)) if f >= 0x80 || l >= 0x80 => s.trim_matches(py_space),
        _ => s,
    }
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
