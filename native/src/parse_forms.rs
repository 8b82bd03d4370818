//! The `messages` and `turns` forms: the compiled twins of `parse.parse_messages` / `parse.parse_turns`.
//!
//! Only plain JSON is read here: anything Python would refuse (a message that is not an object, a key the
//! API does not know, a role that is not a string, ...) or that is not a plain JSON type returns `None`,
//! and the Python reference reads the rollout again and raises its error with its JSON path.

use super::ffi::{dict_get, list_items};
use super::structured::{exact_dict, given, known_fields, read_list};
use super::{
    build_turns, py_strip, PySink, Sink, Slots, TextParser, TurnOut, CALL_FIELDS, TURN_FIELDS,
};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple, PyType};
use pyo3::{intern, AsPyPointer};
use std::borrow::Cow;

/// `keys.MESSAGE` and `keys.TURN`.
pub(super) const MESSAGE: [&str; 11] = [
    "role",
    "content",
    "name",
    "tool_calls",
    "tool_call_id",
    "function_call",
    "refusal",
    "reasoning_content",
    "reasoning",
    "annotations",
    "audio",
];
pub(super) const TURN: [&str; 4] = ["tool_calls", "calls", "answer", "state"];

/// Notes `(code, path relative to the rollout, count)`.
pub(crate) type Notes = Vec<(&'static str, String, usize)>;

/// Turns read here, before they become Python objects, and their notes; `None`: Python reads them.
pub(crate) type Turns<C = PyObject> = Option<(Vec<TurnOut<C>>, Notes)>;

pub(crate) fn is_exact_str(v: &PyAny) -> bool {
    unsafe { ffi::PyUnicode_CheckExact(v.as_ptr()) != 0 }
}

pub(crate) fn is_exact_list(v: &PyAny) -> bool {
    unsafe { ffi::PyList_CheckExact(v.as_ptr()) != 0 }
}

fn result(py: Python<'_>, turns: Vec<PyObject>, notes: Notes) -> PyObject {
    let notes: PyObject = if notes.is_empty() {
        py.None()
    } else {
        PyList::new(
            py,
            notes
                .into_iter()
                .map(|(c, p, n)| PyTuple::new(py, [c.into_py(py), p.into_py(py), n.into_py(py)])),
        )
        .into()
    };
    (PyList::new(py, turns), notes).into_py(py)
}

/// `parse._content_text` for plain JSON: `None` when Python must read it.
fn content_text(v: Option<&PyAny>) -> Option<Cow<'_, str>> {
    let Some(v) = v else {
        return Some(Cow::Borrowed(""));
    };
    if is_exact_str(v) {
        return v
            .downcast::<PyString>()
            .ok()?
            .to_str()
            .ok()
            .map(Cow::Borrowed);
    }
    if !is_exact_list(v) {
        return None;
    }
    let mut out = String::new();
    for part in list_items(v.downcast::<PyList>().ok()?) {
        if let Some(d) = exact_dict(part) {
            match dict_get(d, intern!(v.py(), "text")) {
                Some(t) if is_exact_str(t) => {
                    out.push_str(t.downcast::<PyString>().ok()?.to_str().ok()?)
                }
                Some(t) if unsafe { ffi::PyUnicode_Check(t.as_ptr()) } != 0 => return None,
                _ => {}
            }
        } else if is_exact_str(part) {
            out.push_str(part.downcast::<PyString>().ok()?.to_str().ok()?);
        } else {
            return None; // not a content part object (Python's error), or an odd type
        }
    }
    Some(Cow::Owned(out))
}

pub(crate) fn parse_messages(
    p: &TextParser,
    py: Python<'_>,
    messages: &PyList,
    rel: &str,
    model_call: &PyAny,
) -> PyResult<PyObject> {
    Ok(
        match messages_turns(p, &p.py_sink(), py, messages, rel, model_call, true)? {
            Some((turns, notes)) => result(py, build_turns(py, turns, &p.turn)?, notes),
            None => py.None(),
        },
    )
}

