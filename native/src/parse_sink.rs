//! Where a reading's calls go ([`Sink`]: Python `Call` objects for the parsed trees, keyed `PredCall`s for
//! the lean path) and a turn before it becomes a Python `Turn` ([`TurnOut`]).

use super::call_json::{self, Decoded};
use super::json::Fail;
use super::{slots, Slots};
use pyo3::prelude::*;

/// Where the calls a reading finds go: Python `Call` objects ([`PySink`], the parsed trees) or what the
/// lean path keeps (lean/sink.rs). The reading's decisions (turns, notes, limits) are the same for both.
pub(crate) trait Sink {
    type Call;
    /// One block of model text (stripped) to a call, `None` when malformed.
    fn decode(&self, py: Python<'_>, body: &str) -> PyResult<Option<Self::Call>>;
    /// A structured call read here: its `name` (a `str`) and `arguments` (a `dict`).
    fn parts(&self, py: Python<'_>, name: PyObject, arguments: PyObject) -> PyResult<Self::Call>;
    /// A `Call` the Python reader built (`calls.call_or_none`).
    fn object(&self, py: Python<'_>, call: &PyAny) -> PyResult<Self::Call>;
}

/// Calls as Python `Call` objects; `fallback` decodes the blocks delegated to Python (text only).
pub(crate) struct PySink<'a> {
    pub(crate) call: &'a Slots,
    pub(crate) fallback: Option<&'a PyObject>,
    pub(crate) max_depth: usize,
}

impl Sink for PySink<'_> {
    type Call = PyObject;

    fn decode(&self, py: Python<'_>, body: &str) -> PyResult<Option<PyObject>> {
        match call_json::decode_call(py, body, self.max_depth) {
            Ok(Decoded::Call(name, arguments)) => Ok(Some(self.call.build(py, [name, arguments])?)),
            Ok(Decoded::Malformed) | Err(Fail::Invalid) => Ok(None),
            Err(Fail::Delegate) => {
                let Some(fallback) = self.fallback else {
                    return Err(pyo3::exceptions::PyRuntimeError::new_err("no text decoder"));
                };
                let got = fallback.call1(py, (body,))?;
                Ok(if got.is_none(py) { None } else { Some(got) })
            }
            Err(Fail::Py(e)) => Err(e),
        }
    }

    fn parts(&self, py: Python<'_>, name: PyObject, arguments: PyObject) -> PyResult<PyObject> {
        self.call.build(py, [name, arguments])
    }

    fn object(&self, _py: Python<'_>, call: &PyAny) -> PyResult<PyObject> {
        Ok(call.into())
    }
}

/// The fields of a `Turn` (`turns.NATIVE_TURN_FIELDS`), built as Python builds it.
pub(crate) struct TurnOut<C = PyObject> {
    pub(crate) calls: Vec<C>,
    pub(crate) answer: PyObject,
    pub(crate) malformed: usize,
    pub(crate) blocks: usize,
    pub(super) text: PyObject,
    pub(crate) given: usize,
    pub(super) attempted: bool,
    pub(super) state: PyObject,
    pub(super) observation: Option<Vec<PyObject>>,
}

impl<C> TurnOut<C> {
    pub(crate) fn new(py: Python<'_>, calls: Vec<C>) -> Self {
        TurnOut {
            calls,
            answer: py.None(),
            malformed: 0,
            blocks: 0,
            text: py.None(),
            given: 0,
            attempted: false,
            state: py.None(),
            observation: None,
        }
    }
}

impl TurnOut {
    /// The `Turn` (the values in the order of [`TURN_FIELDS`]).
    pub(crate) fn build(self, py: Python<'_>, turn: &Slots) -> PyResult<PyObject> {
        let observation = match self.observation {
            Some(seen) => slots::list(py, seen)?,
            None => py.None(),
        };
        turn.build(
            py,
            [
                slots::list(py, self.calls)?,
                self.answer,
                self.malformed.into_py(py),
                self.blocks.into_py(py),
                self.text,
                self.given.into_py(py),
                self.attempted.into_py(py),
                self.state,
                observation,
            ],
        )
    }
}

/// Python `Turn` objects of turns read here.
pub(crate) fn build_turns(
    py: Python<'_>,
    turns: Vec<TurnOut>,
    turn: &Slots,
) -> PyResult<Vec<PyObject>> {
    turns.into_iter().map(|t| t.build(py, turn)).collect()
}
