//! turnscore_native: the compiled hot path of turnscore's scoring core.
//!
//! The pure-Python core (service/turnscore/core) is the reference; every function here returns exactly
//! what its Python counterpart returns (tests/native checks parity). `turnscore.core.native` chooses.

use pyo3::prelude::*;

mod depth;
mod diag;
mod lean;
mod matching;
mod parse;
mod rollouts;
mod rows;
mod score;
mod sinkhorn;

#[pymodule]
fn turnscore_native(_py: Python, m: &PyModule) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    depth::register(m)?;
    parse::register(m)?;
    matching::register(m)?;
    diag::register(m)?;
    score::register(m)?;
    rollouts::register(m)?;
    rows::register(m)?;
    lean::register(m)?;
    sinkhorn::register(m)?;
    Ok(())
}
