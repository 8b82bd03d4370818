//! Tool-call objects in model output: `calls.call_from_obj(loads_bounded(body))` read straight from the
//! JSON text, building Python objects only for what makes the call (its `name`, its arguments), checking
//! and dropping the rest, with the grammar and limits of parse_json.rs.

use super::json::{Fail, Json, Res};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// A field of a call object, the last occurrence of its key.
enum Field {
    Absent,
    Null,
    Text(String),
    Dict(PyObject),
    Other,
}

/// The fields of a call object (the top level or its OpenAI `function` wrapper) that make the call.
struct CallFields {
    has_name: bool,
    name: Option<PyObject>, // the last `name`, when a string
    arguments: Field,
    parameters: Field,
}

impl CallFields {
    fn new() -> Self {
        CallFields {
            has_name: false,
            name: None,
            arguments: Field::Absent,
            parameters: Field::Absent,
        }
    }
}

impl<'a> Json<'a> {
    /// The value of `arguments`/`parameters`: kept as what `decode_arguments` distinguishes.
    fn field(&mut self, py: Python<'_>) -> Res<Field> {
        self.ws();
        match self.peek() {
            b'{' => Ok(Field::Dict(self.object(py)?)),
            b'"' => {
                let s = self.string()?;
                Ok(Field::Text(self.str_of(s).to_owned()))
            }
            b'n' => {
                self.literal(b"null")?;
                Ok(Field::Null)
            }
            _ => {
                self.skip()?;
                Ok(Field::Other)
            }
        }
    }

    /// The members of a call object (cursor after its `{`, depth entered); `function` read as a nested
    /// call object when `outer`.
    fn call_members(
        &mut self,
        py: Python<'_>,
        outer: bool,
    ) -> Res<(CallFields, Option<CallFields>)> {
        let mut own = CallFields::new();
        let mut function: Option<CallFields> = None;
        self.ws();
        if self.peek() == b'}' {
            self.i += 1;
            return Ok((own, function));
        }
        loop {
            let k = self.key()?;
            match self.str_of(k).as_bytes() {
                b"name" => {
                    own.has_name = true;
                    self.ws();
                    own.name = if self.peek() == b'"' {
                        let s = self.string()?;
                        Some(self.py_key(py, s)?)
                    } else {
                        self.skip()?;
                        None
                    };
                }
                b"arguments" => own.arguments = self.field(py)?,
                b"parameters" => own.parameters = self.field(py)?,
                b"function" if outer => {
                    self.ws();
                    function = if self.peek() == b'{' {
                        self.i += 1;
                        self.enter()?;
                        let (inner, _) = self.call_members(py, false)?;
                        self.depth -= 1;
                        Some(inner)
                    } else {
                        self.skip()?;
                        None
                    };
                }
                _ => self.skip()?,
            }
            if self.member_end()? {
                return Ok((own, function));
            }
        }
    }
}

/// What a block of model output decodes to.
pub(crate) enum Decoded {
    Call(PyObject, PyObject), // name (str), arguments (dict)
    Malformed,
}

/// `parse._decode_call`: `call_from_obj(loads_bounded(body))`, `None` (malformed) on bad JSON or no call.
pub(crate) fn decode_call(py: Python<'_>, body: &str, limit: usize) -> Res<Decoded> {
    let mut p = Json::new(body, limit);
    p.ws();
    if p.peek() != b'{' {
        return Ok(Decoded::Malformed); // not an object (valid or not): never a call
    }
    p.i += 1;
    p.enter()?;
    let got = p.call_members(py, true);
    let (top, function) = match got {
        Ok(v) => v,
        Err(Fail::Invalid) => return Ok(Decoded::Malformed),
        Err(e) => return Err(e),
    };
    if !p.at_end() {
        return Ok(Decoded::Malformed);
    }
    let fields = match function {
        Some(f) if f.has_name => f,
        _ => top,
    };
    let name = match fields.name {
        Some(n) => n,
        None => return Ok(Decoded::Malformed),
    };
    let raw = match fields.arguments {
        Field::Absent | Field::Null => fields.parameters,
        other => other,
    };
    let arguments = match raw {
        Field::Dict(d) => d,
        Field::Text(s) => arguments_from_text(py, &s, limit)?,
        _ => PyDict::new(py).into(),
    };
    Ok(Decoded::Call(name, arguments))
}

/// `decode_arguments` of a string: the object it holds, else `{}` (over-deep JSON: the Python reference).
pub(crate) fn arguments_from_text(py: Python<'_>, text: &str, limit: usize) -> Res<PyObject> {
    let mut p = Json::new(text, limit);
    p.ws();
    let got = match p.peek() {
        b'{' => p.object(py).map(Some),
        b'[' => p.skip().map(|_| None), // a list: `{}`, unless it is too deep (delegated)
        _ => Ok(None),                  // a scalar or not JSON: `{}`
    };
    match got {
        Ok(Some(obj)) if p.at_end() => Ok(obj),
        Ok(_) | Err(Fail::Invalid) => Ok(PyDict::new(py).into()),
        Err(e) => Err(e),
    }
}
