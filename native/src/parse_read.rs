//! Reading model text over ranges of one scanned text (parse_hits.rs): `parse.parse_text` (split on the
//! separator) and `parse.read_model_text` (turn end, `tags.strip_think`, call blocks, answer) without a copy
//! of the text. Think stripping yields the ranges it keeps; only when what stays visible is not one range of
//! the text (text kept on both sides of a removed block) is it copied, and then searched per query.

use super::hits::{
    Hits, View, ANSWER_CLOSE, ANSWER_OPEN, CALL_CLOSE, CALL_OPEN, SEPARATOR, THINK_CLOSE,
    THINK_OPEN, TURN_END,
};
use super::scan::{line_break, looks_like_call, py_strip};
use super::{keys, Read, Sink, TextParser, TurnOut};
use pyo3::prelude::*;
use std::borrow::Cow;

/// The notes `(code, count)` of a reading.
pub(crate) type Notes = Vec<(&'static str, usize)>;

impl TextParser {
    /// `f` on a [`View`] of `text`: its tags found in one pass when the format allows it.
    fn with_view<'t, R>(&self, text: &'t str, f: impl FnOnce(&View<'t, '_>) -> R) -> R {
        let mut hits = Hits::take();
        let scanned = self.tags.scan(text, &mut hits);
        let got = f(&View::new(text, &self.tags, scanned.then_some(&hits)));
        hits.give_back();
        got
    }

    /// `tags.strip_think` of `v.s[a..h]`: the kept and the removed segments, in order, to `kept` and
    /// `removed` (as ranges of `v.s`); whether the last think block was unclosed.
    fn strip_think(
        v: &View<'_, '_>,
        a: usize,
        h: usize,
        mut kept: impl FnMut(usize, usize),
        mut removed: impl FnMut(usize, usize),
    ) -> bool {
        let (lo, lc) = (v.len(THINK_OPEN), v.len(THINK_CLOSE));
        let mut pos = a;
        if let Some(first_close) = v.find(THINK_CLOSE, a, h) {
            if v.find(THINK_OPEN, a, first_close).is_none() {
                removed(a, first_close);
                pos = first_close + lc;
            }
        }
        loop {
            let Some(o) = v.find(THINK_OPEN, pos, h) else {
                kept(pos, h);
                return false;
            };
            kept(pos, o);
            let Some(c) = v.find(THINK_CLOSE, o + lo, h) else {
                removed(o + lo, h);
                return true;
            };
            removed(o + lo, c);
            pos = c + lc;
        }
    }

    /// The call blocks of `v.s[lo..hi]` into `r`.
    fn read_blocks<S: Sink>(
        &self,
        sink: &S,
        py: Python<'_>,
        v: &View<'_, '_>,
        (lo, hi): (usize, usize),
        r: &mut Read<S::Call>,
    ) -> PyResult<()> {
        for body in v.spans(CALL_OPEN, CALL_CLOSE, lo, hi) {
            r.blocks += 1;
            if self.lines {
                for line in body.split(line_break) {
                    let line = py_strip(line);
                    if line.is_empty() {
                        continue;
                    }
                    match sink.decode(py, line)? {
                        Some(c) => r.calls.push(c),
                        None => r.malformed += 1,
                    }
                }
            } else {
                match sink.decode(py, py_strip(body))? {
                    Some(c) => r.calls.push(c),
                    None => r.malformed += 1,
                }
            }
        }
        Ok(())
    }

    /// `read_model_text` of `v.s[a..b]` on a fresh turn: what was read, and the model's part as read
    /// (think removed).
    fn read_range<'t, S: Sink>(
        &self,
        sink: &S,
        py: Python<'_>,
        v: &View<'t, '_>,
        (a, b): (usize, usize),
        read_calls: bool,
    ) -> PyResult<(Read<S::Call>, Cow<'t, str>)> {
        let mut r = Read {
            calls: Vec::new(),
            malformed: 0,
            blocks: 0,
            answer: None,
            attempted: false,
            notes: Vec::new(),
        };
        // the model's part `[a, h)`; the turn end and what follows it `[h, b)`
        let h = v.find(TURN_END, a, b).unwrap_or(b);
        let mut head = Cow::Borrowed(&v.s[a..h]);
        let mut visible = (a, b);
        let mut copied: Option<String> = None; // visible, when it is not one range of `v.s`
        if self.strip_think {
            let (mut kept, mut split) = (None::<(usize, usize)>, false);
            let (mut removed, mut hidden) = (false, 0);
            let unclosed = Self::strip_think(
                v,
                a,
                h,
                |s, e| match kept {
                    _ if s == e => {}
                    None => kept = Some((s, e)),
                    Some((ks, ke)) if ke == s => kept = Some((ks, e)),
                    Some(_) => split = true,
                },
                |s, e| {
                    removed = true;
                    if read_calls {
                        hidden += v.spans(CALL_OPEN, CALL_CLOSE, s, e).count();
                    }
                },
            );
            if removed {
                if unclosed {
                    r.notes.push(("think_unclosed", 1));
                }
                if hidden > 0 {
                    r.notes.push(("calls_in_think_ignored", hidden));
                }
                let (ks, ke) = kept.unwrap_or((h, h));
                if !split && (ke == h || h == b) {
                    head = Cow::Borrowed(&v.s[ks..ke]);
                    visible = (ks, if ke == h { b } else { ke });
                } else {
                    let mut kept = String::new();
                    Self::strip_think(v, a, h, |s, e| kept.push_str(&v.s[s..e]), |_, _| {});
                    copied = Some([kept.as_str(), &v.s[h..b]].concat());
                    head = Cow::Owned(kept);
                }
            }
        }
        let copy_view;
        let (vv, visible) = match &copied {
            Some(s) => {
                copy_view = View::new(s, &self.tags, None);
                (&copy_view, (0, s.len()))
            }
            None => (v, visible),
        };
        if read_calls {
            self.read_blocks(sink, py, vv, visible, &mut r)?;
        }
        let answer = vv.first(ANSWER_OPEN, ANSWER_CLOSE, visible.0, visible.1);
        if read_calls {
            if r.malformed > 0 {
                r.notes.push(("malformed_calls", r.malformed));
            }
            if r.blocks == 0 && looks_like_call(&head, v.tag(CALL_OPEN), answer.is_some()) {
                r.attempted = true;
                r.notes.push(("no_calls_parsed_from_text", 1));
            }
        }
        r.answer = answer.map(|a| keys::text(py, a)).transpose()?;
        Ok((r, head))
    }

    /// `read_model_text` on a fresh turn: (what was read, the model's part as read, think removed).
    pub(super) fn read<'t, S: Sink>(
        &self,
        sink: &S,
        py: Python<'_>,
        text: &'t str,
        read_calls: bool,
    ) -> PyResult<(Read<S::Call>, Cow<'t, str>)> {
        self.with_view(text, |v| {
            self.read_range(sink, py, v, (0, text.len()), read_calls)
        })
    }

    /// `parse_text` before the turns become Python objects: the turns and the notes `(code, count)`.
    /// Without `context` each turn's `text` is `None` instead of a copy of its piece (see `parse_group`).
    pub(super) fn text_turns<S: Sink>(
        &self,
        sink: &S,
        py: Python<'_>,
        text: &str,
        context: bool,
    ) -> PyResult<(Vec<TurnOut<S::Call>>, Notes)> {
        self.with_view(text, |v| self.turns_of(sink, py, v, context))
    }

    fn turns_of<S: Sink>(
        &self,
        sink: &S,
        py: Python<'_>,
        v: &View<'_, '_>,
        context: bool,
    ) -> PyResult<(Vec<TurnOut<S::Call>>, Notes)> {
        let (n, sep) = (v.s.len(), v.len(SEPARATOR));
        let mut turns = Vec::with_capacity(v.count_hint(SEPARATOR) + 1);
        let mut notes = Vec::new();
        let mut last_head = Cow::Borrowed("");
        let mut pos = 0;
        loop {
            let next = v.find(SEPARATOR, pos, n);
            let piece = (pos, next.unwrap_or(n));
            // a leading separator does not open an empty turn
            if !(pos == 0 && piece.1 == 0 && next.is_some()) {
                let (mut r, head) = self.read_range(sink, py, v, piece, true)?;
                notes.append(&mut r.notes);
                turns.push(self.turn(py, r, &v.s[piece.0..piece.1], context)?);
                last_head = head;
            }
            match next {
                Some(k) => pos = k + sep,
                None => break,
            }
        }
        if self.last_text {
            if let Some(last) = turns.last_mut() {
                if last.blocks == 0 && !last.attempted && last.answer.is_none(py) {
                    let t = py_strip(&last_head);
                    if !t.is_empty() {
                        last.answer = keys::text(py, t)?;
                    }
                }
            }
        }
        Ok((turns, notes))
    }
}
