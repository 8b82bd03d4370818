//! Value keys of the three `value_match` modes, with exactly the equality of service/turnscore/core/values.py.
//!
//! Two values are equal under a mode exactly when their keys are equal. Numbers are canonical: an integral
//! float becomes the integer it equals (Python compares int and float exactly), an integer beyond i64 is kept
//! as its canonical decimal digits. Whatever this module cannot key with certainty (NaN, types other than the
//! JSON ones, strings that are not UTF-8, non-string dict keys, very long digit strings) is `Unsupported`: the
//! caller falls back to the Python path.

use pyo3::once_cell::GILOnceCell;

use super::sstr::SStr;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyList, PyLong, PyString, PyTuple};
use pyo3::{AsPyPointer, PyTryFrom, PyTypeInfo};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Exact,
    Python,
    Normalized,
}

impl Mode {
    pub fn parse(s: &str) -> PyResult<Mode> {
        match s {
            "exact" => Ok(Mode::Exact),
            "python" => Ok(Mode::Python),
            "normalized" => Ok(Mode::Normalized),
            _ => Err(pyo3::exceptions::PyValueError::new_err(format!(
                "unknown value_match {:?}",
                s
            ))),
        }
    }
}

/// A hashable value key (the Python key tuples of values.py, canonicalized).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Key {
    Str(SStr),
    Bool(bool),    // exact / normalized only: a boolean never equals a number there
    Int(i64),      // every integer-valued number that fits in i64 (ints, bools in python mode, 1.0)
    Big(Box<str>), // any other integer-valued number: canonical decimal digits with its sign
    Float(u64),    // a finite non-integral float or an infinity, by its bits
    None,
    List(Box<[Key]>),         // list (and tuple, except in python mode)
    Tuple(Box<[Key]>),        // tuple in python mode (a list never equals a tuple there)
    Dict(Box<[(SStr, Key)]>), // sorted by key
}

pub enum KeyError {
    Unsupported,
    Py(PyErr),
}

impl From<PyErr> for KeyError {
    fn from(e: PyErr) -> Self {
        KeyError::Py(e)
    }
}

pub type KResult<T> = Result<T, KeyError>;

/// Deeper than this falls back to Python (JSON input is limited to 32 levels).
pub const MAX_DEPTH: usize = 64;
/// Digit strings longer than this fall back (Python's int() refuses more than 4300 digits).
const MAX_NUMERIC_LEN: usize = 4000;

