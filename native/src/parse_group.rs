//! The rollouts of one group read in one call: the compiled twin of the loop of `engine._parse_groups` over
//! a group's rollouts (`request.dedupe_key`, then `parse.parse_rollout` with its limits and
//! `_cap_model_calls` once per distinct rollout), for rollouts of plain JSON.
//!
//! Identical rollouts are read once, as `dedupe_key` promises: two rollouts share a reading only when they
//! are the same JSON value, with the same types and the same key order (what equal `orjson.dumps` bytes
//! mean). The key here is a hash over the value checked by an exact comparison, so it never joins two
//! different rollouts. A group holding anything but plain JSON (a subclass, a tuple, a NaN or infinite
//! float: values `orjson.dumps` writes like plain ones, so Python's keys would join them; an integer beyond
//! 64 bits, which Python does not key) is left to Python whole (`None`); so is a rollout nested past
//! [`MAX_KEY_DEPTH`].
//!
//! A distinct rollout this side does not read (one Python refuses with an error: not one form, over a
//! limit, an unknown key; or one whose text is not UTF-8) comes back as `None` in its slot, and Python
//! reads it (and raises its error with its JSON path).

use super::ffi::list_items;
use super::forms::{is_exact_list, is_exact_str, messages_turns, turns_turns, Notes};
use super::hash::str_hash;
use super::keys::{key_str, new_str};
use super::structured::{exact_dict, given, known_fields};
use super::{build_turns, Sink, Slots, TextParser, TurnOut};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyType};
use pyo3::AsPyPointer;
use std::collections::HashMap;

/// `keys.ROLLOUT`, and the fields of `turns.ParsedRollout` and `turns.Note` in the order built here.
pub(crate) const ROLLOUT: [&str; 3] = ["text", "messages", "turns"];
pub(crate) const PARSED_FIELDS: [&str; 3] = ["turns", "form", "notes"];
pub(crate) const NOTE_FIELDS: [&str; 3] = ["code", "path", "count"];
/// Deeper rollouts are keyed by Python (the request decoders bound nesting well below this).
const MAX_KEY_DEPTH: usize = 128;

/// What reading whole rollouts needs besides the parser: the result types and two Python functions.
pub(crate) struct GroupTypes {
    parsed: Slots,
    note: Slots,
    pub(crate) model_call: PyObject,
    pub(crate) canonical_json: PyObject,
}

impl GroupTypes {
    pub(crate) fn new(py: Python<'_>, g: (Py<PyType>, Py<PyType>, PyObject, PyObject)) -> Self {
        let (parsed, note, model_call, canonical_json) = g;
        GroupTypes {
            parsed: Slots::new(py, parsed, &PARSED_FIELDS),
            note: Slots::new(py, note, &NOTE_FIELDS),
            model_call,
            canonical_json,
        }
    }

    pub(crate) fn direct(&self) -> bool {
        self.parsed.direct() && self.note.direct()
    }
}

/// The limits of `limits.RolloutLimits`.
pub(crate) struct Limits {
    pub(crate) calls: i64,
    pub(crate) turns: i64,
    pub(crate) text_chars: i64,
}

#[inline]
fn mix(h: u64, x: u64) -> u64 {
    (h.rotate_left(5) ^ x).wrapping_mul(0x517c_c1b7_2722_0a95)
}

/// A hash of a plain JSON value (exact `dict` with `str` keys, `list`, `str`, `int` of 64 bits, finite
/// `float`, `bool`, `None`), with its types and order; `None` for anything else. Borrowed pointers only:
/// nothing here runs Python code or changes the value.
unsafe fn key_hash(p: *mut ffi::PyObject, depth: usize, h: u64) -> Option<u64> {
    let tp = ffi::Py_TYPE(p);
    if tp == std::ptr::addr_of_mut!(ffi::PyUnicode_Type) {
        return Some(mix(mix(h, 1), str_hash(p)?));
    }
    if depth > 0 && tp == std::ptr::addr_of_mut!(ffi::PyDict_Type) {
        return dict_hash(p, depth, h);
    }
    if depth > 0 && tp == std::ptr::addr_of_mut!(ffi::PyList_Type) {
        let n = ffi::PyList_GET_SIZE(p);
        let mut h = mix(mix(h, 8), n as u64);
        for i in 0..n {
            h = key_hash(ffi::PyList_GET_ITEM(p, i), depth - 1, h)?;
        }
        return Some(h);
    }
    if ffi::PyLong_CheckExact(p) != 0 {
        // beyond 64 bits orjson fails, so Python does not key the rollout: leave it to Python
        let mut overflow = 0;
        let x = ffi::PyLong_AsLongLongAndOverflow(p, &mut overflow);
        if overflow != 0 || (x == -1 && !ffi::PyErr_Occurred().is_null()) {
            ffi::PyErr_Clear();
            return None;
        }
        return Some(mix(mix(h, 2), x as u64));
    }
    if ffi::PyFloat_CheckExact(p) != 0 {
        let f = ffi::PyFloat_AsDouble(p);
        return f.is_finite().then(|| mix(mix(h, 3), f.to_bits()));
    }
    if p == ffi::Py_None() {
        return Some(mix(h, 4));
    }
    if p == ffi::Py_True() {
        return Some(mix(h, 5));
    }
    if p == ffi::Py_False() {
        return Some(mix(h, 6));
    }
    None // a subclass, another type, or nested past the depth bound
}

