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

use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};
use pyo3::AsPyPointer;

struct Entry {
    code: String,
    path: String,
    count: i64,
}

/// An exact `int` in 64 bits, else `None`.
fn exact_int(obj: &PyAny) -> Option<i64> {
    if unsafe { ffi::PyLong_CheckExact(obj.as_ptr()) } == 0 {
        return None;
    }
    obj.extract::<i64>().ok()
}

/// An exact `str` as UTF-8, else `None`.
fn exact_str(obj: &PyAny) -> Option<&str> {
    if unsafe { ffi::PyUnicode_CheckExact(obj.as_ptr()) } == 0 {
        return None;
    }
    obj.downcast::<PyString>().ok()?.to_str().ok()
}

/// Whether some turn of `parsed` has an answer (`rewards.final_answer(parsed) is not None`).
fn has_answer(py: Python<'_>, parsed: &PyAny) -> PyResult<Option<bool>> {
    let turns = parsed.getattr(intern!(py, "turns"))?;
    let Ok(turns) = turns.downcast::<PyList>() else {
        return Ok(None);
    };
    for t in (0..turns.len()).rev() {
        if !turns.get_item(t)?.getattr(intern!(py, "answer"))?.is_none() {
            return Ok(Some(true));
        }
    }
    Ok(Some(false))
}

/// Whether a reference of the list has an answer (`any(g.answer is not None for g in golds)`).
fn gold_answer(py: Python<'_>, golds: &PyAny) -> PyResult<bool> {
    for gold in golds.iter()? {
        if !gold?.getattr(intern!(py, "answer"))?.is_none() {
            return Ok(true);
        }
    }
    Ok(false)
}

struct Collector {
    entries: Vec<Entry>,
}

impl Collector {
    /// One occurrence of `code` (with `count`) on rollout `ri` of `group`; `None` on an overflow.
    fn add(&mut self, code: &str, group: i64, ri: i64, path: &str, count: i64) -> Option<()> {
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

fn collect(py: Python<'_>, rollouts: &PyList, wants_answer: bool) -> PyResult<Option<(Vec<Entry>, Vec<i64>)>> {
    let mut out = Collector { entries: Vec::new() };
    let mut per_rollout: Vec<i64> = Vec::with_capacity(rollouts.len());
    let mut index: HashMap<i64, i64> = HashMap::new(); // group -> its rollouts seen so far
    let mut missing: HashMap<usize, bool> = HashMap::new(); // by parsed object: answer_missing
    let mut answered: HashMap<usize, bool> = HashMap::new(); // by references list: one has an answer
    let mut last: Option<(i64, i64)> = None; // (group, rollouts seen) of the previous rollout
    for rollout in rollouts.iter() {
        let Some(group) = exact_int(rollout.getattr(intern!(py, "group"))?) else {
            return Ok(None);
        };
        let ri = match last {
            Some((g, n)) if g == group => n,
            _ => {
                if let Some((g, n)) = last {
                    index.insert(g, n);
                }
                *index.get(&group).unwrap_or(&0)
            }
        };
        last = Some((group, ri + 1));
        let parsed = rollout.getattr(intern!(py, "parsed"))?;
        let notes = parsed.getattr(intern!(py, "notes"))?;
        let Ok(notes) = notes.downcast::<PyList>() else {
            return Ok(None);
        };
        let mut n: i64 = 0;
        for note in notes.iter() {
            let code = note.getattr(intern!(py, "code"))?;
            let path = note.getattr(intern!(py, "path"))?;
            let count = note.getattr(intern!(py, "count"))?;
            let (Some(code), Some(path), Some(count)) = (exact_str(code), exact_str(path), exact_int(count))
            else {
                return Ok(None);
            };
            let (Some(sum), Some(())) = (n.checked_add(count), out.add(code, group, ri, path, count)) else {
                return Ok(None);
            };
            n = sum;
        }
        if wants_answer {
            let key = parsed.as_ptr() as usize;
            let answer_missing = match missing.get(&key) {
                Some(&m) => m,
                None => {
                    let golds = rollout.getattr(intern!(py, "golds"))?;
                    let gkey = golds.as_ptr() as usize;
                    let with_answer = match answered.get(&gkey) {
                        Some(&a) => a,
                        None => {
                            let a = gold_answer(py, golds)?;
                            answered.insert(gkey, a);
                            a
                        }
                    };
                    let m = if with_answer {
                        match has_answer(py, parsed)? {
                            Some(found) => !found,
                            None => return Ok(None),
                        }
                    } else {
                        false
                    };
                    missing.insert(key, m);
                    m
                }
            };
            if answer_missing {
                let (Some(sum), Some(())) = (n.checked_add(1), out.add("answer_missing", group, ri, "", 1)) else {
                    return Ok(None);
                };
                n = sum;
            }
        }
        per_rollout.push(n);
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
    let found = PyList::empty(py);
    for e in entries {
        found.append(PyTuple::new(py, [e.code.into_py(py), e.path.into_py(py), e.count.into_py(py)]))?;
    }
    Ok((found, PyList::new(py, per_rollout)).into_py(py))
}

pub fn register(m: &PyModule) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(diagnostics, m)?)
}
