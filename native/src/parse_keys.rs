//! Python `str` objects for decoded JSON text: object keys shared through a small cache, ASCII copied
//! without a second validation.
//!
//! The keys of tool-call arguments repeat across calls and rollouts (`query`, `city`, ...). As orjson does
//! for the keys it decodes, a key of at most [`MAX_KEY`] bytes is looked up in a direct-mapped cache of
//! [`SLOTS`] strings before a new one is made: a hit is one reference more to a `str` whose hash is
//! already computed, so the dict insertion does not hash it again. A cached key is an exact `str` equal to
//! the text decoded, so dict equality and key order are those of a fresh string; only identity differs,
//! which no result depends on (json and orjson share keys likewise). The cache is per thread (the GIL is
//! held wherever it is used) and holds at most [`SLOTS`] short strings for the life of the process.

use super::hash::bytes_hash;
use super::json::{owned, Json, Res, Str};
use pyo3::ffi;
use pyo3::prelude::*;
use std::cell::RefCell;

const MAX_KEY: usize = 64;
const SLOTS: usize = 1024;

struct Entry {
    text: Box<[u8]>,
    obj: *mut ffi::PyObject, // an owned reference, released when another key takes the slot
}

thread_local! {
    static CACHE: RefCell<Vec<Option<Entry>>> = const { RefCell::new(Vec::new()) };
}

/// A new `str` of `s`; `ascii` when `s` is known to be ASCII (a plain copy, no UTF-8 decoding).
pub(crate) fn new_str(s: &str, ascii: bool) -> *mut ffi::PyObject {
    unsafe {
        if ascii {
            let obj = ffi::PyUnicode_New(s.len() as ffi::Py_ssize_t, 127);
            if !obj.is_null() && !s.is_empty() {
                std::ptr::copy_nonoverlapping(
                    s.as_ptr(),
                    ffi::PyUnicode_DATA(obj) as *mut u8,
                    s.len(),
                );
            }
            obj
        } else {
            ffi::PyUnicode_FromStringAndSize(s.as_ptr() as *const _, s.len() as ffi::Py_ssize_t)
        }
    }
}

/// A new `str` of model text (ASCII copied, as [`new_str`]).
pub(crate) fn text(py: Python<'_>, s: &str) -> PyResult<PyObject> {
    unsafe { PyObject::from_owned_ptr_or_err(py, new_str(s, s.is_ascii())) }
}

/// A `str` of the key `s` (a new reference, null on a Python error): from the cache when it holds it.
pub(crate) fn key_str(_py: Python<'_>, s: &str, ascii: bool) -> *mut ffi::PyObject {
    if s.len() > MAX_KEY || s.is_empty() {
        return new_str(s, ascii);
    }
    CACHE.with(|cache| {
        let Ok(mut cache) = cache.try_borrow_mut() else {
            return new_str(s, ascii);
        };
        if cache.is_empty() {
            cache.resize_with(SLOTS, || None);
        }
        let slot = &mut cache[bytes_hash(s.as_bytes()) as usize % SLOTS];
        if let Some(e) = slot {
            if *e.text == *s.as_bytes() {
                unsafe { ffi::Py_INCREF(e.obj) };
                return e.obj;
            }
        }
        let obj = new_str(s, ascii);
        if obj.is_null() {
            return obj;
        }
        unsafe {
            // its hash now, once: every later use of this key finds it computed
            if ffi::PyObject_Hash(obj) == -1 {
                ffi::PyErr_Clear();
            }
            ffi::Py_INCREF(obj);
        }
        if let Some(old) = slot.replace(Entry {
            text: s.as_bytes().into(),
            obj,
        }) {
            unsafe { ffi::Py_DECREF(old.obj) };
        }
        obj
    })
}

/// Decoded strings of [`Json`] as Python `str` objects.
impl Json<'_> {
    /// Whether the decoded string `s` is ASCII (its own bytes checked: no pass over the whole input).
    #[inline]
    pub(crate) fn is_ascii(&self, s: Str) -> bool {
        self.str_of(s).is_ascii()
    }

    /// A new `str` of the decoded string `s`.
    pub(crate) fn py_string(&self, py: Python<'_>, s: Str) -> Res<PyObject> {
        owned(py, new_str(self.str_of(s), self.is_ascii(s)))
    }

    /// A `str` of the decoded key (or name) `s`, shared through the key cache (parse_keys.rs).
    pub(crate) fn py_key(&self, py: Python<'_>, s: Str) -> Res<PyObject> {
        owned(py, key_str(py, self.str_of(s), self.is_ascii(s)))
    }
}