/// [`key_hash`] of an exact dict (`depth` > 0).
unsafe fn dict_hash(p: *mut ffi::PyObject, depth: usize, h: u64) -> Option<u64> {
    let mut h = mix(mix(h, 7), ffi::PyDict_Size(p) as u64);
    let (mut pos, mut k, mut v) = (0, std::ptr::null_mut(), std::ptr::null_mut());
    while ffi::PyDict_Next(p, &mut pos, &mut k, &mut v) != 0 {
        if ffi::PyUnicode_CheckExact(k) == 0 {
            return None;
        }
        // a key's hash is cached by the string (decoders hash keys): Python's own, not `str_hash`
        let x = ffi::PyObject_Hash(k);
        if x == -1 {
            ffi::PyErr_Clear();
            return None;
        }
        h = key_hash(v, depth - 1, mix(mix(h, 9), x as u64))?;
    }
    Some(h)
}

/// Whether two values [`key_hash`] accepted are the same JSON value, types and key order included.
unsafe fn same(a: *mut ffi::PyObject, b: *mut ffi::PyObject) -> bool {
    if a == b {
        return true; // one object (a float here is finite, so equal to itself)
    }
    if ffi::Py_TYPE(a) != ffi::Py_TYPE(b) {
        return false;
    }
    if ffi::PyUnicode_CheckExact(a) != 0 || ffi::PyLong_CheckExact(a) != 0 {
        return ffi::PyObject_RichCompareBool(a, b, ffi::Py_EQ) == 1;
    }
    if ffi::PyFloat_CheckExact(a) != 0 {
        return ffi::PyFloat_AsDouble(a).to_bits() == ffi::PyFloat_AsDouble(b).to_bits();
    }
    if ffi::PyDict_CheckExact(a) != 0 {
        if ffi::PyDict_Size(a) != ffi::PyDict_Size(b) {
            return false;
        }
        let (mut pa, mut ka, mut va) = (0, std::ptr::null_mut(), std::ptr::null_mut());
        let (mut pb, mut kb, mut vb) = (0, std::ptr::null_mut(), std::ptr::null_mut());
        while ffi::PyDict_Next(a, &mut pa, &mut ka, &mut va) != 0 {
            if ffi::PyDict_Next(b, &mut pb, &mut kb, &mut vb) == 0 || !same(ka, kb) || !same(va, vb)
            {
                return false;
            }
        }
        return true;
    }
    if ffi::PyList_CheckExact(a) != 0 {
        let n = ffi::PyList_GET_SIZE(a);
        return n == ffi::PyList_GET_SIZE(b)
            && (0..n).all(|i| same(ffi::PyList_GET_ITEM(a, i), ffi::PyList_GET_ITEM(b, i)));
    }
    false // None, True, False: one object each
}

/// `_cap_model_calls`: calls read from model text beyond `room` are dropped and counted as malformed.
fn cap_model_calls<C>(turns: &mut [TurnOut<C>], mut room: usize) -> usize {
    let mut over = 0;
    for turn in turns.iter_mut() {
        if turn.given > 0 {
            continue;
        }
        let keep = turn.calls.len().min(room);
        if keep < turn.calls.len() {
            let drop = turn.calls.len() - keep;
            turn.calls.truncate(keep);
            turn.malformed += drop;
            over += drop;
        }
        room -= keep;
    }
    over
}

