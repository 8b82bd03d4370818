//! Where the tags of a format occur in a text, found in one pass: every position where some tag starts
//! (overlapping and nested occurrences included), per tag in ascending order. `str.find(tag, from)` within
//! `text[..end]` is then the first recorded position at or after `from` whose tag ends by `end`, so the
//! scanning of parse_read.rs keeps Python's semantics exactly while it reads the text once, not once per
//! search (about fourteen searches per turn: turn end, think blocks, call spans, answer).
//!
//! The pass marks the anchor bytes of the tags (each tag's first byte, or a rarer one of its next three)
//! sixteen at a time (SSE2), picks the tags that may be anchored at each mark by four bytes from it (a table
//! per byte), and compares their first eight bytes in one load. A text whose longer comparisons pass a work
//! bound linear in its length (tags built to match each other's prefixes) is searched per query with
//! memchr's `memmem` instead, as before: the same answers, in linear time either way.

use super::scan::Tag;

pub(crate) const SEPARATOR: usize = 0;
pub(crate) const TURN_END: usize = 1;
pub(crate) const CALL_OPEN: usize = 2;
pub(crate) const CALL_CLOSE: usize = 3;
pub(crate) const ANSWER_OPEN: usize = 4;
pub(crate) const ANSWER_CLOSE: usize = 5;
pub(crate) const THINK_OPEN: usize = 6;
pub(crate) const THINK_CLOSE: usize = 7;
const N: usize = 8;

/// The first (up to) eight bytes of a tag as one little-endian word, and the mask of those bytes.
#[derive(Clone, Copy)]
struct Head {
    word: u64,
    mask: u64,
}

/// How many bytes from an anchor on pick the tags to compare ([`TagSet::at`]).
const PICK: usize = 4;

/// Where in a tag its anchor is: the byte the pass looks for. The first byte, unless that is whitespace or
/// alphanumeric (frequent in text) and one of the next three bytes is another tag's first byte that is
/// neither (the separator `\n<|im_start|>assistant\n` is anchored on its `<`, as the other tags are).
fn anchor(tag: &[u8], firsts: &[u8]) -> usize {
    let plain = |c: u8| c.is_ascii_whitespace() || c.is_ascii_alphanumeric();
    if !plain(tag[0]) {
        return 0;
    }
    (1..tag.len().min(PICK))
        .find(|&k| !plain(tag[k]) && firsts.contains(&tag[k]))
        .unwrap_or(0)
}

/// The tags of a format (indexed by the constants above) and what the one pass needs of them.
pub(crate) struct TagSet {
    tags: [Tag; N],
    heads: [Head; N],
    /// Each tag's anchor ([`anchor`]).
    offset: [usize; N],
    /// `at[k][c]`: the tags (a bit each) whose anchor may be at a position `k` bytes before a byte `c` (those
    /// ending before, whatever `c`); `at[0]` holds only the tags scanned.
    at: [[u8; 256]; PICK],
    /// The distinct anchor bytes of the tags scanned.
    anchors: Vec<u8>,
}

impl TagSet {
    /// `tags` in the order of the constants; the think tags are scanned only with `think`.
    pub(crate) fn new(tags: [&str; N], think: bool) -> Self {
        let tags = tags.map(Tag::new);
        let heads = std::array::from_fn(|t| {
            let b = tags[t].s.as_bytes();
            let k = b.len().min(8);
            let mut w = [0u8; 8];
            w[..k].copy_from_slice(&b[..k]);
            let mask = if k == 8 {
                u64::MAX
            } else {
                (1u64 << (8 * k)) - 1
            };
            Head {
                word: u64::from_le_bytes(w),
                mask,
            }
        });
        let scanned = |t: usize| think || (t != THINK_OPEN && t != THINK_CLOSE);
        let firsts: Vec<u8> = (0..N)
            .filter(|&t| scanned(t))
            .map(|t| tags[t].s.as_bytes()[0])
            .collect();
        let offset = std::array::from_fn(|t| anchor(tags[t].s.as_bytes(), &firsts));
        let mut at = [[0u8; 256]; PICK];
        let mut anchors = Vec::new();
        for t in (0..N).filter(|&t| scanned(t)) {
            let b = &tags[t].s.as_bytes()[offset[t]..];
            if at[0][b[0] as usize] == 0 {
                anchors.push(b[0]);
            }
            for (k, row) in at.iter_mut().enumerate() {
                match b.get(k) {
                    Some(&c) => row[c as usize] |= 1 << t,
                    None => row.iter_mut().for_each(|m| *m |= 1 << t),
                }
            }
        }
        TagSet {
            tags,
            heads,
            offset,
            at,
            anchors,
        }
    }

