//! Tool calls of model output read straight to match keys: `pred_call(decode_call(body))` (matching.rs,
//! parse_call_json.rs) without the Python objects between them.
//!
//! The call object is read by parse_call_json.rs's own code (`read_call`, `text_object`) with a sink that
//! keys the arguments as they are scanned, with the grammar of parse_json.rs (`string`, `number_value`,
//! `object_members`, `array_items`, `skip`, the depth bound), into buffers kept across calls (one exact
//! allocation per finished object or list). A value whose key Python must decide (deeper than
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
use std::cmp::Ordering;

/// A member of an object being read: its name and its value's key, `None` where Python must key it.
type Member = (SStr, Option<Key>);

/// The buffers of the keyed reading, kept across calls (a thread's, see [`with_bufs`]): the members of
/// the objects being read (each object's after its parent's, sorted and distinct as they come) and the
/// items of the lists being read. A finished object or list moves its own out into one allocation of
/// its exact size.
#[derive(Default)]
struct Bufs {
    members: Vec<Member>,
    items: Vec<Key>,
}

/// Buffers kept longer than this (in elements) are released after a call rather than kept.
const KEEP: usize = 256;

thread_local! {
    static BUFS: std::cell::RefCell<Bufs> = std::cell::RefCell::default();
}

/// `f` with the thread's buffers (fresh ones when they are in use: `key()` may call Python).
fn with_bufs<T>(f: impl FnOnce(&mut Bufs) -> T) -> T {
    BUFS.with(|cell| match cell.try_borrow_mut() {
        Ok(mut bufs) => {
            let got = f(&mut bufs);
            bufs.members.clear(); // an error leaves what it read
            bufs.items.clear();
            if bufs.members.capacity() > KEEP || bufs.items.capacity() > KEEP {
                *bufs = Bufs::default();
            }
            got
        }
        Err(_) => f(&mut Bufs::default()),
    })
}

/// Keys of `mode` into `bufs`: the name folded as matching compares it when it can be here (`folded`),
/// objects as their keyed members.
struct KeySink<'b> {
    mode: Mode,
    case_sensitive: bool,
    bufs: &'b mut Bufs,
}

/// A call's name as read: folded (`true`) or its text as written, for Python to fold (`false`).
type Name = (SStr, bool);

impl CallSink for KeySink<'_> {
    type Name = Name;
    type Obj = Vec<Member>;
    fn name(&mut self, p: &Json<'_>, s: Str) -> Res<Name> {
        let r = p.str_of(s);
        Ok(if self.case_sensitive {
            (SStr::from(r), true)
        } else if r.is_ascii() {
            (SStr::ascii_lower(r), true) // `name_key` of ASCII text
        } else {
            (SStr::from(r), false)
        })
    }
    fn object(&mut self, p: &mut Json<'_>) -> Res<Vec<Member>> {
        // an argument's value is keyed at depth 0
        let start = self.key_object(p, 0)?;
        Ok(take_from(&mut self.bufs.members, start))
    }
}

/// The elements of `buf` from `start` on, moved out into a vector of their exact size (one copy of
/// the bytes, as `drain(start..).collect()` would do element by element).
fn take_from<T>(buf: &mut Vec<T>, start: usize) -> Vec<T> {
    let n = buf.len() - start;
    let mut out = Vec::with_capacity(n);
    // SAFETY: the `n` elements move to `out` (capacity `n`) and `buf` forgets them
    unsafe {
        std::ptr::copy_nonoverlapping(buf.as_ptr().add(start), out.as_mut_ptr(), n);
        buf.set_len(start);
        out.set_len(n);
    }
    out
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

/// `members` with `name` set to `value`, kept sorted by name and distinct from `start` on: a repeated
/// name takes the later value in its place (Python `dict` assignment; the order is the key's own).
fn set_member(members: &mut Vec<Member>, start: usize, name: SStr, value: Option<Key>) {
    let mut at = members.len();
    while at > start {
        match members[at - 1].0.cmp(&name) {
            Ordering::Greater => at -= 1,
            Ordering::Equal => {
                members[at - 1].1 = value;
                return;
            }
            Ordering::Less => break,
        }
    }
    members.insert(at, (name, value));
}

impl KeySink<'_> {
    /// Any JSON value's key under `mode`, as `key_at` keys it at `depth`.
    fn key_value(&mut self, p: &mut Json<'_>, depth: usize) -> Res<Option<Key>> {
        let mode = self.mode;
        p.ws();
        match p.peek() {
            b'{' | b'[' if depth >= MAX_DEPTH => p.skip().map(|_| None),
            b'{' => {
                let start = self.key_object(p, depth + 1)?;
                let members = &mut self.bufs.members;
                let known = members[start..].iter().all(|m| m.1.is_some());
                let dict = known.then(|| {
                    let items = members.drain(start..).map(|(k, v)| (k, v.expect("keyed")));
                    Key::Dict(items.collect())
                });
                members.truncate(start);
                Ok(dict)
            }
            b'[' => {
                let start = self.bufs.items.len();
                let mut known = true;
                p.array_items(|p| {
                    match self.key_value(p, depth + 1)? {
                        Some(v) if known => self.bufs.items.push(v),
                        Some(_) => {}
                        None => known = false,
                    }
                    Ok(())
                })?;
                let items = &mut self.bufs.items;
                let list = known.then(|| Key::List(take_from(items, start).into_boxed_slice()));
                items.truncate(start);
                Ok(list)
            }
            b'"' => {
                let s = p.string()?;
                known(text_key(p.str_of(s), mode))
            }
            b't' => {
                p.literal(b"true")?;
                Ok(Some(bool_key(true, mode)))
            }
            b'f' => {
                p.literal(b"false")?;
                Ok(Some(bool_key(false, mode)))
            }
            b'n' => {
                p.literal(b"null")?;
                Ok(Some(Key::None))
            }
            b'-' | b'0'..=b'9' => known(num_key(p.number_value()?)),
            _ => Err(Fail::Invalid),
        }
    }

    /// The object at the cursor (its `{`), its values keyed at `depth`: its members are those of
    /// `bufs.members` from the index returned (sorted by name, distinct: the last value of a name).
    fn key_object(&mut self, p: &mut Json<'_>, depth: usize) -> Res<usize> {
        let start = self.bufs.members.len();
        p.object_members(|p, k| {
            let name = SStr::from(p.str_of(k));
            let value = self.key_value(p, depth)?;
            set_member(&mut self.bufs.members, start, name, value);
            Ok(())
        })?;
        Ok(start)
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
    with_bufs(|bufs| {
        let mut sink = KeySink {
            mode,
            case_sensitive,
            bufs,
        };
        let Some(((name, folded), args)) = read_call(body, limit, &mut sink)? else {
            return Ok(None);
        };
        let members = match args {
            Args::Dict(m) => m,
            Args::Text(s) => text_object(&s, limit, &mut sink)?.unwrap_or_default(),
            Args::Empty => Vec::new(),
        };
        let name = if folded {
            name
        } else {
            known(name_key(&name, case_sensitive))?.ok_or(Fail::Delegate)?
        };
        if members.iter().any(|m| m.1.is_none()) {
            return Err(Fail::Delegate);
        }
        // sorted and distinct already (`set_member`): `PredCall::new` would sort them again
        let args = members.into_iter().map(|(k, v)| (k, v.expect("keyed")));
        Ok(Some(PredCall {
            name,
            args: args.collect(), // in place: no second vector
        }))
    })
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
