//! Tool-call objects in model output: `calls.call_from_obj(loads_bounded(body))` read straight from the
//! JSON text, building only what makes the call (its `name`, its arguments), checking and dropping the
//! rest, with the grammar and limits of parse_json.rs. What the name and the arguments become is the
//! [`CallSink`]'s: Python objects here ([`decode_call`]), match keys in parse_pred.rs.

use super::json::{Fail, Json, Res, Str};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// What a call's name and argument objects are read into.
pub(crate) trait CallSink {
    type Name;
    type Obj;
    /// The string `s` of a `name` member.
    fn name(&mut self, p: &Json<'_>, s: Str) -> Res<Self::Name>;
    /// The object at the cursor (its `{`).
    fn object(&mut self, p: &mut Json<'_>) -> Res<Self::Obj>;
}

/// Python objects: the name a `str` (through the key cache), objects `dict`s.
struct PySink<'py>(Python<'py>);

impl CallSink for PySink<'_> {
    type Name = PyObject;
    type Obj = PyObject;
    fn name(&mut self, p: &Json<'_>, s: Str) -> Res<PyObject> {
        p.py_key(self.0, s)
    }
    fn object(&mut self, p: &mut Json<'_>) -> Res<PyObject> {
        p.object(self.0)
    }
}

/// A field of a call object, the last occurrence of its key.
enum Field<O> {
    Absent,
    Null,
    Text(String),
    Dict(O),
    Other,
}

/// The fields of a call object (the top level or its OpenAI `function` wrapper) that make the call.
struct CallFields<N, O> {
    has_name: bool,
    name: Option<N>, // the last `name`, when a string
    arguments: Field<O>,
    parameters: Field<O>,
}

impl<N, O> CallFields<N, O> {
    fn new() -> Self {
        CallFields {
            has_name: false,
            name: None,
            arguments: Field::Absent,
            parameters: Field::Absent,
        }
    }
}

type Fields<S> = CallFields<<S as CallSink>::Name, <S as CallSink>::Obj>;

impl<'a> Json<'a> {
    /// The value of `arguments`/`parameters`: kept as what `decode_arguments` distinguishes.
    fn field<S: CallSink>(&mut self, sink: &mut S) -> Res<Field<S::Obj>> {
        self.ws();
        match self.peek() {
            b'{' => Ok(Field::Dict(sink.object(self)?)),
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

    /// The call object at the cursor (its `{`): its own fields and, when `outer`, those of its
    /// `function` member when that is an object (a nested call object).
    fn call_object<S: CallSink>(
        &mut self,
        sink: &mut S,
        outer: bool,
    ) -> Res<(Fields<S>, Option<Fields<S>>)> {
        let mut own = CallFields::new();
        let mut function = None;
        self.object_members(|p, k| {
            match p.str_of(k).as_bytes() {
                b"name" => {
                    own.has_name = true;
                    p.ws();
                    own.name = if p.peek() == b'"' {
                        let s = p.string()?;
                        Some(sink.name(p, s)?)
                    } else {
                        p.skip()?;
                        None
                    };
                }
                b"arguments" => own.arguments = p.field(sink)?,
                b"parameters" => own.parameters = p.field(sink)?,
                b"function" if outer => {
                    p.ws();
                    function = if p.peek() == b'{' {
                        Some(p.call_object(sink, false)?.0)
                    } else {
                        p.skip()?;
                        None
                    };
                }
                _ => p.skip()?,
            }
            Ok(())
        })?;
        Ok((own, function))
    }
}

/// A call's arguments before `decode_arguments` decodes them.
pub(crate) enum Args<O> {
    /// An object.
    Dict(O),
    /// A string: its JSON is read by [`text_object`].
    Text(String),
    /// Anything else (absent, null, another type): `{}`.
    Empty,
}

/// A call's name and arguments as a sink reads them.
pub(crate) type NameArgs<S> = (<S as CallSink>::Name, Args<<S as CallSink>::Obj>);

/// `call_from_obj(loads_bounded(body))` up to its arguments: the name and the arguments, `None` when
/// malformed (bad JSON or no call).
pub(crate) fn read_call<S: CallSink>(
    body: &str,
    limit: usize,
    sink: &mut S,
) -> Res<Option<NameArgs<S>>> {
    let mut p = Json::new(body, limit);
    p.ws();
    if p.peek() != b'{' {
        return Ok(None); // not an object (valid or not): never a call
    }
    let (top, function) = match p.call_object(sink, true) {
        Ok(v) => v,
        Err(Fail::Invalid) => return Ok(None),
        Err(e) => return Err(e),
    };
    if !p.at_end() {
        return Ok(None);
    }
    let fields = match function {
        Some(f) if f.has_name => f,
        _ => top,
    };
    let name = match fields.name {
        Some(n) => n,
        None => return Ok(None),
    };
    let raw = match fields.arguments {
        Field::Absent | Field::Null => fields.parameters,
        other => other,
    };
    let args = match raw {
        Field::Dict(d) => Args::Dict(d),
        Field::Text(s) => Args::Text(s),
        _ => Args::Empty,
    };
    Ok(Some((name, args)))
}

/// `decode_arguments` of a string: the object it holds, `None` for `{}` (over-deep JSON: delegated).
pub(crate) fn text_object<S: CallSink>(
    text: &str,
    limit: usize,
    sink: &mut S,
) -> Res<Option<S::Obj>> {
    let mut p = Json::new(text, limit);
    p.ws();
    let got = match p.peek() {
        b'{' => sink.object(&mut p).map(Some),
        b'[' => p.skip().map(|_| None), // a list: `{}`, unless it is too deep (delegated)
        _ => Ok(None),                  // a scalar or not JSON: `{}`
    };
    match got {
        Ok(Some(obj)) if p.at_end() => Ok(Some(obj)),
        Ok(_) | Err(Fail::Invalid) => Ok(None),
        Err(e) => Err(e),
    }
}

/// What a block of model output decodes to.
pub(crate) enum Decoded {
    Call(PyObject, PyObject), // name (str), arguments (dict)
    Malformed,
}

/// `parse._decode_call`: `call_from_obj(loads_bounded(body))`, `None` (malformed) on bad JSON or no call.
#[inline]
pub(crate) fn decode_call(py: Python<'_>, body: &str, limit: usize) -> Res<Decoded> {
    let Some((name, args)) = read_call(body, limit, &mut PySink(py))? else {
        return Ok(Decoded::Malformed);
    };
    let arguments = match args {
        Args::Dict(d) => d,
        Args::Text(s) => arguments_from_text(py, &s, limit)?,
        Args::Empty => PyDict::new(py).into(),
    };
    Ok(Decoded::Call(name, arguments))
}

/// `decode_arguments` of a string: the object it holds, else `{}` (over-deep JSON: the Python reference).
pub(crate) fn arguments_from_text(py: Python<'_>, text: &str, limit: usize) -> Res<PyObject> {
    Ok(text_object(text, limit, &mut PySink(py))?.unwrap_or_else(|| PyDict::new(py).into()))
}
