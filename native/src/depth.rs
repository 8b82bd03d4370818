//! `value_depth`: the nesting depth of a decoded JSON value (service/turnscore/runtime/decode.py's
//! `value_depth`, the request's depth limit; tests/native/test_depth_parity.py).
//!
//! The same count as the Python walk: an exact `dict` or `list` is one level deeper than its members,
//! anything else (subclasses included) is a leaf of depth 0. Containers are visited with an explicit
//! stack (no recursion, whatever the nesting), their members read through the C API without references
//! taken: the GIL is held and no Python code runs during the walk, so nothing can change under it.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::AsPyPointer;

/// Whether `o`'s type is exactly `dict` or `list`.
#[inline]
unsafe fn container(o: *mut ffi::PyObject) -> bool {
    let t = ffi::Py_TYPE(o);
    t == std::ptr::addr_of_mut!(ffi::PyDict_Type) || t == std::ptr::addr_of_mut!(ffi::PyList_Type)
}

/// Depth of `root`: 0 for a leaf, else 1 + the deepest member's.
unsafe fn depth_of(root: *mut ffi::PyObject) -> usize {
    if !container(root) {
        return 0;
    }
    let dict = std::ptr::addr_of_mut!(ffi::PyDict_Type);
    let mut max = 0usize;
    let mut stack: Vec<(*mut ffi::PyObject, usize)> = vec![(root, 1)];
    while let Some((o, d)) = stack.pop() {
        max = max.max(d);
        if ffi::Py_TYPE(o) == dict {
            let mut pos: ffi::Py_ssize_t = 0;
            let mut key: *mut ffi::PyObject = std::ptr::null_mut();
            let mut value: *mut ffi::PyObject = std::ptr::null_mut();
            while ffi::PyDict_Next(o, &mut pos, &mut key, &mut value) != 0 {
                if container(value) {
                    stack.push((value, d + 1));
                }
            }
        } else {
            for i in 0..ffi::PyList_GET_SIZE(o) {
                let value = ffi::PyList_GET_ITEM(o, i);
                if container(value) {
                    stack.push((value, d + 1));
                }
            }
        }
    }
    max
}

/// `value_depth(value)`: the nesting depth of a decoded JSON value (a scalar: 0).
#[pyfunction]
fn value_depth(value: &PyAny) -> usize {
    // SAFETY: `value` is a live object and the GIL is held for the whole walk (see the module comment).
    unsafe { depth_of(value.as_ptr()) }
}

pub fn register(m: &PyModule) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(value_depth, m)?)?;
    Ok(())
}
