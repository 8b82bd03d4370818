//! Borrowed access to the request's dicts, lists and strings while a rollout is read.
//!
//! pyo3 (0.17) turns every item it hands out of a dict or list (`iter`, `get_item`) into an owned
//! reference registered in the call's object pool, released when the call returns: an increment, a
//! thread-local push and a deferred decrement per item, over every message, call and argument of a group.
//! These read the containers' own (borrowed) references instead. They are valid while the containers are
//! unchanged: the request's values are only read while a group is parsed (the Python functions called
//! meanwhile, `calls.call_or_none`, `turns.decode_call` and `turns.canonical_json`, read their argument and build new
//! objects), and the caller holds the request.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use pyo3::AsPyPointer;

/// The `(key, value)` items of a dict, in order, borrowed.
pub(crate) fn items(d: &PyDict) -> impl Iterator<Item = (&PyAny, &PyAny)> {
    let py = d.py();
    let mut pos: ffi::Py_ssize_t = 0;
    std::iter::from_fn(move || unsafe {
        let (mut k, mut v) = (std::ptr::null_mut(), std::ptr::null_mut());
        if ffi::PyDict_Next(d.as_ptr(), &mut pos, &mut k, &mut v) != 0 {
            Some((py.from_borrowed_ptr(k), py.from_borrowed_ptr(v)))
        } else {
            None
        }
    })
}

/// The items of a list, in order, borrowed.
pub(crate) fn list_items(l: &PyList) -> impl Iterator<Item = &PyAny> {
    let py = l.py();
    (0..l.len()).map_while(move |k| unsafe {
        // the length is read again: nothing here shortens the list, but a bound check costs nothing
        if (k as ffi::Py_ssize_t) < ffi::PyList_GET_SIZE(l.as_ptr()) {
            Some(py.from_borrowed_ptr(ffi::PyList_GET_ITEM(l.as_ptr(), k as ffi::Py_ssize_t)))
        } else {
            None
        }
    })
}

/// `d.get(key)` for an exact `str` key, borrowed. `PyDict_GetItemWithError`: `PyDict_GetItem` saves and
/// restores the pending exception around every lookup; comparing `str` keys cannot fail (an error would
/// be a failed comparison with a key of another type: cleared, and the key taken as absent, as before).
pub(crate) fn dict_get<'p>(d: &'p PyDict, key: &PyString) -> Option<&'p PyAny> {
    unsafe {
        let v = ffi::PyDict_GetItemWithError(d.as_ptr(), key.as_ptr());
        if v.is_null() {
            if !ffi::PyErr_Occurred().is_null() {
                ffi::PyErr_Clear();
            }
            return None;
        }
        Some(d.py().from_borrowed_ptr(v))
    }
}

/// The UTF-8 text of an exact `str` (the ASCII storage itself, or the cached UTF-8); `None` when it is
/// not UTF-8 (lone surrogates).
pub(crate) fn str_bytes(s: &PyAny) -> Option<&[u8]> {
    let p = s.as_ptr();
    unsafe {
        if ffi::PyUnicode_IS_READY(p) != 0 && ffi::PyUnicode_IS_COMPACT_ASCII(p) != 0 {
            let n = ffi::PyUnicode_GET_LENGTH(p) as usize;
            return Some(std::slice::from_raw_parts(
                ffi::PyUnicode_DATA(p) as *const u8,
                n,
            ));
        }
        let mut n: ffi::Py_ssize_t = 0;
        let data = ffi::PyUnicode_AsUTF8AndSize(p, &mut n);
        if data.is_null() {
            ffi::PyErr_Clear();
            return None;
        }
        Some(std::slice::from_raw_parts(data as *const u8, n as usize))
    }
}
