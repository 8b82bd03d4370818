//! A request's warnings (service/turnscore/core/diagnostics.py `collect`) in one call, for every reward
//! but ToolRL's: each rollout's notes from parsing plus `answer_missing`, aggregated to one entry per
//! code (the path of its first occurrence, the total count) and each rollout's number of occurrences.
//!
//! Python API: `diagnostics(rollouts, wants_answer) -> (entries, per_rollout) | None`: `rollouts` are the
//! request's `rewards.Rollout` objects in request order (identical ones share their `parsed`); with
//! `wants_answer` a rollout whose references have an answer and whose turns have none gets the note
//! `answer_missing` (path "", count 1) after its parsing notes. `entries` is a list of `(code, path,
//! count)` in order of first occurrence; `per_rollout` a list of ints. `None` (Python then collects) for
//! anything not of the expected types: a group or count that is not an `int`, a code or path that is not
//! a `str` (or not UTF-8), `notes` or `turns` that are not lists, a count sum outside 64 bits.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};
use pyo3::AsPyPointer;

pub(crate) struct Entry {
    code: String,
    path: String,
    count: i64,
}

/// A multiplicative hash of one word (object addresses, group numbers): the maps here are keyed by
/// values the request holds, never by text a client chooses, so SipHash's keyed defence buys nothing.
#[derive(Default)]
struct WordHasher(u64);

impl Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ *b as u64).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn write_i64(&mut self, n: i64) {
        self.write_u64(n as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type WordMap<K, V> = HashMap<K, V, BuildHasherDefault<WordHasher>>;

/// A new reference, released when dropped (no entry in pyo3's pool per attribute read).
struct Owned(*mut ffi::PyObject);

impl Drop for Owned {
    fn drop(&mut self) {
        unsafe { ffi::Py_DECREF(self.0) }
    }
}

/// `getattr(obj, name)`; the error is Python's (an object without the field).
fn attr(py: Python<'_>, obj: *mut ffi::PyObject, name: &PyString) -> PyResult<Owned> {
    let got = unsafe { ffi::PyObject_GetAttr(obj, name.as_ptr()) };
    if got.is_null() {
        return Err(PyErr::fetch(py));
    }
    Ok(Owned(got))
}

fn is_none(obj: &Owned) -> bool {
    obj.0 == unsafe { ffi::Py_None() }
}

/// An exact `int` in 64 bits, else `None`.
fn exact_int(obj: &Owned) -> Option<i64> {
    unsafe {
        if ffi::PyLong_CheckExact(obj.0) == 0 {
            return None;
        }
        let mut overflow: std::os::raw::c_int = 0;
        let v = ffi::PyLong_AsLongLongAndOverflow(obj.0, &mut overflow);
        if overflow != 0 || (v == -1 && !ffi::PyErr_Occurred().is_null()) {
            ffi::PyErr_Clear();
            return None;
        }
        Some(v)
    }
}

/// An exact `str` as UTF-8 (borrowed from the object, which `obj` keeps alive), else `None`.
fn exact_str(obj: &Owned) -> Option<&str> {
    unsafe {
        if ffi::PyUnicode_CheckExact(obj.0) == 0 {
            return None;
        }
        let mut size: ffi::Py_ssize_t = 0;
        let data = ffi::PyUnicode_AsUTF8AndSize(obj.0, &mut size);
        if data.is_null() {
            ffi::PyErr_Clear(); // lone surrogates
            return None;
        }
        std::str::from_utf8(std::slice::from_raw_parts(data as *const u8, size as usize)).ok()
    }
}

/// The items of an exact list, else `None`: borrowed pointers, valid while the list is unchanged (the
/// attributes read meanwhile are the core's dataclass fields: nothing runs that changes a list). The
/// length is read again at each item, so a list that shrank anyway ends early instead of being overread.
fn list_items(obj: &Owned) -> Option<impl DoubleEndedIterator<Item = *mut ffi::PyObject> + '_> {
    unsafe {
        if ffi::PyList_CheckExact(obj.0) == 0 {
            return None;
        }
        let n = ffi::PyList_GET_SIZE(obj.0);
        Some((0..n).filter_map(move |k| {
            if k < ffi::PyList_GET_SIZE(obj.0) {
                Some(ffi::PyList_GET_ITEM(obj.0, k))
            } else {
                None
            }
        }))
    }
}

struct Names<'p> {
    group: &'p PyString,
    parsed: &'p PyString,
    notes: &'p PyString,
    code: &'p PyString,
    path: &'p PyString,
    count: &'p PyString,
    golds: &'p PyString,
    turns: &'p PyString,
    answer: &'p PyString,
}