/// One rollout read: its form, its turns (calls into the sink) and its notes.
pub(crate) type Reading<C> = (&'static str, Vec<TurnOut<C>>, Notes);

/// `parse_rollout` of one rollout object up to its Python objects (limits and `_cap_model_calls`
/// applied); `None` when Python must read it.
pub(crate) fn read_turns<S: Sink>(
    p: &TextParser,
    g: &GroupTypes,
    sink: &S,
    py: Python<'_>,
    raw: &PyAny,
    limits: &Limits,
    context: bool,
) -> PyResult<Option<Reading<S::Call>>> {
    let Some(d) = exact_dict(raw) else {
        return Ok(None);
    };
    let Some([text, messages, turns_in]) = known_fields(d, &ROLLOUT).map(|f| f.map(given)) else {
        return Ok(None);
    };
    if text.is_some() as u8 + messages.is_some() as u8 + turns_in.is_some() as u8 != 1 {
        return Ok(None);
    }
    let (form, got) = if let Some(t) = text {
        if !is_exact_str(t)
            || unsafe { ffi::PyUnicode_GetLength(t.as_ptr()) } as i64 > limits.text_chars
        {
            return Ok(None);
        }
        let Ok(s) = t.downcast::<PyString>()?.to_str() else {
            return Ok(None);
        };
        let (turns, notes) = p.text_turns(sink, py, s, context)?;
        let notes: Notes = notes
            .into_iter()
            .map(|(c, n)| (c, ".text".to_owned(), n))
            .collect();
        ("text", Some((turns, notes)))
    } else if let Some(m) = messages {
        if !is_exact_list(m) {
            return Ok(None);
        }
        let model_call = g.model_call.as_ref(py);
        let got = messages_turns(p, sink, py, m.downcast()?, ".messages", model_call, context)?;
        ("messages", got)
    } else {
        let t = turns_in.expect("one form is given");
        if !is_exact_list(t) {
            return Ok(None);
        }
        let got = turns_turns(
            py,
            t.downcast()?,
            ".turns",
            sink,
            g.model_call.as_ref(py),
            g.canonical_json.as_ref(py),
            p.max_depth,
        )?;
        ("turns", got)
    };
    let Some((mut turns, mut notes)) = got else {
        return Ok(None);
    };
    if turns.len() as i64 > limits.turns {
        return Ok(None);
    }
    let structured: usize = turns.iter().map(|t| t.given).sum();
    if structured as i64 > limits.calls {
        return Ok(None);
    }
    let over = cap_model_calls(&mut turns, (limits.calls - structured as i64) as usize);
    if over > 0 {
        notes.push(("calls_over_limit", format!(".{form}"), over));
    }
    Ok(Some((form, turns, notes)))
}

/// `parse_rollout` of one rollout object; `None` when Python must read it.
fn read_rollout(
    p: &TextParser,
    g: &GroupTypes,
    py: Python<'_>,
    raw: &PyAny,
    limits: &Limits,
    context: bool,
) -> PyResult<Option<PyObject>> {
    let Some((form, turns, notes)) = read_turns(p, g, &p.py_sink(), py, raw, limits, context)?
    else {
        return Ok(None);
    };
    let turns = super::slots::list(py, build_turns(py, turns, &p.turn)?)?;
    // the codes and forms: a few names, shared through the key cache
    let name =
        |s: &str| unsafe { PyObject::from_owned_ptr_or_err(py, key_str(py, s, s.is_ascii())) };
    let notes = notes
        .into_iter()
        .map(|(code, path, count)| {
            let path =
                unsafe { PyObject::from_owned_ptr_or_err(py, new_str(&path, path.is_ascii()))? };
            g.note.build(py, [name(code)?, path, count.into_py(py)])
        })
        .collect::<PyResult<Vec<_>>>()?;
    let parsed = g
        .parsed
        .build(py, [turns, name(form)?, super::slots::list(py, notes)?])?;
    Ok(Some(parsed))
}

/// The distinct rollouts of a group (`dedupe_key`): per distinct one the index of its first occurrence,
/// per rollout the index of its distinct one; `None` when Python must read the whole group.
pub(crate) fn dedupe(raws: &[&PyAny]) -> Option<(Vec<usize>, Vec<usize>)> {
    let mut buckets: HashMap<u64, Vec<usize>> = HashMap::with_capacity(raws.len());
    let mut first: Vec<usize> = Vec::new();
    let mut order: Vec<usize> = Vec::with_capacity(raws.len());
    for (ri, raw) in raws.iter().enumerate() {
        exact_dict(raw)?;
        let h = unsafe { key_hash(raw.as_ptr(), MAX_KEY_DEPTH, 0) }?;
        let bucket = buckets.entry(h).or_default();
        let found = bucket
            .iter()
            .find(|&&u| unsafe { same(raws[first[u]].as_ptr(), raw.as_ptr()) });
        let index = match found {
            Some(&u) => u,
            None => {
                bucket.push(first.len());
                first.push(ri);
                first.len() - 1
            }
        };
        order.push(index);
    }
    Some((first, order))
}

/// `TextParser.parse_group(rollouts, base, max_calls, max_turns, max_text_chars, context)`: `(parsed, order,
/// first)` where `parsed` holds a `ParsedRollout` (or `None`: Python reads it) per distinct rollout, `order`
/// per rollout `base` + the index of its distinct one, and `first` per distinct rollout the index of its
/// first occurrence; `None` when Python must read the whole group.
///
/// `context` off (what `parse.turn_context` says when no stage of the request reads them): every turn's
/// `text` and `observation` are `None` instead of a copy of the turn's text and the list of the messages
/// after it. Everything else is what `parse_rollout` reads.
pub(crate) fn parse_group(
    p: &TextParser,
    py: Python<'_>,
    rollouts: &PyList,
    base: usize,
    limits: Limits,
    context: bool,
) -> PyResult<PyObject> {
    let Some(g) = &p.group else {
        return Ok(py.None());
    };
    let raws: Vec<&PyAny> = list_items(rollouts).collect();
    let Some((first, order)) = dedupe(&raws) else {
        return Ok(py.None());
    };
    let mut parsed = Vec::with_capacity(first.len());
    for &ri in &first {
        let one = read_rollout(p, g, py, raws[ri], &limits, context)?;
        parsed.push(one.unwrap_or_else(|| py.None()));
    }
    let order: Vec<usize> = order.into_iter().map(|k| base + k).collect();
    Ok((
        PyList::new(py, parsed),
        PyList::new(py, order),
        PyList::new(py, first),
    )
        .into_py(py))
}