    #[inline]
    pub(crate) fn tag(&self, t: usize) -> &Tag {
        &self.tags[t]
    }

    #[inline]
    pub(crate) fn len(&self, t: usize) -> usize {
        self.tags[t].len()
    }

    /// The occurrences of every scanned tag in `text` into `hits`; `false` when this text is to be searched
    /// per query (see the module docs).
    pub(crate) fn scan(&self, text: &str, hits: &mut Hits) -> bool {
        for at in hits.at.iter_mut() {
            at.clear();
        }
        let b = text.as_bytes();
        // bytes compared past the first eight of a tag: linear in the text, else search per query
        let mut budget = 2 * b.len() + 4096;
        let mut i = 0;
        #[cfg(target_arch = "x86_64")]
        unsafe {
            // sixteen bytes at a time (SSE2, part of every x86-64): a bit per anchor byte
            use std::arch::x86_64::*;
            let mut anchors = [_mm_setzero_si128(); N];
            for (f, &c) in anchors.iter_mut().zip(&self.anchors) {
                *f = _mm_set1_epi8(c as i8);
            }
            let anchors = &anchors[..self.anchors.len()];
            while i + 16 <= b.len() {
                let x = _mm_loadu_si128(b.as_ptr().add(i) as *const __m128i);
                let mut m = _mm_setzero_si128();
                for f in anchors {
                    m = _mm_or_si128(m, _mm_cmpeq_epi8(x, *f));
                }
                let mut bits = _mm_movemask_epi8(m) as u32;
                while bits != 0 {
                    let p = i + bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    if !self.record(b, p, hits, &mut budget) {
                        return false;
                    }
                }
                i += 16;
            }
        }
        while i < b.len() {
            if self.at[0][b[i] as usize] != 0 && !self.record(b, i, hits, &mut budget) {
                return false;
            }
            i += 1;
        }
        true
    }

    /// The tags whose anchor is at `q` (a byte some tag is anchored on) into `hits`; `false` when the work
    /// bound is passed.
    #[inline(always)]
    fn record(&self, b: &[u8], q: usize, hits: &mut Hits, budget: &mut usize) -> bool {
        let at_q = word_at(b, q);
        let mut m = u8::MAX;
        for (k, row) in self.at.iter().enumerate() {
            m &= row[(at_q >> (8 * k)) as u8 as usize];
        }
        while m != 0 {
            let t = m.trailing_zeros() as usize;
            m &= m - 1;
            let Some(p) = q.checked_sub(self.offset[t]) else {
                continue;
            };
            let word = if p == q { at_q } else { word_at(b, p) };
            let h = self.heads[t];
            if word & h.mask != h.word {
                continue;
            }
            let tag = self.tags[t].s.as_bytes();
            if p + tag.len() > b.len() {
                continue; // the zero padding past the end matched
            }
            if tag.len() > 8 {
                if *budget < tag.len() {
                    return false;
                }
                *budget -= tag.len();
                if !b[p..].starts_with(tag) {
                    continue;
                }
            }
            hits.at[t].push(p);
        }
        true
    }
}

/// The eight bytes of `b` from `p` as a little-endian word (zeros past the end).
#[inline(always)]
fn word_at(b: &[u8], p: usize) -> u64 {
    if p + 8 <= b.len() {
        u64::from_le_bytes(b[p..p + 8].try_into().expect("8 bytes"))
    } else {
        let mut w = [0u8; 8];
        w[..b.len() - p].copy_from_slice(&b[p..]);
        u64::from_le_bytes(w)
    }
}