/// `parse_messages` before the turns become Python objects; without `context` no turn has an
/// `observation` (`None`; see `parse_group`).
pub(crate) fn messages_turns<S: Sink>(
    p: &TextParser,
    sink: &S,
    py: Python<'_>,
    messages: &PyList,
    rel: &str,
    model_call: &PyAny,
    context: bool,
) -> PyResult<Turns<S::Call>> {
    let mut turns: Vec<TurnOut<S::Call>> = Vec::new();
    let mut notes: Notes = Vec::new();
    let mut last_head = String::new();
    for (k, msg) in list_items(messages).enumerate() {
        let Some(d) = exact_dict(msg) else {
            return Ok(None);
        };
        let Some(fields) = known_fields(d, &MESSAGE) else {
            return Ok(None);
        };
        let role = match fields[0] {
            Some(r) if is_exact_str(r) => r,
            _ => return Ok(None),
        };
        let Ok(role_text) = role.downcast::<PyString>()?.to_str() else {
            return Ok(None);
        };
        if role_text != "assistant" {
            if let Some(last) = turns.last_mut().filter(|_| context) {
                let content: PyObject = fields[1].map_or_else(|| py.None(), |c| c.into());
                let seen = PyTuple::new(py, [role.into(), content]).into();
                last.observation.get_or_insert_with(Vec::new).push(seen);
            }
            continue;
        }
        let Some(content) = content_text(given(fields[1])) else {
            return Ok(None);
        };
        let raw = given(fields[3]);
        let mut turn = TurnOut::new(py, Vec::new());
        let mut read_calls = true;
        if let Some(raw) = raw {
            if !is_exact_list(raw) {
                return Ok(None);
            }
            let raw: &PyList = raw.downcast()?;
            let Some((calls, malformed)) = read_list(py, raw, sink, model_call, p.max_depth)?
            else {
                return Ok(None);
            };
            turn.calls = calls;
            turn.malformed = malformed;
            turn.blocks = raw.len();
            turn.given = raw.len();
            if malformed > 0 {
                notes.push((
                    "malformed_calls",
                    format!("{rel}[{k}].tool_calls"),
                    malformed,
                ));
            }
            read_calls = raw.is_empty();
        }
        let (r, head) = p.read(sink, py, &content, read_calls)?;
        turn.calls.extend(r.calls);
        turn.malformed += r.malformed;
        turn.blocks += r.blocks;
        turn.attempted = r.attempted;
        turn.answer = r.answer.unwrap_or_else(|| py.None());
        if !r.notes.is_empty() {
            let path = format!("{rel}[{k}].content");
            notes.extend(r.notes.into_iter().map(|(c, n)| (c, path.clone(), n)));
        }
        last_head = head.into_owned();
        turns.push(turn);
    }
    if turns.is_empty() && !messages.is_empty() {
        notes.push(("no_assistant_messages", rel.to_owned(), 1));
    }
    if p.last_text {
        if let Some(last) = turns.last_mut() {
            if last.blocks == 0 && !last.attempted && last.answer.is_none(py) {
                let t = py_strip(&last_head);
                if !t.is_empty() {
                    last.answer = super::keys::text(py, t)?;
                }
            }
        }
    }
    Ok(Some((turns, notes)))
}

/// `parse_turns(turns, rel, call_type, turn_type, model_call, canonical_json, max_depth)`: `(turns, notes)`
/// with `notes` `None` or a list of `(code, path, count)`; `None` when Python must read them.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn parse_turns(
    py: Python<'_>,
    turns_in: &PyList,
    rel: &str,
    call_type: Py<PyType>,
    turn_type: Py<PyType>,
    model_call: &PyAny,
    canonical_json: &PyAny,
    max_depth: usize,
) -> PyResult<PyObject> {
    let call = Slots::new(py, call_type, &CALL_FIELDS);
    let turn = Slots::new(py, turn_type, &TURN_FIELDS);
    let sink = PySink {
        call: &call,
        fallback: None,
        max_depth,
    };
    Ok(
        match turns_turns(
            py,
            turns_in,
            rel,
            &sink,
            model_call,
            canonical_json,
            max_depth,
        )? {
            Some((turns, notes)) => result(py, build_turns(py, turns, &turn)?, notes),
            None => py.None(),
        },
    )
}

/// `parse_turns` before the turns become Python objects.
pub(crate) fn turns_turns<S: Sink>(
    py: Python<'_>,
    turns_in: &PyList,
    rel: &str,
    sink: &S,
    model_call: &PyAny,
    canonical_json: &PyAny,
    max_depth: usize,
) -> PyResult<Turns<S::Call>> {
    let mut turns = Vec::with_capacity(turns_in.len());
    let mut notes: Notes = Vec::new();
    for (k, t) in list_items(turns_in).enumerate() {
        let Some(d) = exact_dict(t) else {
            return Ok(None);
        };
        let Some(fields) = known_fields(d, &TURN) else {
            return Ok(None);
        };
        let tool_calls = given(fields[0]);
        let calls_given = given(fields[1]);
        if tool_calls.is_some() && calls_given.is_some() {
            return Ok(None);
        }
        let (key, raw) = match tool_calls {
            Some(raw) => ("tool_calls", Some(raw)),
            None => ("calls", calls_given),
        };
        let mut turn = TurnOut::new(py, Vec::new());
        if let Some(raw) = raw {
            if !is_exact_list(raw) {
                return Ok(None);
            }
            let raw: &PyList = raw.downcast()?;
            let Some((calls, malformed)) = read_list(py, raw, sink, model_call, max_depth)? else {
                return Ok(None);
            };
            turn.calls = calls;
            turn.malformed = malformed;
            turn.blocks = raw.len();
            turn.given = raw.len();
            if malformed > 0 {
                notes.push(("malformed_calls", format!("{rel}[{k}].{key}"), malformed));
            }
        }
        match given(fields[2]) {
            None => {}
            Some(a) if is_exact_str(a) => turn.answer = a.into(),
            Some(_) => return Ok(None),
        }
        if let Some(state) = given(fields[3]) {
            turn.state = canonical_json.call1((state,))?.into();
        }
        turns.push(turn);
    }
    Ok(Some((turns, notes)))
}
