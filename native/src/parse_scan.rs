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