/// `v` as `T` when its exact type was checked.
pub fn cast<'v, T: PyTryFrom<'v>>(v: &'v PyAny) -> &'v T {
    unsafe { T::try_from_unchecked(v) }
}

/// A dict's items as borrowed references (no reference counting): the dict is not changed meanwhile.
pub fn dict_items(d: &PyDict) -> impl Iterator<Item = (&PyAny, &PyAny)> {
    let py = d.py();
    let mut pos: pyo3::ffi::Py_ssize_t = 0;
    std::iter::from_fn(move || {
        let mut k = std::ptr::null_mut();
        let mut v = std::ptr::null_mut();
        if unsafe { pyo3::ffi::PyDict_Next(d.as_ptr(), &mut pos, &mut k, &mut v) } == 0 {
            return None;
        }
        Some(unsafe {
            (
                py.from_borrowed_ptr::<PyAny>(k),
                py.from_borrowed_ptr::<PyAny>(v),
            )
        })
    })
}

pub fn str_of(s: &PyString) -> KResult<&str> {
    s.to_str().map_err(|_| KeyError::Unsupported) // lone surrogates: not UTF-8
}

/// The key of a float (Python float equality: integral floats equal the integer they spell).
pub fn float_key(f: f64) -> KResult<Key> {
    if f.is_nan() {
        return Err(KeyError::Unsupported); // NaN never equals itself except by identity: Python decides
    }
    if f.is_finite() && f.fract() == 0.0 {
        if (-9223372036854775808.0..9223372036854775808.0).contains(&f) {
            return Ok(Key::Int(f as i64));
        }
        return Ok(Key::Big(format!("{:.0}", f).into_boxed_str())); // exact digits of the float
    }
    Ok(Key::Float(f.to_bits()))
}

fn int_key(v: &PyAny) -> KResult<Key> {
    let mut overflow: std::os::raw::c_int = 0;
    // an exact int: no __index__ call, no error unless it does not fit
    let i = unsafe { pyo3::ffi::PyLong_AsLongLongAndOverflow(v.as_ptr(), &mut overflow) };
    if overflow == 0 {
        if i == -1 && PyErr::occurred(v.py()) {
            return Err(KeyError::Py(PyErr::fetch(v.py())));
        }
        return Ok(Key::Int(i));
    }
    let s = v.str()?;
    Ok(Key::Big(str_of(s)?.into()))
}

/// The key of an ASCII integer literal `[+-]?[0-9]+` (already validated).
fn int_literal_key(t: &str) -> Key {
    let (neg, digits) = match t.as_bytes()[0] {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Key::Int(0);
    }
    if digits.len() <= 18 {
        let x: i64 = digits.parse().unwrap();
        return Key::Int(if neg { -x } else { x });
    }
    let signed = if neg {
        format!("-{}", digits)
    } else {
        digits.to_string()
    };
    match signed.parse::<i64>() {
        Ok(x) => Key::Int(x),
        Err(_) => Key::Big(signed.into_boxed_str()),
    }
}

fn all_digits(b: &[u8]) -> bool {
    !b.is_empty() && b.iter().all(|c| c.is_ascii_digit())
}

/// Whether `t` (lower-case ASCII, no `_`, no whitespace) is what Python's `float()` accepts.
fn is_float_literal(t: &str) -> bool {
    let b = t.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let rest = &t[i..];
    if rest == "inf" || rest == "infinity" || rest == "nan" {
        return true;
    }
    let b = rest.as_bytes();
    let mut k = 0;
    let int_start = k;
    while k < b.len() && b[k].is_ascii_digit() {
        k += 1;
    }
    let mut n_digits = k - int_start;
    if k < b.len() && b[k] == b'.' {
        k += 1;
        let frac_start = k;
        while k < b.len() && b[k].is_ascii_digit() {
            k += 1;
        }
        n_digits += k - frac_start;
    }
    if n_digits == 0 {
        return false;
    }
    if k < b.len() && b[k] == b'e' {
        k += 1;
        if k < b.len() && (b[k] == b'+' || b[k] == b'-') {
            k += 1;
        }
        return all_digits(&b[k..]);
    }
    k == b.len()
}

/// Python's ASCII whitespace for `str.split()` (`str.isspace()`: includes \x0b, \x0c and \x1c-\x1f).
fn is_py_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\x0b' | '\x0c' | '\r' | '\x1c'..='\x1f' | ' '
    )
}

/// `_norm_str` of values.py for an ASCII string.
fn norm_ascii(s: &str) -> KResult<Key> {
    let mut t = String::with_capacity(s.len());
    for word in s.split(is_py_space).filter(|w| !w.is_empty()) {
        if !t.is_empty() {
            t.push(' ');
        }
        t.push_str(word);
    }
    t.make_ascii_lowercase(); // str.casefold() on ASCII
    let b = t.as_bytes();
    if !b.is_empty()
        && (b[0].is_ascii_digit() || matches!(b[0], b'+' | b'-' | b'.'))
        && !t.contains('_')
    {
        if t.len() > MAX_NUMERIC_LEN {
            return Err(KeyError::Unsupported);
        }
        if is_float_literal(&t) {
            let x: f64 = t.parse().map_err(|_| KeyError::Unsupported)?;
            if x.is_finite() {
                let body = t.strip_prefix(['+', '-']).unwrap_or(&t);
                if all_digits(body.as_bytes()) {
                    return Ok(int_literal_key(&t));
                }
                return float_key(x);
            }
        }
    }
    Ok(Key::Str(SStr::from(t)))
}

static NORM_STR: GILOnceCell<PyObject> = GILOnceCell::new();

