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
//!
//! Here: the cursor, values as Python objects, the readers of arrays and objects (`array_items`,
//! `object_members`, shared by every reader of this JSON) and `skip`; strings in parse_json_str.rs,
//! numbers in parse_json_num.rs.

#[path = "parse_json_num.rs"]
mod num;
#[path = "parse_json_str.rs"]
mod string;

pub(crate) use num::Num;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::AsPyPointer;
pub(crate) use string::Str;

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

pub(crate) struct Json<'a> {
    pub(crate) b: &'a [u8],
    pub(crate) i: usize,
    pub(crate) depth: usize,
    limit: usize,
    pub(crate) scratch: Vec<u8>, // a string with escapes, decoded (parse_json_str.rs)
}

impl<'a> Json<'a> {
    pub(crate) fn new(text: &'a str, limit: usize) -> Self {
        Json {
            b: text.as_bytes(),
            i: 0,
            depth: 0,
            limit,
            scratch: Vec::new(),
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
    fn key(&mut self) -> Res<Str> {
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
    fn member_end(&mut self) -> Res<bool> {
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

    /// The object at the cursor (its `{`): `member` reads each member's value (the cursor at it) given
    /// its key (read before the value: a key in the scratch buffer is overwritten by the value's
    /// strings), the cursor then after the `}`.
    #[inline]
    pub(crate) fn object_members(
        &mut self,
        mut member: impl FnMut(&mut Self, Str) -> Res<()>,
    ) -> Res<()> {
        self.i += 1;
        self.enter()?;
        self.ws();
        if self.peek() == b'}' {
            self.i += 1;
        } else {
            loop {
                let k = self.key()?;
                member(self, k)?;
                if self.member_end()? {
                    break;
                }
            }
        }
        self.depth -= 1;
        Ok(())
    }

    /// The object at the cursor as a Python `dict`.
    pub(crate) fn object(&mut self, py: Python<'_>) -> Res<PyObject> {
        let dict = owned(py, unsafe { ffi::PyDict_New() })?;
        self.object_members(|p, k| {
            let key = p.py_key(py, k)?;
            let v = p.value(py)?;
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
            Ok(())
        })?;
        Ok(dict)
    }

    /// Any JSON value, checked and dropped.
    pub(crate) fn skip(&mut self) -> Res<()> {
        self.ws();
        match self.peek() {
            b'{' => self.object_members(|p, _| p.skip()),
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