/// Whether some turn of `parsed` has an answer (`rewards.final_answer(parsed) is not None`); `None` when
/// `turns` is not a list.
fn has_answer(py: Python<'_>, n: &Names<'_>, parsed: &Owned) -> PyResult<Option<bool>> {
    let turns = attr(py, parsed.0, n.turns)?;
    let Some(items) = list_items(&turns) else {
        return Ok(None);
    };
    for turn in items.rev() {
        if !is_none(&attr(py, turn, n.answer)?) {
            return Ok(Some(true));
        }
    }
    Ok(Some(false))
}

/// Whether a reference of the list has an answer (`any(g.answer is not None for g in golds)`); `None`
/// when `golds` is not a list.
fn gold_answer(py: Python<'_>, n: &Names<'_>, golds: &Owned) -> PyResult<Option<bool>> {
    let Some(items) = list_items(golds) else {
        return Ok(None);
    };
    for gold in items {
        if !is_none(&attr(py, gold, n.answer)?) {
            return Ok(Some(true));
        }
    }
    Ok(Some(false))
}

/// The aggregation: one entry per code, in order of first occurrence (shared with lean/mod.rs).
#[derive(Default)]
pub(crate) struct Collector {
    pub(crate) entries: Vec<Entry>,
    /// occurrences per rollout (filled by the lean path; `collect` keeps its own)
    pub(crate) per_rollout: Vec<i64>,
}

impl Collector {
    /// One occurrence of `code` (with `count`) on rollout `ri` of `group`; `None` on an overflow.
    pub(crate) fn add(&mut self, code: &str, group: i64, ri: i64, path: &str, count: i64) -> Option<()> {
        match self.entries.iter_mut().find(|e| e.code == code) {
            Some(e) => e.count = e.count.checked_add(count)?,
            None => self.entries.push(Entry {
                code: code.to_owned(),
                path: format!("groups[{group}].rollouts[{ri}]{path}"),
                count,
            }),
        }
        Some(())
    }
}

/// Whether the rollout gets `answer_missing` (cached by its parsed object, then by its references).
fn answer_missing(
    py: Python<'_>,
    n: &Names<'_>,
    rollout: *mut ffi::PyObject,
    parsed: &Owned,
    missing: &mut WordMap<usize, bool>,
    answered: &mut WordMap<usize, bool>,
) -> PyResult<Option<bool>> {
    let key = parsed.0 as usize;
    if let Some(&m) = missing.get(&key) {
        return Ok(Some(m));
    }
    let golds = attr(py, rollout, n.golds)?;
    let gkey = golds.0 as usize;
    let with_answer = match answered.get(&gkey) {
        Some(&a) => a,
        None => {
            let Some(a) = gold_answer(py, n, &golds)? else {
                return Ok(None);
            };
            answered.insert(gkey, a);
            a
        }
    };
    let m = if with_answer {
        match has_answer(py, n, parsed)? {
            Some(found) => !found,
            None => return Ok(None),
        }
    } else {
        false
    };
    missing.insert(key, m);
    Ok(Some(m))
}

