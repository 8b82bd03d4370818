//! JSON of model-written tool calls, decoded straight to Python objects, as `orjson.loads` reads it.
//!
//! The grammar and values are orjson's (3.x, yyjson): RFC 8259 only (no NaN/Infinity, no trailing commas,
//! no comments, no BOM), raw control characters refused in strings, lone surrogate escapes refused,
//! integers as `int` when they fit 64 bits (`u64`, or `i64` when negative), other numbers as `float`
//! (correctly rounded; one that overflows to infinity is an error), duplicate keys: the last value wins at
//! the first key's position (Python `dict` assignment).
//!
//! Two cases are not decided here but handed back ([`Fail::Delegate`]) to the Python reference
//! (`parse._decode_call`), so that they stay exact by construction: nesting deeper than the depth bound
//! anywhere in the text (the bound applies to the decoded value, where a duplicate key may have dropped the
//! deep part), and integers beyond 64 bits (orjson reads them as floats).

use super::scan::plain_run;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::AsPyPointer;

/// Why a decode stopped.
pub(crate) enum Fail {
    /// Not JSON as orjson reads it.
    Invalid,
    /// A case the Python reference decides (see the module docs).
    Delegate,
    /// A Python error (memory).
    Py(PyErr),
}

pub(crate) type Res<T> = Result<T, Fail>;

/// An owned reference from a C-API call; a null is the pending Python error.
pub(crate) fn owned(py: Python<'_>, ptr: *mut ffi::PyObject) -> Res<PyObject> {
    unsafe { PyObject::from_owned_ptr_or_err(py, ptr) }.map_err(Fail::Py)
}

/// A decoded number: a negative integer, a non-negative one (both within 64 bits), a finite float.
#[derive(Clone, Copy)]
pub(crate) enum Num {
    Int(i64),
    UInt(u64),
    Float(f64),
}

/// Where a decoded string is: a range of the input (no escapes) or the scratch buffer.
#[derive(Clone, Copy)]
pub(crate) enum Str {
    Input(usize, usize),
    Scratch,
}

pub(crate) struct Json<'a> {
    pub(crate) b: &'a [u8],
    pub(crate) i: usize,
    pub(crate) depth: usize,
    limit: usize,
    pub(crate) scratch: Vec<u8>,
    pub(crate) ascii: bool, // the whole input is ASCII
}

impl<'a> Json<'a> {
    pub(crate) fn new(text: &'a str, limit: usize) -> Self {
        Json {
            b: text.as_bytes(),
            i: 0,
            depth: 0,
            limit,
            scratch: Vec::new(),
            ascii: text.is_ascii(),
        }
    }

    #[inline]
    pub(crate) fn peek(&self) -> u8 {
        if self.i < self.b.len() {
            self.b[self.i]
        } else {
            0
        }
    }

    #[inline]
    pub(crate) fn ws(&mut self) {
        while self.i < self.b.len() {
            match self.b[self.i] {
                b' ' | b'\t' | b'\n' | b'\r' => self.i += 1,
                _ => break,
            }
        }
    }

    pub(crate) fn at_end(&mut self) -> bool {
        self.ws();
        self.i == self.b.len()
    }

    #[inline]
    pub(crate) fn enter(&mut self) -> Res<()> {
        self.depth += 1;
        if self.depth > self.limit {
            return Err(Fail::Delegate);
        }
        Ok(())
    }

