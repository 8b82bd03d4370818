//! Structured tool calls (`turns[].tool_calls`, `messages[].tool_calls`): the compiled twin of
//! `parse._structured_calls` for a list of calls the client built.
//!
//! Python stays the reference and the source of errors: a call object with a key the API does not know,
//! or anything but plain JSON types where a call is read, sends the whole list back to Python (`None`),
//! which raises or reads it; a call whose arguments Rust does not decide (a string that is not UTF-8,
//! bytes, JSON nested too deep or with integers beyond 64 bits) is read by the Python function given
//! (`calls.call_or_none`).

use super::call_json::arguments_from_text;
use super::ffi::{items, list_items, str_bytes};
use super::json::Fail;
use super::{PySink, Sink, Slots, CALL_FIELDS};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyType};
use pyo3::AsPyPointer;

/// `keys.TOOL_CALL` and `keys.FUNCTION`.
pub(super) const TOOL_CALL: [&str; 7] = [
    "name",
    "arguments",
    "parameters",
    "id",
    "type",
    "function",
    "index",
];
pub(super) const FUNCTION: [&str; 3] = ["name", "arguments", "parameters"];

enum Outcome {
    Call(PyObject, PyObject),
    Malformed,
    Python, // this call: the Python reference reads it
    Refuse, // the whole list: Python reads it (and raises the error it finds)
}

pub(crate) fn exact_dict(v: &PyAny) -> Option<&PyDict> {
    if unsafe { ffi::PyDict_CheckExact(v.as_ptr()) } != 0 {
        v.downcast::<PyDict>().ok()
    } else {
        None
    }
}

/// A JSON value that is not a mapping (what `isinstance(x, Mapping)` is false for, surely).
fn plain_scalar_or_list(v: &PyAny) -> bool {
    let p = v.as_ptr();
    unsafe {
        v.is_none()
            || ffi::PyUnicode_CheckExact(p) != 0
            || ffi::PyLong_CheckExact(p) != 0
            || ffi::PyFloat_CheckExact(p) != 0
            || ffi::PyBool_Check(p) != 0
            || ffi::PyList_CheckExact(p) != 0
    }
}

/// `keys.check` and the values of the keys in one pass over the items: per name of `known` its value
/// (`None`: absent); `None` when a key is not a plain string among `known`. The keys of an exact dict
/// are distinct, and an exact `str` equals a name exactly when its UTF-8 text does, so each value is
/// what `d.get(name)` returns.
pub(crate) fn known_fields<'p, const N: usize>(
    d: &'p PyDict,
    known: &[&str; N],
) -> Option<[Option<&'p PyAny>; N]> {
    let mut out = [None; N];
    for (k, v) in items(d) {
        if unsafe { ffi::PyUnicode_CheckExact(k.as_ptr()) } == 0 {
            return None;
        }
        let s = str_bytes(k)?;
        out[known.iter().position(|n| n.as_bytes() == s)?] = Some(v);
    }
    Some(out)
}

/// A value given and not `null` (`d.get(key)` where `None` and a missing key are the same).
pub(crate) fn given(v: Option<&PyAny>) -> Option<&PyAny> {
    v.filter(|v| !v.is_none())
}

/// `calls.within_depth` on decoded JSON (exact dicts and lists nest).
fn within_depth(v: &PyAny, depth: usize) -> bool {
    if depth < 1 {
        return false;
    }
    let nested = |item: &PyAny| {
        let p = item.as_ptr();
        let container = unsafe { ffi::PyDict_CheckExact(p) != 0 || ffi::PyList_CheckExact(p) != 0 };
        !container || within_depth(item, depth - 1)
    };
    if let Some(d) = exact_dict(v) {
        items(d).all(|(_, item)| nested(item))
    } else if let Ok(l) = v.downcast::<PyList>() {
        list_items(l).all(nested)
    } else {
        true
    }
}

