//! Small helpers over the C API for rows.rs: attribute reads and dict stores with interned keys that
//! skip pyo3's reference counting of the key (the rows build ~15 entries per rollout).

use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyDict, PyString};
use pyo3::{ffi, AsPyPointer};

/// The values' little-endian bytes as a bytearray (what `np.frombuffer` reads; writable).
pub fn bytes_of<T: Copy, const W: usize>(
    py: Python<'_>,
    values: impl Iterator<Item = T>,
    to: fn(T) -> [u8; W],
) -> &PyByteArray {
    let mut buf = Vec::with_capacity(values.size_hint().0 * W);
    for v in values {
        buf.extend_from_slice(&to(v));
    }
    PyByteArray::new(py, &buf)
}

/// `obj.name`.
pub fn attr<'py>(obj: &'py PyAny, name: &PyString) -> PyResult<&'py PyAny> {
    unsafe {
        obj.py()
            .from_owned_ptr_or_err(ffi::PyObject_GetAttr(obj.as_ptr(), name.as_ptr()))
    }
}

/// `d[key] = value` for a new reference `value` (NULL: the error of the call that made it).
fn set_new(d: &PyDict, key: &PyString, value: *mut ffi::PyObject) -> PyResult<()> {
    if value.is_null() {
        return Err(PyErr::fetch(d.py()));
    }
    let r = unsafe { ffi::PyDict_SetItem(d.as_ptr(), key.as_ptr(), value) };
    unsafe { ffi::Py_DECREF(value) };
    if r != 0 {
        return Err(PyErr::fetch(d.py()));
    }
    Ok(())
}

/// `d[key] = v` (a float).
pub fn set_f64(d: &PyDict, key: &PyString, v: f64) -> PyResult<()> {
    set_new(d, key, unsafe { ffi::PyFloat_FromDouble(v) })
}

/// `d[key] = v` (an int).
pub fn set_i64(d: &PyDict, key: &PyString, v: i64) -> PyResult<()> {
    set_new(d, key, unsafe { ffi::PyLong_FromLongLong(v) })
}

/// `d[key] = v`.
pub fn set_any(d: &PyDict, key: &PyString, v: &PyAny) -> PyResult<()> {
    unsafe { ffi::Py_INCREF(v.as_ptr()) };
    set_new(d, key, v.as_ptr())
}
