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

    /// `s` with ASCII letters lower-cased (`str.lower()` of an ASCII string).
    pub fn ascii_lower(s: &str) -> SStr {
        let mut out = SStr::from(s);
        match &mut out {
            SStr::Inline(n, b) => b[..*n as usize].make_ascii_lowercase(),
            SStr::Heap(h) => h.make_ascii_lowercase(),
        }
        out
    }
}

impl From<&str> for SStr {
    fn from(s: &str) -> SStr {
        if s.len() <= INLINE {
            let mut b = [0u8; INLINE];
            b[..s.len()].copy_from_slice(s.as_bytes());
            SStr::Inline(s.len() as u8, b)
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

impl PartialEq for SStr {
    fn eq(&self, other: &SStr) -> bool {
        self.as_str() == other.as_str()
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
    fn cmp(&self, other: &SStr) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl std::fmt::Debug for SStr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}