    pub(crate) fn literal(&mut self, word: &[u8]) -> Res<()> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(Fail::Invalid)
        }
    }

    pub(crate) fn str_of(&self, s: Str) -> &str {
        let bytes = match s {
            Str::Input(a, b) => &self.b[a..b],
            Str::Scratch => &self.scratch[..],
        };
        // the input is UTF-8 and escapes decode to whole characters (lone surrogates are refused)
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    fn hex4(&mut self) -> Res<u32> {
        if self.i + 4 > self.b.len() {
            return Err(Fail::Invalid);
        }
        let mut v = 0u32;
        for k in 0..4 {
            let d = match self.b[self.i + k] {
                c @ b'0'..=b'9' => c - b'0',
                c @ b'a'..=b'f' => c - b'a' + 10,
                c @ b'A'..=b'F' => c - b'A' + 10,
                _ => return Err(Fail::Invalid),
            };
            v = v * 16 + d as u32;
        }
        self.i += 4;
        Ok(v)
    }

    /// A string at `self.i` (its opening quote).
    pub(crate) fn string(&mut self) -> Res<Str> {
        self.i += 1;
        let start = self.i;
        let b = self.b;
        loop {
            self.i = plain_run(b, self.i);
            if self.i >= b.len() {
                return Err(Fail::Invalid);
            }
            match b[self.i] {
                b'"' => {
                    self.i += 1;
                    return Ok(Str::Input(start, self.i - 1));
                }
                b'\\' => break,
                c if c < 0x20 => return Err(Fail::Invalid),
                _ => self.i += 1,
            }
        }
        self.scratch.clear();
        self.scratch.extend_from_slice(&b[start..self.i]);
        loop {
            if self.i >= b.len() {
                return Err(Fail::Invalid);
            }
            let c = b[self.i];
            match c {
                b'"' => {
                    self.i += 1;
                    return Ok(Str::Scratch);
                }
                b'\\' => {
                    self.i += 1;
                    let e = if self.i < b.len() { b[self.i] } else { 0 };
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                if !(self.b[self.i..].starts_with(b"\\u")) {
                                    return Err(Fail::Invalid);
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(Fail::Invalid);
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else if (0xDC00..0xE000).contains(&hi) {
                                return Err(Fail::Invalid);
                            } else {
                                hi
                            };
                            char::from_u32(code).ok_or(Fail::Invalid)?
                        }
                        _ => return Err(Fail::Invalid),
                    };
                    let mut buf = [0u8; 4];
                    self.scratch
                        .extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                c if c < 0x20 => return Err(Fail::Invalid),
                _ => {
                    let s = self.i;
                    self.i = plain_run(b, self.i);
                    self.scratch.extend_from_slice(&b[s..self.i]);
                }
            }
        }
    }

    /// A number at `self.i`: `(is_float, text)`.
    fn number_text(&mut self) -> Res<(bool, usize, usize)> {
        let b = self.b;
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
            b'1'..=b'9' => {
                while self.i < b.len() && b[self.i].is_ascii_digit() {
                    self.i += 1;
                }
            }
            _ => return Err(Fail::Invalid),
        }
        let mut float = false;
        if self.peek() == b'.' {
            self.i += 1;
            if !self.peek().is_ascii_digit() {
                return Err(Fail::Invalid);
            }
            while self.i < b.len() && b[self.i].is_ascii_digit() {
                self.i += 1;
            }
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
            while self.i < b.len() && b[self.i].is_ascii_digit() {
                self.i += 1;
            }
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

    fn number(&mut self, py: Python<'_>) -> Res<PyObject> {
        let ptr = match self.number_value()? {
            Num::Float(v) => unsafe { ffi::PyFloat_FromDouble(v) },
            Num::Int(v) => unsafe { ffi::PyLong_FromLongLong(v) },
            Num::UInt(v) => unsafe { ffi::PyLong_FromUnsignedLongLong(v) },
        };
        owned(py, ptr)
    }

    /// Any JSON value as a Python object.
    pub(crate) fn value(&mut self, py: Python<'_>) -> Res<PyObject> {
        self.ws();
        match self.peek() {
            b'{' => self.object(py),
            b'[' => self.array(py),
            b'"' => {
                let s = self.string()?;
                self.py_string(py, s)
            }
            b't' => {
                self.literal(b"true")?;
                Ok(true.into_py(py))
            }
            b'f' => {
                self.literal(b"false")?;
                Ok(false.into_py(py))
            }
            b'n' => {
                self.literal(b"null")?;
                Ok(py.None())
            }
            b'-' | b'0'..=b'9' => self.number(py),
            _ => Err(Fail::Invalid),
        }
    }

    /// The array at the cursor (its `[`): each item read by `item`, the cursor then after its `]`.
    pub(crate) fn array_items(&mut self, mut item: impl FnMut(&mut Self) -> Res<()>) -> Res<()> {
        self.i += 1;
        self.enter()?;
        self.ws();
        if self.peek() == b']' {
            self.i += 1;
        } else {
            loop {
                item(self)?;
                self.ws();
                match self.peek() {
                    b',' => self.i += 1,
                    b']' => {
                        self.i += 1;
                        break;
                    }
                    _ => return Err(Fail::Invalid),
                }
            }
        }
        self.depth -= 1;
        Ok(())
    }

    fn array(&mut self, py: Python<'_>) -> Res<PyObject> {
        let mut items: Vec<PyObject> = Vec::new();
        self.array_items(|p| {
            items.push(p.value(py)?);
            Ok(())
        })?;
        let list = owned(py, unsafe {
            ffi::PyList_New(items.len() as ffi::Py_ssize_t)
        })?;
        for (k, item) in items.into_iter().enumerate() {
            unsafe { ffi::PyList_SET_ITEM(list.as_ptr(), k as ffi::Py_ssize_t, item.into_ptr()) };
        }
        Ok(list)
    }

    /// A key and its colon, the cursor then at the value.
    pub(crate) fn key(&mut self) -> Res<Str> {
        self.ws();
        if self.peek() != b'"' {
            return Err(Fail::Invalid);
        }
        let k = self.string()?;
        self.ws();
        if self.peek() != b':' {
            return Err(Fail::Invalid);
        }
        self.i += 1;
        Ok(k)
    }

    /// After a member: `true` at the closing brace (consumed), `false` after a comma.
    pub(crate) fn member_end(&mut self) -> Res<bool> {
        self.ws();
        match self.peek() {
            b',' => {
                self.i += 1;
                Ok(false)
            }
            b'}' => {
                self.i += 1;
                Ok(true)
            }
            _ => Err(Fail::Invalid),
        }
    }

    pub(crate) fn object(&mut self, py: Python<'_>) -> Res<PyObject> {
        self.i += 1;
        self.enter()?;
        let dict = owned(py, unsafe { ffi::PyDict_New() })?;
        self.ws();
        if self.peek() == b'}' {
            self.i += 1;
        } else {
            loop {
                let k = self.key()?;
                let key = self.py_key(py, k)?;
                let v = self.value(py)?;
                // the dict takes its own references; ours are released here directly (a `PyObject`'s
                // drop goes through pyo3's check of the GIL, a thread-local read, per key and value)
                let (key, v) = (key.into_ptr(), v.into_ptr());
                let failed = unsafe {
                    let failed = ffi::PyDict_SetItem(dict.as_ptr(), key, v) < 0;
                    ffi::Py_DECREF(key);
                    ffi::Py_DECREF(v);
                    failed
                };
                if failed {
                    return Err(Fail::Py(PyErr::fetch(py)));
                }
                if self.member_end()? {
                    break;
                }
            }
        }
        self.depth -= 1;
        Ok(dict)
    }

    /// Any JSON value, checked and dropped.
    pub(crate) fn skip(&mut self) -> Res<()> {
        self.ws();
        match self.peek() {
            b'{' => {
                self.i += 1;
                self.enter()?;
                self.ws();
                if self.peek() == b'}' {
                    self.i += 1;
                } else {
                    loop {
                        self.key()?;
                        self.skip()?;
                        if self.member_end()? {
                            break;
                        }
                    }
                }
                self.depth -= 1;
                Ok(())
            }
            b'[' => self.array_items(Self::skip),
            b'"' => self.string().map(|_| ()),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number_value().map(|_| ()),
            _ => Err(Fail::Invalid),
        }
    }
}
