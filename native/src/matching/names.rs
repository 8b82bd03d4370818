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

/// A fast hasher for the names of a gold table (FxHash's mixing, eight bytes at a time): the table is a
/// reference's few calls, and the lookups, one per predicted call, were SipHash's.
#[derive(Default, Clone, Copy)]
pub struct Fx(u64);

impl std::hash::Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            self.add(u64::from_le_bytes(w.try_into().expect("8 bytes")));
        }
        for &b in words.remainder() {
            self.add(b as u64);
        }
    }
    fn write_u8(&mut self, b: u8) {
        self.add(b as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl Fx {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

/// Call names to their indices in a gold table.
pub type NameIndex = std::collections::HashMap<SStr, Vec<u32>, std::hash::BuildHasherDefault<Fx>>;