/// `_norm_str` of a non-ASCII string: Python's own (Unicode case folding, whitespace, digits).
fn norm_python(py: Python<'_>, s: &PyString) -> KResult<Key> {
    let f = match NORM_STR.get(py) {
        Some(f) => f,
        None => {
            let f: PyObject = py
                .import("turnscore.core.values")?
                .getattr("_norm_str")?
                .into();
            let _ = NORM_STR.set(py, f);
            NORM_STR.get(py).unwrap()
        }
    };
    let got = f.call1(py, (s,))?;
    let tup: &PyTuple = got.as_ref(py).downcast().map_err(PyErr::from)?;
    let tag: &str = tup.get_item(0)?.extract()?;
    let val = tup.get_item(1)?;
    match tag {
        "s" => Ok(Key::Str(
            str_of(val.downcast().map_err(PyErr::from)?)?.into(),
        )),
        "n" if PyLong::is_exact_type_of(val) => int_key(val),
        "n" if PyFloat::is_exact_type_of(val) => {
            float_key(val.downcast::<PyFloat>().map_err(PyErr::from)?.value())
        }
        _ => Err(KeyError::Unsupported),
    }
}

/// The key of the text `s` of a string under `mode` (a non-ASCII one normalized by Python, from a new `str`).
pub fn text_key(s: &str, mode: Mode) -> KResult<Key> {
    match mode {
        Mode::Normalized if s.is_ascii() => norm_ascii(s),
        Mode::Normalized => Python::with_gil(|py| norm_python(py, PyString::new(py, s))),
        _ => Ok(Key::Str(SStr::from(s))),
    }
}

fn norm_str(py: Python<'_>, s: &PyString) -> KResult<Key> {
    let r = str_of(s)?;
    if r.is_ascii() {
        norm_ascii(r)
    } else {
        norm_python(py, s)
    }
}

/// The key of a decoded value under `mode` (values.py: exact_key, python_key, normalized_key).
pub fn key(py: Python<'_>, v: &PyAny, mode: Mode) -> KResult<Key> {
    key_at(py, v, mode, 0)
}

fn key_at(py: Python<'_>, v: &PyAny, mode: Mode, depth: usize) -> KResult<Key> {
    if PyString::is_exact_type_of(v) {
        let s: &PyString = cast(v);
        return match mode {
            Mode::Normalized => norm_str(py, s),
            _ => Ok(Key::Str(SStr::from(str_of(s)?))),
        };
    }
    if PyLong::is_exact_type_of(v) {
        return int_key(v);
    }
    if PyFloat::is_exact_type_of(v) {
        let f: &PyFloat = cast(v);
        return float_key(f.value());
    }
    if PyBool::is_exact_type_of(v) {
        let b: &PyBool = cast(v);
        return Ok(match mode {
            Mode::Python => Key::Int(b.is_true() as i64),
            _ => Key::Bool(b.is_true()),
        });
    }
    if v.is_none() {
        return Ok(Key::None);
    }
    if depth >= MAX_DEPTH {
        return Err(KeyError::Unsupported);
    }
    if PyList::is_exact_type_of(v) {
        let l: &PyList = cast(v);
        let mut items = Vec::with_capacity(l.len());
        for k in 0..l.len() {
            // borrowed: the list is not changed meanwhile
            let x = unsafe {
                py.from_borrowed_ptr::<PyAny>(pyo3::ffi::PyList_GET_ITEM(v.as_ptr(), k as _))
            };
            items.push(key_at(py, x, mode, depth + 1)?);
        }
        return Ok(Key::List(items.into_boxed_slice()));
    }
    if PyTuple::is_exact_type_of(v) {
        let t: &PyTuple = cast(v);
        let mut items = Vec::with_capacity(t.len());
        for k in 0..t.len() {
            let x = unsafe {
                py.from_borrowed_ptr::<PyAny>(pyo3::ffi::PyTuple_GET_ITEM(v.as_ptr(), k as _))
            };
            items.push(key_at(py, x, mode, depth + 1)?);
        }
        return Ok(match mode {
            Mode::Python => Key::Tuple(items.into_boxed_slice()),
            _ => Key::List(items.into_boxed_slice()),
        });
    }
    if PyDict::is_exact_type_of(v) {
        let d: &PyDict = cast(v);
        let mut items = Vec::with_capacity(d.len());
        for (k, x) in dict_items(d) {
            if !PyString::is_exact_type_of(k) {
                return Err(KeyError::Unsupported); // non-string keys compare by Python ==
            }
            let ks: &PyString = cast(k);
            items.push((SStr::from(str_of(ks)?), key_at(py, x, mode, depth + 1)?));
        }
        items.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        return Ok(Key::Dict(items.into_boxed_slice()));
    }
    Err(KeyError::Unsupported) // repr keys (other types): Python decides
}
