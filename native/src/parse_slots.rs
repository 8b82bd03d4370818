//! Instances of the core's slotted dataclasses (`Call`, `Turn`, `ParsedRollout`, `Note`) built without
//! Python code: a fresh object whose slots are written directly.
//!
//! What `object.__setattr__` does for a `__slots__` field is a write of the object pointer at the offset of
//! the slot's member descriptor (`PyMember_SetOne`, `T_OBJECT_EX`). [`Slots::new`] reads those offsets once
//! per type from the type's own member table (`tp_members`), and checks that every field is such a slot,
//! writable, the very descriptor the type's `__dict__` holds under that name, and that the type has no other
//! slot. A type that does not pass is built through `PyObject_GenericSetAttr` per field instead (the slow,
//! general path), so the result is the same object either way.
//!
//! The objects built here, and the lists that hold them ([`list`]), are not tracked by the cyclic garbage
//! collector (`gc.is_tracked` is false), as CPython itself untracks tuples and dicts of atomic values: they
//! form a tree over values of the request (strings, numbers, the dicts and lists decoded from its JSON),
//! which were there before them and never refer back to them, so no reference cycle can pass through them
//! and reference counting frees them. Tracked, a request's tens of thousands of them made the collections
//! that their own allocation triggers traverse them again and again (a third of the parse stage's time on
//! the `long` workload).

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyType};
use pyo3::AsPyPointer;
use std::ffi::CStr;

const T_OBJECT_EX: i32 = 16;
const READONLY: i32 = 1;

/// How to build instances of one slotted type, its fields in a fixed order.
pub(crate) struct Slots {
    tp: Py<PyType>,
    names: Vec<Py<PyString>>,
    offsets: Option<Vec<isize>>, // None: the general path
}

/// The offsets of `names` in `tp`'s slots, when each is a plain writable object slot of `tp` itself and
/// `tp` has no other slot.
fn slot_offsets(py: Python<'_>, tp: &PyType, names: &[&str]) -> Option<Vec<isize>> {
    unsafe {
        let t = tp.as_ptr() as *mut ffi::PyTypeObject;
        let members = (*t).tp_members;
        if members.is_null() || (*t).tp_dict.is_null() {
            return None;
        }
        let mut found: Vec<(String, isize, *mut ffi::structmember::PyMemberDef)> = Vec::new();
        let mut m = members;
        while !(*m).name.is_null() {
            let name = CStr::from_ptr((*m).name).to_str().ok()?.to_owned();
            if (*m).type_code != T_OBJECT_EX || (*m).flags & READONLY != 0 {
                return None;
            }
            found.push((name, (*m).offset, m));
            m = m.add(1);
        }
        if found.len() != names.len() {
            return None;
        }
        let basic = (*t).tp_basicsize;
        let word = std::mem::size_of::<*mut ffi::PyObject>() as isize;
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let (_, offset, def) = found.iter().find(|(n, _, _)| n == name)?;
            if *offset < word || offset + word > basic {
                return None;
            }
            // the descriptor the type's `__dict__` holds for this name must be the one of this slot
            let key = PyString::new(py, name);
            let descr = ffi::PyDict_GetItem((*t).tp_dict, key.as_ptr());
            if descr.is_null()
                || ffi::Py_TYPE(descr) != std::ptr::addr_of_mut!(ffi::PyMemberDescr_Type)
                || (*(descr as *mut ffi::PyMemberDescrObject)).d_member as *mut u8
                    != *def as *mut u8
            {
                return None;
            }
            out.push(*offset);
        }
        Some(out)
    }
}

impl Slots {
    pub(crate) fn new(py: Python<'_>, tp: Py<PyType>, names: &[&str]) -> Self {
        let offsets = slot_offsets(py, tp.as_ref(py), names);
        let names = names.iter().map(|n| PyString::new(py, n).into()).collect();
        Slots { tp, names, offsets }
    }

    /// A new instance with its fields set to `values` (in the order of the names given to [`Slots::new`]),
    /// not tracked by the cyclic GC.
    pub(crate) fn build<const N: usize>(
        &self,
        py: Python<'_>,
        values: [PyObject; N],
    ) -> PyResult<PyObject> {
        debug_assert_eq!(N, self.names.len());
        unsafe {
            let t = self.tp.as_ptr() as *mut ffi::PyTypeObject;
            let alloc = (*t).tp_alloc.unwrap_or(ffi::PyType_GenericAlloc);
            let obj = PyObject::from_owned_ptr_or_err(py, alloc(t, 0))?;
            match &self.offsets {
                Some(offsets) => {
                    let base = obj.as_ptr() as *mut u8;
                    for (offset, value) in offsets.iter().zip(values) {
                        // a fresh object: every slot is null, so nothing is overwritten
                        *(base.offset(*offset) as *mut *mut ffi::PyObject) = value.into_ptr();
                    }
                }
                None => {
                    for (name, value) in self.names.iter().zip(values) {
                        if ffi::PyObject_GenericSetAttr(obj.as_ptr(), name.as_ptr(), value.as_ptr())
                            < 0
                        {
                            return Err(PyErr::fetch(py));
                        }
                    }
                }
            }
            untrack(obj.as_ptr());
            Ok(obj)
        }
    }

    /// Whether the fast path is in use (for the tests).
    pub(crate) fn direct(&self) -> bool {
        self.offsets.is_some()
    }
}

/// Stop the cyclic GC tracking `p` (see the module docs).
pub(crate) fn untrack(p: *mut ffi::PyObject) {
    unsafe {
        if ffi::PyObject_IS_GC(p) != 0 {
            ffi::PyObject_GC_UnTrack(p as *mut std::ffi::c_void);
        }
    }
}

/// A list of `items` (their references moved into it), not tracked by the cyclic GC.
pub(crate) fn list(py: Python<'_>, items: Vec<PyObject>) -> PyResult<PyObject> {
    unsafe {
        let l =
            PyObject::from_owned_ptr_or_err(py, ffi::PyList_New(items.len() as ffi::Py_ssize_t))?;
        for (k, item) in items.into_iter().enumerate() {
            ffi::PyList_SET_ITEM(l.as_ptr(), k as ffi::Py_ssize_t, item.into_ptr());
        }
        untrack(l.as_ptr());
        Ok(l)
    }
}
