//! The request's `rewards.Rollout` objects of one group built in one call (service/turnscore/core/engine.py
//! `_read_rollouts`), instead of one dataclass `__init__` per distinct rollout.
//!
//! Python API: `group_rollouts(rollout_type, group, parsed, golds) -> list`: per item of `parsed` a
//! `rollout_type(group, item, golds)` with the defaults of its other fields (fresh empty lists, 0 for
//! `num_calls`, `None` for `tables`), in the field order of `ROLLOUT_FIELDS` (engine.py checks that order and those defaults, else
//! Python builds them). The objects stay tracked by the cyclic GC, like those Python builds: the scoring
//! stages hang arrays and tables on them.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyType};
use pyo3::AsPyPointer;
use std::cell::RefCell;
use std::rc::Rc;

use crate::parse::Slots;

thread_local! {
    /// The `Slots` of the last `rollout_type` seen (one per process in practice), with a reference to the
    /// type that keeps it alive, so its address cannot name another type while it is cached.
    static LAST: RefCell<Option<(Py<PyType>, Rc<Slots>)>> = const { RefCell::new(None) };
}

/// The `Slots` of `rollout_type` (its member offsets read once, not per group).
fn slots_of(py: Python<'_>, rollout_type: Py<PyType>) -> Rc<Slots> {
    LAST.with(|last| {
        let Ok(mut last) = last.try_borrow_mut() else {
            return Rc::new(Slots::new(py, rollout_type, &ROLLOUT_FIELDS));
        };
        if let Some((tp, slots)) = last.as_ref() {
            if tp.as_ptr() == rollout_type.as_ptr() {
                return slots.clone();
            }
        }
        let slots = Rc::new(Slots::new(py, rollout_type.clone_ref(py), &ROLLOUT_FIELDS));
        *last = Some((rollout_type, slots.clone()));
        slots
    })
}

/// The fields of `rewards.Rollout`, in order (`engine.NATIVE_ROLLOUT_FIELDS`).
const ROLLOUT_FIELDS: [&str; 9] = [
    "group",
    "parsed",
    "golds",
    "calls",
    "where",
    "num_calls",
    "tables",
    "assignments",
    "toolrl",
];

/// `[rollout_type(group, p, golds) for p in parsed]`.
#[pyfunction]
fn group_rollouts<'py>(
    py: Python<'py>,
    rollout_type: Py<PyType>,
    group: PyObject,
    parsed: &'py PyList,
    golds: PyObject,
) -> PyResult<&'py PyList> {
    let slots = slots_of(py, rollout_type);
    let empty = || unsafe { PyObject::from_owned_ptr_or_err(py, ffi::PyList_New(0)) };
    let out =
        unsafe { PyObject::from_owned_ptr_or_err(py, ffi::PyList_New(parsed.len() as isize))? };
    for (k, one) in parsed.iter().enumerate() {
        let values: [PyObject; 9] = [
            group.clone_ref(py),
            one.into(),
            golds.clone_ref(py),
            empty()?,
            empty()?,
            0i64.into_py(py),
            py.None(),
            empty()?,
            empty()?,
        ];
        let obj = slots.build(py, values)?;
        // `build` leaves objects untracked (parse trees); these are tracked, as Python's are
        unsafe {
            if ffi::PyObject_IS_GC(obj.as_ptr()) != 0 {
                ffi::PyObject_GC_Track(obj.as_ptr() as *mut std::ffi::c_void);
            }
            // a fresh list of `parsed.len()` slots: each is set once
            ffi::PyList_SET_ITEM(out.as_ptr(), k as isize, obj.into_ptr());
        }
    }
    Ok(out.into_ref(py).downcast()?)
}

/// `ROLLOUT_FIELDS`, for the test that keeps them equal to `rewards.Rollout`'s.
pub fn register(m: &PyModule) -> PyResult<()> {
    m.add("ROLLOUT_FIELDS", ROLLOUT_FIELDS.to_vec())?;
    m.add_function(wrap_pyfunction!(group_rollouts, m)?)
}