fn collect(py: Python<'_>, rollouts: &PyList, wants_answer: bool) -> PyResult<Option<(Vec<Entry>, Vec<i64>)>> {
    let n = Names {
        group: intern!(py, "group"),
        parsed: intern!(py, "parsed"),
        notes: intern!(py, "notes"),
        code: intern!(py, "code"),
        path: intern!(py, "path"),
        count: intern!(py, "count"),
        golds: intern!(py, "golds"),
        turns: intern!(py, "turns"),
        answer: intern!(py, "answer"),
    };
    let mut out = Collector::default();
    let mut per_rollout: Vec<i64> = Vec::with_capacity(rollouts.len());
    let mut index: WordMap<i64, i64> = WordMap::default(); // group -> its rollouts seen so far
    // by parsed object: answer_missing; by references list: one of them has an answer. The objects are
    // alive while `rollouts` holds them, so their addresses are not reused meanwhile.
    let mut missing: WordMap<usize, bool> = WordMap::default();
    let mut answered: WordMap<usize, bool> = WordMap::default();
    let mut last: Option<(i64, i64)> = None; // (group, rollouts seen) of the previous rollout
    for k in 0..rollouts.len() {
        if k >= rollouts.len() {
            return Ok(None); // shrank meanwhile (see list_items)
        }
        let rollout = unsafe { ffi::PyList_GET_ITEM(rollouts.as_ptr(), k as ffi::Py_ssize_t) };
        let Some(group) = exact_int(&attr(py, rollout, n.group)?) else {
            return Ok(None);
        };
        let ri = match last {
            Some((g, seen)) if g == group => seen,
            _ => {
                if let Some((g, seen)) = last {
                    index.insert(g, seen);
                }
                *index.get(&group).unwrap_or(&0)
            }
        };
        last = Some((group, ri + 1));
        let parsed = attr(py, rollout, n.parsed)?;
        let notes = attr(py, parsed.0, n.notes)?;
        let Some(items) = list_items(&notes) else {
            return Ok(None);
        };
        let mut total: i64 = 0;
        for note in items {
            let (code, path, count) = (attr(py, note, n.code)?, attr(py, note, n.path)?, attr(py, note, n.count)?);
            let (Some(code), Some(path), Some(count)) = (exact_str(&code), exact_str(&path), exact_int(&count))
            else {
                return Ok(None);
            };
            let (Some(sum), Some(())) = (total.checked_add(count), out.add(code, group, ri, path, count)) else {
                return Ok(None);
            };
            total = sum;
        }
        if wants_answer {
            match answer_missing(py, &n, rollout, &parsed, &mut missing, &mut answered)? {
                None => return Ok(None),
                Some(false) => {}
                Some(true) => {
                    let (Some(sum), Some(())) = (total.checked_add(1), out.add("answer_missing", group, ri, "", 1))
                    else {
                        return Ok(None);
                    };
                    total = sum;
                }
            }
        }
        per_rollout.push(total);
    }
    Ok(Some((out.entries, per_rollout)))
}

/// `diagnostics.collect`'s aggregation (see the module comment); `None`: Python collects.
#[pyfunction]
fn diagnostics(py: Python<'_>, rollouts: &PyList, wants_answer: bool) -> PyResult<PyObject> {
    // the objects are kept alive by `rollouts` while the pointers key the caches
    let Some((entries, per_rollout)) = collect(py, rollouts, wants_answer)? else {
        return Ok(py.None());
    };
    entries_py(py, entries, per_rollout)
}

/// `(entries, per_rollout)` as `diagnostics` returns them.
pub(crate) fn entries_py(py: Python<'_>, entries: Vec<Entry>, per_rollout: Vec<i64>) -> PyResult<PyObject> {
    let found = PyList::empty(py);
    for e in entries {
        found.append(PyTuple::new(py, [e.code.into_py(py), e.path.into_py(py), e.count.into_py(py)]))?;
    }
    Ok((found, PyList::new(py, per_rollout)).into_py(py))
}

pub fn register(m: &PyModule) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(diagnostics, m)?)
}
