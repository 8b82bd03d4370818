//! A string stored inline when short (argument names, most values): tables are built per rollout, and a
//! heap allocation per string was their largest cost.

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

const INLINE: usize = 22;

#[derive(Clone)]
pub enum SStr {
    Inline(u8, [u8; INLINE]),
    Heap(Box<str>),
}

impl SStr {
    pub fn as_str(&self) -> &str {
        match self {
            // the bytes were copied from a &str whole
            SStr::Inline(n, b) => unsafe { std::str::from_utf8_unchecked(&b[..*n as usize]) },
            SStr::Heap(s) => s,
        }
    }

    /// `s` with ASCII letters lower-cased (`str.lower()` of an ASCII string: callers pass ASCII text).
    pub fn ascii_lower(s: &str) -> SStr {
        debug_assert!(s.is_ascii());
        let mut out = SStr::from(s);
        match &mut out {
            SStr::Inline(_, b) => lower_inline(b),
            SStr::Heap(h) => h.make_ascii_lowercase(),
        }
        out
    }

    /// The inline bytes (zero-padded) and length, or `None` for a string on the heap.
    #[inline]
    fn inline(&self) -> Option<(u8, &[u8; INLINE])> {
        match self {
            SStr::Inline(n, b) => Some((*n, b)),
            SStr::Heap(_) => None,
        }
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;

/// ASCII letters of an inline string lower-cased, eight bytes at a time: 0x20 added to each byte of
/// `A`..=`Z` (bytes below 0x80: no carry between them; the padding zeros stay zeros).
#[inline]
fn lower_inline(b: &mut [u8; INLINE]) {
    let lower = |v: u64| {
        let upper = (v + ONES * (0x80 - b'A' as u64)) & !(v + ONES * (0x80 - b'Z' as u64 - 1));
        v | ((upper & ONES * 0x80) >> 2)
    };
    let mut last = [0u8; 8];
    last[..INLINE - 16].copy_from_slice(&b[16..]);
    let w = [
        lower(u64::from_le_bytes(b[..8].try_into().expect("8 bytes"))),
        lower(u64::from_le_bytes(b[8..16].try_into().expect("8 bytes"))),
        lower(u64::from_le_bytes(last)),
    ];
    b[..8].copy_from_slice(&w[0].to_le_bytes());
    b[8..16].copy_from_slice(&w[1].to_le_bytes());
    b[16..].copy_from_slice(&w[2].to_le_bytes()[..INLINE - 16]);
}

/// The zero-padded inline bytes as three big-endian words: compared as numbers, in the order of the
/// bytes (a shorter string's padding zeros sort before any byte but a zero, where the lengths decide).
#[inline]
fn words(b: &[u8; INLINE]) -> [u64; 3] {
    let mut last = [0u8; 8];
    last[..INLINE - 16].copy_from_slice(&b[16..]);
    [
        u64::from_be_bytes(b[..8].try_into().expect("8 bytes")),
        u64::from_be_bytes(b[8..16].try_into().expect("8 bytes")),
        u64::from_be_bytes(last),
    ]
}

/// The bytes of `s` (at most [`INLINE`]) in an inline buffer: two overlapping copies of a fixed width
/// (register moves, no call of `memcpy` for a few bytes).
#[inline]
fn inline_bytes(s: &[u8]) -> [u8; INLINE] {
    let mut b = [0u8; INLINE];
    let n = s.len();
    if n >= 16 {
        b[..16].copy_from_slice(&s[..16]);
        b[n - 16..n].copy_from_slice(&s[n - 16..]);
    } else if n >= 8 {
        b[..8].copy_from_slice(&s[..8]);
        b[n - 8..n].copy_from_slice(&s[n - 8..]);
    } else if n >= 4 {
        b[..4].copy_from_slice(&s[..4]);
        b[n - 4..n].copy_from_slice(&s[n - 4..]);
    } else if n > 0 {
        b[0] = s[0];
        b[n / 2] = s[n / 2];
        b[n - 1] = s[n - 1];
    }
    b
}

impl From<&str> for SStr {
    #[inline]
    fn from(s: &str) -> SStr {
        if s.len() <= INLINE {
            SStr::Inline(s.len() as u8, inline_bytes(s.as_bytes()))
        } else {
            SStr::Heap(s.into())
        }
    }
}

impl From<String> for SStr {
    fn from(s: String) -> SStr {
        if s.len() <= INLINE {
            SStr::from(s.as_str())
        } else {
            SStr::Heap(s.into_boxed_str())
        }
    }
}

impl Deref for SStr {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

// Every constructor stores a string of at most INLINE bytes inline, zero-padded: two inline strings
// are equal when their lengths and arrays are, and order as their padded words then lengths.

impl PartialEq for SStr {
    #[inline]
    fn eq(&self, other: &SStr) -> bool {
        match (self.inline(), other.inline()) {
            (Some((n, a)), Some((m, b))) => n == m && a == b,
            _ => self.as_str() == other.as_str(),
        }
    }
}

impl Eq for SStr {}

impl Hash for SStr {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.as_str().hash(h)
    }
}

impl PartialOrd for SStr {
    fn partial_cmp(&self, other: &SStr) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SStr {
    #[inline]
    fn cmp(&self, other: &SStr) -> Ordering {
        match (self.inline(), other.inline()) {
            (Some((n, a)), Some((m, b))) => words(a).cmp(&words(b)).then(n.cmp(&m)),
            _ => self.as_str().cmp(other.as_str()),
        }
    }
}

impl std::fmt::Debug for SStr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}