/// Every position where each tag starts in one text, ascending (filled by [`TagSet::scan`]).
#[derive(Default)]
pub(crate) struct Hits {
    at: [Vec<usize>; N],
}

thread_local! {
    static SPARE: std::cell::Cell<Hits> = std::cell::Cell::new(Hits::default());
}

impl Hits {
    /// The buffers of an earlier text (or fresh ones); hand them back with [`Hits::give_back`].
    pub(crate) fn take() -> Hits {
        SPARE.with(|s| s.take())
    }

    pub(crate) fn give_back(self) {
        // the buffers of a huge text are not kept
        if self.at.iter().all(|at| at.capacity() <= 1 << 16) {
            SPARE.with(|s| s.set(self));
        }
    }
}

/// A text and how to find tags in it: the occurrences one pass found, or a `memmem` search per query.
pub(crate) struct View<'t, 'h> {
    pub(crate) s: &'t str,
    set: &'h TagSet,
    hits: Option<&'h Hits>,
}

impl<'t, 'h> View<'t, 'h> {
    /// `s` as scanned into `hits`, or searched per query when `hits` is `None`.
    pub(crate) fn new(s: &'t str, set: &'h TagSet, hits: Option<&'h Hits>) -> Self {
        View { s, set, hits }
    }

    /// The length of tag `t`.
    #[inline]
    pub(crate) fn len(&self, t: usize) -> usize {
        self.set.len(t)
    }

    /// The searcher of tag `t`.
    #[inline]
    pub(crate) fn tag(&self, t: usize) -> &'h Tag {
        self.set.tag(t)
    }

    /// `s[..end].find(tag, from)` (`None` when `from > end`).
    #[inline]
    pub(crate) fn find(&self, t: usize, from: usize, end: usize) -> Option<usize> {
        if from > end {
            return None;
        }
        match self.hits {
            Some(h) => {
                let at = &h.at[t];
                let p = *at.get(at.partition_point(|&p| p < from))?;
                (p + self.set.len(t) <= end).then_some(p)
            }
            None => self.set.tag(t).find(&self.s[..end], from),
        }
    }

    /// How many times tag `t` occurs in `s` when it was scanned (overlapping ones included), else 0: a
    /// hint for capacities.
    pub(crate) fn count_hint(&self, t: usize) -> usize {
        self.hits.map_or(0, |h| h.at[t].len())
    }

    /// `TagScanner.spans` of `s[lo..hi]` (tags `open` and `close`): the bodies of `OPEN(.*?)CLOSE`, left to
    /// right, non-overlapping.
    pub(crate) fn spans(
        &self,
        open: usize,
        close: usize,
        lo: usize,
        hi: usize,
    ) -> Spans<'_, 't, 'h> {
        Spans {
            v: self,
            open,
            close,
            pos: lo,
            end: hi,
        }
    }

    /// `TagScanner.first` of `s[lo..hi]`: the first of its spans.
    pub(crate) fn first(&self, open: usize, close: usize, lo: usize, hi: usize) -> Option<&'t str> {
        self.spans(open, close, lo, hi).next()
    }
}

/// The spans of [`View::spans`].
pub(crate) struct Spans<'v, 't, 'h> {
    v: &'v View<'t, 'h>,
    open: usize,
    close: usize,
    pos: usize,
    end: usize,
}

impl<'t> Iterator for Spans<'_, 't, '_> {
    type Item = &'t str;

    fn next(&mut self) -> Option<&'t str> {
        let v = self.v;
        let o = v.find(self.open, self.pos, self.end)? + v.set.len(self.open);
        let Some(c) = v.find(self.close, o, self.end) else {
            // no closing tag after this opener, so none after any later opener either
            self.pos = usize::MAX;
            return None;
        };
        self.pos = c + v.set.len(self.close);
        Some(&v.s[o..c])
    }
}
