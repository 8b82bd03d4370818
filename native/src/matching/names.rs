//! Call names as matching compares them: `str.lower()` unless case-sensitive (ASCII folded here, any other
//! text by Python's own `str.lower()`), from a `str` object or from text read natively.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyString;
use pyo3::PyTypeInfo;

use super::keys::{cast, str_of, KResult, KeyError};
use super::sstr::SStr;

/// A name object as matching compares it (`Unsupported` unless an exact `str`).
pub(super) fn name_obj_key(obj: &PyAny, case_sensitive: bool) -> KResult<SStr> {
    if !PyString::is_exact_type_of(obj) {
        return Err(KeyError::Unsupported);
    }
    fold_name(str_of(cast(obj))?, case_sensitive, || py_lower(obj))
}

/// A name's text `r` as matching compares it: `str.lower()` (`lower`, for non-ASCII) unless case-sensitive.
fn fold_name(
    r: &str,
    case_sensitive: bool,
    lower: impl FnOnce() -> KResult<SStr>,
) -> KResult<SStr> {
    if case_sensitive {
        return Ok(SStr::from(r));
    }
    if r.is_ascii() {
        return Ok(SStr::ascii_lower(r));
    }
    lower()
}

/// Python's `str.lower()` of the `str` `obj`.
fn py_lower(obj: &PyAny) -> KResult<SStr> {
    let low = obj.call_method0(intern!(obj.py(), "lower"))?;
    Ok(SStr::from(str_of(low.downcast().map_err(PyErr::from)?)?))
}

/// A call's name text as [`name_of`] folds it (a non-ASCII one lower-cased by Python, from a new `str`).
pub(crate) fn name_key(r: &str, case_sensitive: bool) -> KResult<SStr> {
    fold_name(r, case_sensitive, || {
        Python::with_gil(|py| py_lower(PyString::new(py, r)))
    })
}
