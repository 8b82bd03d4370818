//! `text` rollouts (and the content of assistant messages) to turns: the compiled twin of
//! `turnscore.core.parse.parse_text` / `read_model_text` for literal-tag formats (`OPEN(.*?)CLOSE` call and
//! answer patterns, what `tags.TagScanner` scans). Every offset is a byte offset of UTF-8 text: a literal
//! tag found in valid UTF-8 starts on a character boundary, so slices are those of Python's `str.find`.
//!
//! Python stays the reference: a text Rust cannot borrow as UTF-8 (lone surrogates) returns `None` and
//! Python parses it; a block whose JSON nests deeper than the bound, or holds an integer beyond 64 bits,
//! is decoded by the Python function the parser was given (`parse._decode_call`).

#[path = "parse_call_json.rs"]
mod call_json;
#[path = "parse_ffi.rs"]
mod ffi;
#[path = "parse_forms.rs"]
pub(crate) mod forms;
#[path = "parse_group.rs"]
pub(crate) mod group;
#[path = "parse_hash.rs"]
mod hash;
#[path = "parse_hits.rs"]
mod hits;
#[path = "parse_json.rs"]
mod json;
#[path = "parse_keys.rs"]
mod keys;
#[path = "parse_pred.rs"]
pub(crate) mod pred;
#[path = "parse_read.rs"]
mod read;
#[path = "parse_scan.rs"]
pub(crate) mod scan;
#[path = "parse_sink.rs"]
mod sink;
#[path = "parse_slots.rs"]
mod slots;
#[path = "parse_calls.rs"]
mod structured;

pub(crate) use json::Fail;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple, PyType};
use scan::{py_strip, THINK_CLOSE, THINK_OPEN};
pub(crate) use sink::{build_turns, PySink, Sink, TurnOut};
pub(crate) use slots::Slots;

/// The fields of `calls.Call` and of `turns.Turn` (`turns.NATIVE_TURN_FIELDS`), in the order built here.
pub(crate) const CALL_FIELDS: [&str; 2] = ["name", "arguments"];
pub(crate) const TURN_FIELDS: [&str; 9] = [
    "calls",
    "answer",
    "malformed",
    "blocks",
    "text",
    "given",
    "attempted",
    "state",
    "observation",
];

pub fn register(m: &PyModule) -> PyResult<()> {
    // The keys the compiled side accepts per object, for the test that keeps them equal to `core/keys.py`.
    let known = pyo3::types::PyDict::new(m.py());
    known.set_item("TOOL_CALL", structured::TOOL_CALL.to_vec())?;
    known.set_item("FUNCTION", structured::FUNCTION.to_vec())?;
    known.set_item("MESSAGE", forms::MESSAGE.to_vec())?;
    known.set_item("TURN", forms::TURN.to_vec())?;
    m.add("KNOWN_KEYS", known)?;
    m.add_function(wrap_pyfunction!(structured::structured_calls, m)?)?;
    m.add_function(wrap_pyfunction!(forms::parse_turns, m)?)?;
    pred::register(m)?;
    m.add_class::<TextParser>()
}

/// One turn's reading, before it becomes Python objects.
struct Read<C> {
    calls: Vec<C>,
    malformed: usize,
    blocks: usize,
    answer: Option<PyObject>,
    attempted: bool,
    notes: Vec<(&'static str, usize)>,
}

/// The parser of one format: literal call and answer tags, layout, think stripping, answer mode.
#[pyclass(module = "turnscore_native")]
pub struct TextParser {
    /// separator, turn end, call, answer and think tags (parse_hits.rs)
    tags: hits::TagSet,
    lines: bool,
    strip_think: bool,
    last_text: bool,
    max_depth: usize,
    call: Slots,
    turn: Slots,
    fallback: PyObject,
    group: Option<group::GroupTypes>,
}

impl TextParser {
    /// The sink of Python `Call` objects this parser builds.
    pub(crate) fn py_sink(&self) -> PySink<'_> {
        PySink {
            call: &self.call,
            fallback: Some(&self.fallback),
            max_depth: self.max_depth,
        }
    }

    /// What reading whole rollouts needs (`None`: the parser was built without it).
    pub(crate) fn group_types(&self) -> Option<&group::GroupTypes> {
        self.group.as_ref()
    }

    /// The JSON nesting bound of call blocks.
    pub(crate) fn max_depth(&self) -> usize {
        self.max_depth
    }

    /// The Python function that decodes the blocks delegated to Python (`parse._decode_call`).
    pub(crate) fn fallback(&self) -> &PyObject {
        &self.fallback
    }

    /// A turn of `text_turns`; its `text` a copy of the piece only with `context` (else `None`).
    fn turn<C>(
        &self,
        py: Python<'_>,
        r: Read<C>,
        text: &str,
        context: bool,
    ) -> PyResult<TurnOut<C>> {
        let mut t = TurnOut::new(py, r.calls);
        t.answer = r.answer.unwrap_or_else(|| py.None());
        t.malformed = r.malformed;
        t.blocks = r.blocks;
        if context {
            t.text = keys::text(py, text)?;
        }
        t.attempted = r.attempted;
        Ok(t)
    }
}

