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

use crate::parse::Slots;

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
    let slots = Slots::new(py, rollout_type, &ROLLOUT_FIELDS);
    let out = PyList::empty(py);
    for one in parsed.iter() {
        let values: [PyObject; 9] = [
            group.clone_ref(py),
            one.into(),
            golds.clone_ref(py),
            PyList::empty(py).into(),
            PyList::empty(py).into(),
            0i64.into_py(py),
            py.None(),
            PyList::empty(py).into(),
            PyList::empty(py).into(),
        ];
        let obj = slots.build(py, values)?;
        // `build` leaves objects untracked (parse trees); these are tracked, as Python's are
        unsafe {
            if ffi::PyObject_IS_GC(obj.as_ptr()) != 0 {
                ffi::PyObject_GC_Track(obj.as_ptr() as *mut std::ffi::c_void);
            }
        }
        out.append(obj)?;
    }
    Ok(out)
}

/// `ROLLOUT_FIELDS`, for the test that keeps them equal to `rewards.Rollout`'s.
pub fn register(m: &PyModule) -> PyResult<()> {
    m.add("ROLLOUT_FIELDS", ROLLOUT_FIELDS.to_vec())?;
    m.add_function(wrap_pyfunction!(group_rollouts, m)?)
}
