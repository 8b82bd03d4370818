//! Tool calls of model output read straight to match keys: `pred_call(decode_call(body))` (matching.rs,
//! parse_call_json.rs) without the Python objects between them.
//!
//! The call object is read by parse_call_json.rs's own code (`read_call`, `text_object`) with a sink that
//! keys the arguments as they are scanned, with the grammar of parse_json.rs (`string`, `number_value`,
//! `key`, `member_end`, `skip`, the depth bound). A value whose key Python must decide (deeper than
//! `MAX_DEPTH` keys, a normalized numeric string too long to key) is kept as `None` until the end, since a
//! later duplicate key may drop it or the JSON may turn out malformed: only a final argument value without a
//! key delegates. Python objects are made only where `key()` itself calls Python: a non-ASCII string in
//! `normalized` mode (as it is scanned, even if a later duplicate drops it) and a non-ASCII name when
//! case-insensitive (Unicode rules are Python's); those take the GIL (`Python::with_gil`) if not held.

use super::call_json::{read_call, text_object, Args, CallSink};
use super::json::{Fail, Json, Num, Res, Str};
use crate::matching::{
    float_key, name_key, pred_call, text_key, KResult, Key, KeyError, Mode, PredCall, SStr,
    MAX_DEPTH,
};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

/// An object's members, sorted by name and distinct (the last value of a repeated name); `None` where
/// Python must key the value.
type Members = Vec<(SStr, Option<Key>)>;

/// Keys of `mode`: the name as read (folded at the end), objects as their keyed members.
struct KeySink {
    mode: Mode,
}

impl CallSink for KeySink {
    type Name = SStr;
    type Obj = Members;
    fn name(&mut self, p: &Json<'_>, s: Str) -> Res<SStr> {
        Ok(SStr::from(p.str_of(s)))
    }
    fn object(&mut self, p: &mut Json<'_>) -> Res<Members> {
        p.key_object(self.mode, 0) // an argument's value is keyed at depth 0
    }
}

/// A key (or name), `None` when unsupported (Python decides); Python errors stop the decode.
fn known<T>(k: KResult<T>) -> Res<Option<T>> {
    match k {
        Ok(k) => Ok(Some(k)),
        Err(KeyError::Unsupported) => Ok(None),
        Err(KeyError::Py(e)) => Err(Fail::Py(e)),
    }
}

/// The key of a decoded number (`int_key`/`float_key` of the object orjson makes of it).
fn num_key(n: Num) -> KResult<Key> {
    match n {
        Num::Int(v) => Ok(Key::Int(v)),
        Num::UInt(v) => Ok(match i64::try_from(v) {
            Ok(x) => Key::Int(x),
            Err(_) => Key::Big(v.to_string().into_boxed_str()),
        }),
        Num::Float(f) => float_key(f),
    }
}

impl Json<'_> {
    /// Any JSON value's key under `mode`, as `key_at` keys it at `depth`.
    fn key_value(&mut self, mode: Mode, depth: usize) -> Res<Option<Key>> {
        self.ws();
        match self.peek() {
            b'{' | b'[' if depth >= MAX_DEPTH => self.skip().map(|_| None),
            b'{' => {
                let members = self.key_object(mode, depth + 1)?;
                let items: Option<Vec<(SStr, Key)>> = members
                    .into_iter()
                    .map(|(k, v)| v.map(|v| (k, v)))
                    .collect();
                Ok(items.map(|d| Key::Dict(d.into_boxed_slice())))
            }
            b'[' => {
                let mut items = Some(Vec::with_capacity(4));
                self.array_items(|p| {
                    let v = p.key_value(mode, depth + 1)?;
                    items = items.take().zip(v).map(|(mut l, v)| {
                        l.push(v);
                        l
                    });
                    Ok(())
                })?;
                Ok(items.map(|l| Key::List(l.into_boxed_slice())))
            }
            b'"' => {
                let s = self.string()?;
                known(text_key(self.str_of(s), mode))
            }
            b't' => {
                self.literal(b"true")?;
                Ok(Some(bool_key(true, mode)))
            }
            b'f' => {
                self.literal(b"false")?;
                Ok(Some(bool_key(false, mode)))
            }
            b'n' => {
                self.literal(b"null")?;
                Ok(Some(Key::None))
            }
            b'-' | b'0'..=b'9' => known(num_key(self.number_value()?)),
            _ => Err(Fail::Invalid),
        }
    }

    /// The members of the object at the cursor (its `{`), their values keyed at `depth`.
    fn key_object(&mut self, mode: Mode, depth: usize) -> Res<Members> {
        self.i += 1;
        self.enter()?;
        let mut members: Members = Vec::with_capacity(4);
        self.ws();
        if self.peek() == b'}' {
            self.i += 1;
        } else {
            loop {
                let k = self.key()?;
                let name = SStr::from(self.str_of(k));
                members.push((name, self.key_value(mode, depth)?));
                if self.member_end()? {
                    break;
                }
            }
        }
        self.depth -= 1;
        // a stable sort keeps repeated names in order; the last one's value wins (Python `dict`)
        members.sort_by(|a, b| a.0.cmp(&b.0));
        members.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                std::mem::swap(&mut later.1, &mut kept.1);
            }
            same
        });
        Ok(members)
    }
}

/// A boolean's key: an integer in `python` mode (`True == 1`), its own kind otherwise.
fn bool_key(b: bool, mode: Mode) -> Key {
    match mode {
        Mode::Python => Key::Int(b as i64),
        _ => Key::Bool(b),
    }
}