fn notes_list(py: Python<'_>, notes: Vec<(&'static str, usize)>) -> PyObject {
    if notes.is_empty() {
        return py.None();
    }
    PyList::new(
        py,
        notes
            .into_iter()
            .map(|(c, n)| PyTuple::new(py, [c.into_py(py), n.into_py(py)])),
    )
    .into()
}

#[pymethods]
impl TextParser {
    /// `TextParser(separator, turn_end, call_open, call_close, answer_open, answer_close, lines, strip_think,
    /// last_text, max_depth, call_type, turn_type, fallback, group=None)`: `call_type`/`turn_type` are the
    /// slotted dataclasses `Call` and `Turn`, `fallback(body) -> Call | None` decodes the blocks delegated to
    /// Python; `group`, `(ParsedRollout, Note, model_call, canonical_json)`, enables `parse_group`.
    #[new]
    #[allow(clippy::too_many_arguments)]
    #[args(group = "None")]
    fn new(
        py: Python<'_>,
        separator: String,
        turn_end: String,
        call_open: String,
        call_close: String,
        answer_open: String,
        answer_close: String,
        lines: bool,
        strip_think: bool,
        last_text: bool,
        max_depth: usize,
        call_type: Py<PyType>,
        turn_type: Py<PyType>,
        fallback: PyObject,
        group: Option<(Py<PyType>, Py<PyType>, PyObject, PyObject)>,
    ) -> PyResult<Self> {
        let given = [
            separator.as_str(),
            &turn_end,
            &call_open,
            &call_close,
            &answer_open,
            &answer_close,
        ];
        if given.iter().any(|s| s.is_empty()) {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "empty separator or tag",
            ));
        }
        let [sep, end, c_open, c_close, a_open, a_close] = given;
        Ok(TextParser {
            tags: hits::TagSet::new(
                [
                    sep,
                    end,
                    c_open,
                    c_close,
                    a_open,
                    a_close,
                    THINK_OPEN,
                    THINK_CLOSE,
                ],
                strip_think,
            ),
            lines,
            strip_think,
            last_text,
            max_depth,
            call: Slots::new(py, call_type, &CALL_FIELDS),
            turn: Slots::new(py, turn_type, &TURN_FIELDS),
            fallback,
            group: group.map(|g| group::GroupTypes::new(py, g)),
        })
    }

    /// `parse_text`: `(turns, notes)` with `notes` `None` or a list of `(code, count)`; `None` when the
    /// text is not UTF-8 (lone surrogates: Python parses it).
    fn parse_text(&self, py: Python<'_>, text: &PyString) -> PyResult<PyObject> {
        let Ok(text) = text.to_str() else {
            return Ok(py.None());
        };
        let (turns, notes) = self.text_turns(&self.py_sink(), py, text, true)?;
        let turns = build_turns(py, turns, &self.turn)?;
        Ok((PyList::new(py, turns), notes_list(py, notes)).into_py(py))
    }

    /// `parse_messages(messages, rel, model_call)`: `(turns, notes)` with `notes` `None` or a list of
    /// `(code, path, count)`; `None` when Python must read them (anything it would refuse, odd types).
    fn parse_messages(
        &self,
        py: Python<'_>,
        messages: &PyList,
        rel: &str,
        model_call: &PyAny,
    ) -> PyResult<PyObject> {
        forms::parse_messages(self, py, messages, rel, model_call)
    }

    /// `parse_group(rollouts, base, max_calls, max_turns, max_text_chars, context=True)`: the rollouts of one
    /// group read at once (parse_group.rs): `(parsed, order, first)`, or `None` when Python must read the
    /// group. Without `context` the turns carry no `text` and no `observation` (`None`; parse.turn_context).
    #[args(context = "true")]
    #[allow(clippy::too_many_arguments)]
    fn parse_group(
        &self,
        py: Python<'_>,
        rollouts: &PyList,
        base: usize,
        max_calls: i64,
        max_turns: i64,
        max_text_chars: i64,
        context: bool,
    ) -> PyResult<PyObject> {
        let limits = group::Limits {
            calls: max_calls,
            turns: max_turns,
            text_chars: max_text_chars,
        };
        group::parse_group(self, py, rollouts, base, limits, context)
    }

    /// Whether every result type is built by writing its slots directly (parse_slots.rs), not through
    /// `setattr` per field.
    #[getter]
    fn direct_slots(&self) -> bool {
        self.call.direct() && self.turn.direct() && self.group.as_ref().is_none_or(|g| g.direct())
    }

    /// `read_model_text` on a turn with no calls yet: `(calls, answer, malformed, blocks, attempted, head,
    /// notes)`; `None` when the text is not UTF-8.
    fn read_model_text(
        &self,
        py: Python<'_>,
        text: &PyString,
        read_calls: bool,
    ) -> PyResult<PyObject> {
        let Ok(text) = text.to_str() else {
            return Ok(py.None());
        };
        let (r, head) = self.read(&self.py_sink(), py, text, read_calls)?;
        let calls = PyList::new(py, r.calls);
        Ok((
            calls,
            r.answer.unwrap_or_else(|| py.None()),
            r.malformed,
            r.blocks,
            r.attempted,
            PyString::new(py, &head),
            notes_list(py, r.notes),
        )
            .into_py(py))
    }
}
