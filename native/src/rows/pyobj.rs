//! Small helpers over the C API for rows.rs: attribute reads and dict stores with interned keys that
//! skip pyo3's reference counting of the key (the rows build ~15 entries per rollout).

use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyDict, PyString};
use pyo3::{ffi, AsPyPointer, IntoPyPointer};

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

/// `d[key] = v` for a new reference `v` (it is consumed).
pub fn set_owned(d: &PyDict, key: &PyString, v: PyObject) -> PyResult<()> {
    set_new(d, key, v.into_ptr())
}

/// A new list of the values, each made by `make` (a new reference or NULL), with the C API: no
/// object goes through pyo3's pool.
pub fn new_list<T>(
    py: Python<'_>,
    values: impl ExactSizeIterator<Item = T>,
    make: impl Fn(T) -> *mut ffi::PyObject,
) -> PyResult<PyObject> {
    let list = unsafe { ffi::PyList_New(values.len() as ffi::Py_ssize_t) };
    if list.is_null() {
        return Err(PyErr::fetch(py));
    }
    // owned from here: a list left partly filled (NULL items) is freed as the C API allows
    let list = unsafe { PyObject::from_owned_ptr(py, list) };
    for (i, v) in values.enumerate() {
        let item = make(v);
        if item.is_null() {
            return Err(PyErr::fetch(py));
        }
        unsafe { ffi::PyList_SET_ITEM(list.as_ptr(), i as ffi::Py_ssize_t, item) };
    }
    Ok(list)
}

/// A new list of floats.
pub fn float_list(py: Python<'_>, values: impl ExactSizeIterator<Item = f64>) -> PyResult<PyObject> {
    new_list(py, values, |v| unsafe { ffi::PyFloat_FromDouble(v) })
}

/// Dicts of one shape (keys in one order) made by copying a template whose values are None: the copy
/// has its final size at once, and each store replaces a value instead of inserting a key.
pub struct Template {
    dict: PyObject,
}

impl Template {
    pub fn new(py: Python<'_>, keys: &[&PyString]) -> PyResult<Self> {
        let d = PyDict::new(py);
        for k in keys {
            d.set_item(*k, py.None())?;
        }
        Ok(Self { dict: d.into() })
    }

    /// A new dict with the template's keys (its values still None).
    pub fn make<'py>(&self, py: Python<'py>) -> PyResult<&'py PyDict> {
        unsafe {
            let d = ffi::PyDict_Copy(self.dict.as_ptr());
            py.from_owned_ptr_or_err(d)
        }
    }
}
