//! JSON numbers of parse_json.rs as orjson reads them: integers within 64 bits as `int`, other numbers
//! as `float` (correctly rounded; overflow to infinity invalid), integers beyond 64 bits delegated.

use super::{owned, Fail, Json, Res};
use pyo3::ffi;
use pyo3::prelude::*;

/// A decoded number: a negative integer, a non-negative one (both within 64 bits), a finite float.
#[derive(Clone, Copy)]
pub(crate) enum Num {
    Int(i64),
    UInt(u64),
    Float(f64),
}

impl Json<'_> {
    /// Digits at `self.i`, skipped.
    #[inline]
    fn digits(&mut self) {
        while self.i < self.b.len() && self.b[self.i].is_ascii_digit() {
            self.i += 1;
        }
    }

    /// A number at `self.i`: `(is_float, start, end)`.
    fn number_text(&mut self) -> Res<(bool, usize, usize)> {
        let start = self.i;
        if self.peek() == b'-' {
            self.i += 1;
        }
        match self.peek() {
            b'0' => {
                self.i += 1;
                if self.peek().is_ascii_digit() {
                    return Err(Fail::Invalid);
                }
            }
            b'1'..=b'9' => self.digits(),
            _ => return Err(Fail::Invalid),
        }
        let mut float = false;
        if self.peek() == b'.' {
            self.i += 1;
            if !self.peek().is_ascii_digit() {
                return Err(Fail::Invalid);
            }
            self.digits();
            float = true;
        }
        if matches!(self.peek(), b'e' | b'E') {
            self.i += 1;
            if matches!(self.peek(), b'+' | b'-') {
                self.i += 1;
            }
            if !self.peek().is_ascii_digit() {
                return Err(Fail::Invalid);
            }
            self.digits();
            float = true;
        }
        Ok((float, start, self.i))
    }

    /// A number at `self.i` as orjson reads it: beyond 64 bits delegated, overflow to infinity invalid.
    pub(crate) fn number_value(&mut self) -> Res<Num> {
        let (float, a, z) = self.number_text()?;
        let text = unsafe { std::str::from_utf8_unchecked(&self.b[a..z]) };
        if float {
            let v: f64 = text.parse().map_err(|_| Fail::Invalid)?;
            if !v.is_finite() {
                return Err(Fail::Invalid);
            }
            Ok(Num::Float(v))
        } else if text.as_bytes()[0] == b'-' {
            text.parse().map(Num::Int).map_err(|_| Fail::Delegate)
        } else {
            text.parse().map(Num::UInt).map_err(|_| Fail::Delegate)
        }
    }

    /// A number at `self.i` as a Python `int` or `float`.
    pub(super) fn number(&mut self, py: Python<'_>) -> Res<PyObject> {
        let ptr = match self.number_value()? {
            Num::Float(v) => unsafe { ffi::PyFloat_FromDouble(v) },
            Num::Int(v) => unsafe { ffi::PyLong_FromLongLong(v) },
            Num::UInt(v) => unsafe { ffi::PyLong_FromUnsignedLongLong(v) },
        };
        owned(py, ptr)
    }
}