/// `keys.check_call` then `parse._model_call` on one call object.
fn read_one(py: Python<'_>, obj: &PyAny, limit: usize) -> PyResult<Outcome> {
    let Some(d) = exact_dict(obj) else {
        return Ok(if plain_scalar_or_list(obj) {
            Outcome::Malformed
        } else {
            Outcome::Refuse
        });
    };
    let Some(top) = known_fields(d, &TOOL_CALL) else {
        return Ok(Outcome::Refuse);
    };
    // name, arguments, parameters: the first three of both TOOL_CALL and FUNCTION
    let mut fields = [top[0], top[1], top[2]];
    if let Some(f) = top[5] {
        match exact_dict(f) {
            Some(fd) => {
                let Some(inner) = known_fields(fd, &FUNCTION) else {
                    return Ok(Outcome::Refuse);
                };
                if inner[0].is_some() {
                    fields = inner;
                }
            }
            None if plain_scalar_or_list(f) => {}
            None => return Ok(Outcome::Refuse),
        }
    }
    let [name, arguments, parameters] = fields;
    let name = match name {
        Some(n) if unsafe { ffi::PyUnicode_Check(n.as_ptr()) } != 0 => n,
        _ => return Ok(Outcome::Malformed),
    };
    let raw = match arguments {
        Some(a) if !a.is_none() => Some(a),
        _ => parameters,
    };
    let arguments: PyObject = match raw {
        Some(a) if exact_dict(a).is_some() => {
            if !within_depth(a, limit) {
                return Ok(Outcome::Malformed); // TooDeep
            }
            a.into()
        }
        Some(a) if unsafe { ffi::PyUnicode_CheckExact(a.as_ptr()) } != 0 => {
            let Ok(text) = a.downcast::<PyString>()?.to_str() else {
                return Ok(Outcome::Python);
            };
            match arguments_from_text(py, text, limit) {
                Ok(v) => v,
                Err(Fail::Py(e)) => return Err(e),
                Err(_) => return Ok(Outcome::Python),
            }
        }
        Some(a) if !plain_scalar_or_list(a) => return Ok(Outcome::Python), // bytes, subclasses
        _ => PyDict::new(py).into(),
    };
    Ok(Outcome::Call(name.into(), arguments))
}

/// The calls of a list of call objects and how many were malformed; `None` when Python must read it.
pub(crate) fn read_list<S: Sink>(
    py: Python<'_>,
    raw: &PyList,
    sink: &S,
    model_call: &PyAny,
    max_depth: usize,
) -> PyResult<Option<(Vec<S::Call>, usize)>> {
    let mut calls: Vec<S::Call> = Vec::with_capacity(raw.len());
    let mut malformed = 0usize;
    for obj in list_items(raw) {
        match read_one(py, obj, max_depth)? {
            Outcome::Call(name, arguments) => calls.push(sink.parts(py, name, arguments)?),
            Outcome::Malformed => malformed += 1,
            Outcome::Python => {
                let got = model_call.call1((obj,))?;
                if got.is_none() {
                    malformed += 1;
                } else {
                    calls.push(sink.object(py, got)?);
                }
            }
            Outcome::Refuse => return Ok(None),
        }
    }
    Ok(Some((calls, malformed)))
}

/// `structured_calls(raw, call_type, model_call, max_depth)`: `(calls, malformed)` for a list of call
/// objects the client built, or `None` when Python must read the list (an unknown key: its error).
#[pyfunction]
pub fn structured_calls(
    py: Python<'_>,
    raw: &PyList,
    call_type: Py<PyType>,
    model_call: &PyAny,
    max_depth: usize,
) -> PyResult<PyObject> {
    let call = Slots::new(py, call_type, &CALL_FIELDS);
    let sink = PySink {
        call: &call,
        fallback: None,
        max_depth,
    };
    Ok(match read_list(py, raw, &sink, model_call, max_depth)? {
        Some((calls, malformed)) => (PyList::new(py, calls), malformed).into_py(py),
        None => py.None(),
    })
}
