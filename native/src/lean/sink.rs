//! The lean path's call sink: what the parser reads goes straight to keyed `PredCall`s (the value keys of
//! the request's `value_match` mode and name case), no `Call` object kept.

use std::cell::Cell;

use pyo3::prelude::*;

use crate::matching::{pred_call, pred_parts, KResult, KeyError, Mode, PredCall};
use crate::parse::pred::decode_pred;
use crate::parse::{Fail, Sink};

pub(super) struct LeanSink<'a> {
    pub(super) mode: Mode,
    pub(super) case_sensitive: bool,
    pub(super) max_depth: usize,
    /// `parse._decode_call`, for the blocks the Python reference decodes
    pub(super) fallback: &'a PyObject,
    /// set when a call cannot be keyed here (`Unsupported`): the whole request goes back to Python
    pub(super) bail: Cell<bool>,
}

impl LeanSink<'_> {
    fn keyed(&self, got: KResult<PredCall>) -> PyResult<PredCall> {
        match got {
            Ok(p) => Ok(p),
            Err(KeyError::Unsupported) => {
                self.bail.set(true);
                Ok(PredCall::placeholder())
            }
            Err(KeyError::Py(e)) => Err(e),
        }
    }
}

impl Sink for LeanSink<'_> {
    type Call = PredCall;

    fn decode(&self, py: Python<'_>, body: &str) -> PyResult<Option<PredCall>> {
        match decode_pred(body, self.max_depth, self.mode, self.case_sensitive) {
            Ok(got) => Ok(got),
            Err(Fail::Invalid) => Ok(None),
            Err(Fail::Delegate) => {
                // what TextParser's decode does with it: the Python reference decodes the block
                let got = self.fallback.call1(py, (body,))?;
                if got.is_none(py) {
                    return Ok(None);
                }
                self.object(py, got.as_ref(py)).map(Some)
            }
            Err(Fail::Py(e)) => Err(e),
        }
    }

    fn parts(&self, py: Python<'_>, name: PyObject, arguments: PyObject) -> PyResult<PredCall> {
        let got = pred_parts(
            py,
            name.as_ref(py),
            arguments.as_ref(py),
            self.mode,
            self.case_sensitive,
        );
        self.keyed(got)
    }

    fn object(&self, py: Python<'_>, call: &PyAny) -> PyResult<PredCall> {
        self.keyed(pred_call(py, call, self.mode, self.case_sensitive))
    }
}
