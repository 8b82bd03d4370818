//! A block of model text straight to a keyed predicted call (`crate::matching::PredCall`).
//!
//! PLACEHOLDER (the lean path's interface only): decodes the slow way, through the Python objects of
//! `call_json::decode_call`, then keys them as `matching::pred_call` does. The real decoder (no Python
//! objects) replaces this file.

use super::call_json::{decode_call, Decoded};
use super::json::{Fail, Res};
use crate::matching::{pred_parts, KeyError, Mode, PredCall};
use pyo3::prelude::*;

/// `parse._decode_call` of `body` keyed under `mode` / `case_sensitive`: `Ok(Some)` a call, `Ok(None)`
/// malformed, `Err(Fail::Delegate)` when the Python reference must decode it (or key it).
pub(crate) fn decode_pred(
    body: &str,
    limit: usize,
    mode: Mode,
    case_sensitive: bool,
) -> Res<Option<PredCall>> {
    Python::with_gil(|py| match decode_call(py, body, limit) {
        Ok(Decoded::Malformed) | Err(Fail::Invalid) => Ok(None),
        Err(e) => Err(e),
        Ok(Decoded::Call(name, arguments)) => {
            match pred_parts(
                py,
                name.as_ref(py),
                arguments.as_ref(py),
                mode,
                case_sensitive,
            ) {
                Ok(p) => Ok(Some(p)),
                Err(KeyError::Unsupported) => Err(Fail::Delegate),
                Err(KeyError::Py(e)) => Err(Fail::Py(e)),
            }
        }
    })
}