/// `pred_call(decode_call(body))` without Python objects: `Ok(Some(call))` a call, `Ok(None)` malformed
/// (what `decode_call` gives as `Decoded::Malformed` or `Fail::Invalid`), `Err(Fail::Delegate)` whenever the
/// Python path must decide (whatever `decode_call` delegates, and any value `key()` reports Unsupported).
pub(crate) fn decode_pred(
    body: &str,
    limit: usize,
    mode: Mode,
    case_sensitive: bool,
) -> Res<Option<PredCall>> {
    let mut sink = KeySink { mode };
    let Some((name, args)) = read_call(body, limit, &mut sink)? else {
        return Ok(None);
    };
    let members = match args {
        Args::Dict(m) => m,
        Args::Text(s) => text_object(&s, limit, &mut sink)?.unwrap_or_default(),
        Args::Empty => Vec::new(),
    };
    let name = known(name_key(&name, case_sensitive))?.ok_or(Fail::Delegate)?;
    let args: Option<Vec<(SStr, Key)>> = members
        .into_iter()
        .map(|(k, v)| v.map(|v| (k, v)))
        .collect(); // in place: no second vector
    Ok(Some(PredCall::new(name, args.ok_or(Fail::Delegate)?)))
}

/// The test and benchmark hooks.
pub(crate) fn register(m: &PyModule) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(pred_from_text, m)?)?;
    m.add_function(wrap_pyfunction!(pred_from_text_reference, m)?)?;
    m.add_function(wrap_pyfunction!(pred_bench, m)?)
}

/// A call as the tests compare it: `("call", name, ((argument, key repr), ...))`.
fn call_tuple(py: Python<'_>, c: &PredCall) -> PyObject {
    let args: Vec<PyObject> = c
        .args
        .iter()
        .map(|(k, v)| (k.as_str(), format!("{:?}", v)).into_py(py))
        .collect();
    ("call", c.name.as_str(), PyTuple::new(py, args)).into_py(py)
}

/// Test hook: [`decode_pred`] of `body` as `("call", name, ((argument, key repr), ...))`, `"malformed"` or
/// `"delegate"`.
#[pyfunction]
fn pred_from_text(
    py: Python<'_>,
    body: &str,
    limit: usize,
    mode: &str,
    case_sensitive: bool,
) -> PyResult<PyObject> {
    Ok(
        match decode_pred(body, limit, Mode::parse(mode)?, case_sensitive) {
            Ok(Some(c)) => call_tuple(py, &c),
            Ok(None) => "malformed".into_py(py),
            Err(Fail::Delegate) => "delegate".into_py(py),
            Err(Fail::Invalid) => {
                return Err(pyo3::exceptions::PyAssertionError::new_err("invalid"))
            }
            Err(Fail::Py(e)) => return Err(e),
        },
    )
}

/// Test hook: [`pred_from_text`] the old way, `pred_call` of the `Call` `decode_call` builds.
#[pyfunction]
fn pred_from_text_reference(
    py: Python<'_>,
    body: &str,
    limit: usize,
    mode: &str,
    case_sensitive: bool,
) -> PyResult<PyObject> {
    use super::call_json::{decode_call, Decoded};
    let mode = Mode::parse(mode)?;
    let (name, arguments) = match decode_call(py, body, limit) {
        Ok(Decoded::Call(n, a)) => (n, a),
        Ok(Decoded::Malformed) | Err(Fail::Invalid) => return Ok("malformed".into_py(py)),
        Err(Fail::Delegate) => return Ok("delegate".into_py(py)),
        Err(Fail::Py(e)) => return Err(e),
    };
    let kwargs = pyo3::types::PyDict::new(py);
    kwargs.set_item("name", name)?;
    kwargs.set_item("arguments", arguments)?;
    let call = py
        .import("types")?
        .getattr("SimpleNamespace")?
        .call((), Some(kwargs))?;
    Ok(match pred_call(py, call, mode, case_sensitive) {
        Ok(c) => call_tuple(py, &c),
        Err(KeyError::Unsupported) => "delegate".into_py(py),
        Err(KeyError::Py(e)) => return Err(e),
    })
}

/// Benchmark hook: the calls read from `bodies`, directly ([`decode_pred`]) or, with `call_type` (the
/// `Call` class), the old way (`decode_call`, the `Call` built as the parser builds it, `pred_call`).
#[pyfunction]
fn pred_bench(
    py: Python<'_>,
    bodies: Vec<&str>,
    limit: usize,
    mode: &str,
    case_sensitive: bool,
    call_type: Option<Py<pyo3::types::PyType>>,
) -> PyResult<usize> {
    use super::call_json::{decode_call, Decoded};
    let mode = Mode::parse(mode)?;
    let slots = call_type.map(|t| super::Slots::new(py, t, &super::CALL_FIELDS));
    let mut n = 0;
    for body in bodies {
        let got = match &slots {
            None => decode_pred(body, limit, mode, case_sensitive)
                .ok()
                .flatten(),
            Some(slots) => match decode_call(py, body, limit) {
                Ok(Decoded::Call(name, arguments)) => {
                    let call = slots.build(py, [name, arguments])?;
                    pred_call(py, call.as_ref(py), mode, case_sensitive).ok()
                }
                _ => None,
            },
        };
        n += std::hint::black_box(got).map_or(0, |c| c.args.len() + 1);
    }
    Ok(n)
}
