//! Similarity S and hard assignment (service/turnscore/core/similarity.py, assign.py, gold.py tables).
//!
//! Python API (all return exactly what the Python core computes):
//! - `gold_table(calls, accepted, mode, case_sensitive) -> GoldTable | None`: a gold trace's names, argument
//!   names and accepted value keys; `None` when a value cannot be keyed natively (the caller uses Python).
//! - `pred_table(calls, mode, case_sensitive) -> PredTable | None`: the same for a rollout's predicted calls.
//! - `entries(pred, gold) -> list[(i, j, S)]`: every positive S in (i, j) order.
//! - `matrix(pred, gold) -> bytearray`: the dense m x n S (float64, row-major; writable for numpy).
//! - `assign(pred, gold, hungarian, penalty) -> bytes`: rewards (float64 x m), gold index (int64 x m, -1 =
//!   none), similarity (float64 x m), concatenated.
//! - `assign_many(problems, hungarian, penalty) -> bytes`: `assign` of a list of (pred, gold) at once: every
//!   problem's rewards, then every problem's gold indices, then every problem's similarities.
//! - `lsap_maximize(s: bytes, m, n) -> list[int]`: the column of each row (-1 none), as
//!   `scipy.optimize.linear_sum_assignment(S, maximize=True)` assigns (for tests).

mod hard;
mod keys;
mod lsap;
mod names;
mod sstr;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyString};
use pyo3::{intern, AsPyPointer, PyTypeInfo};

pub(crate) use hard::Scratch;
use keys::{cast, dict_items, key, str_of};
pub(crate) use keys::{float_key, text_key, KResult, Key, KeyError, Mode, MAX_DEPTH};
pub(crate) use names::name_key;
use names::{name_obj_key, NameIndex};
pub(crate) use sstr::SStr;

struct GoldCall {
    /// (argument, accepted value keys), sorted by argument
    args: Vec<(SStr, Vec<Key>)>,
}

pub(crate) struct PredCall {
    pub(crate) name: SStr,
    /// (argument, value key), sorted by argument
    pub(crate) args: Vec<(SStr, Key)>,
}

impl PredCall {
    /// A call of its (folded) name and its arguments' keys, in any order (distinct names).
    pub(crate) fn new(name: SStr, mut args: Vec<(SStr, Key)>) -> PredCall {
        args.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        PredCall { name, args }
    }
}

impl PredCall {
    /// A call that stands for nothing (where the caller gives the request back anyway).
    pub(crate) fn placeholder() -> Self {
        PredCall {
            name: SStr::from(""),
            args: Vec::new(),
        }
    }
}

#[pyclass(module = "turnscore_native")]
pub struct GoldTable {
    mode: Mode,
    case_sensitive: bool,
    calls: Vec<GoldCall>,
    index: NameIndex,
}

#[pyclass(module = "turnscore_native")]
pub struct PredTable {
    pub(crate) mode: Mode,
    pub(crate) case_sensitive: bool,
    pub(crate) calls: Vec<PredCall>,
}

impl GoldTable {
    /// The number of gold calls.
    pub(crate) fn n_calls(&self) -> usize {
        self.calls.len()
    }
}

pub(crate) fn unwrap_unsupported<T>(r: KResult<T>) -> PyResult<Option<T>> {
    match r {
        Ok(x) => Ok(Some(x)),
        Err(KeyError::Unsupported) => Ok(None),
        Err(KeyError::Py(e)) => Err(e),
    }
}

/// `obj.<name>` (`PyAny::getattr` without its reference counting of the name).
fn attr<'py>(obj: &'py PyAny, name: &PyString) -> PyResult<&'py PyAny> {
    unsafe {
        obj.py()
            .from_owned_ptr_or_err(pyo3::ffi::PyObject_GetAttr(obj.as_ptr(), name.as_ptr()))
    }
}

/// A call's name as matching compares it: `str.lower()` unless case-sensitive.
fn name_of(call: &PyAny, case_sensitive: bool) -> KResult<SStr> {
    name_obj_key(attr(call, intern!(call.py(), "name"))?, case_sensitive)
}

fn arguments_of(call: &PyAny) -> KResult<&PyDict> {
    exact_args(attr(call, intern!(call.py(), "arguments"))?)
}

fn exact_args(obj: &PyAny) -> KResult<&PyDict> {
    if !PyDict::is_exact_type_of(obj) {
        return Err(KeyError::Unsupported);
    }
    Ok(cast(obj))
}

fn arg_name(k: &PyAny) -> KResult<SStr> {
    if !PyString::is_exact_type_of(k) {
        return Err(KeyError::Unsupported);
    }
    Ok(SStr::from(str_of(cast(k))?))
}

fn build_gold(
    py: Python<'_>,
    calls: &PyAny,
    accepted: &PyAny,
    mode: Mode,
    cs: bool,
) -> KResult<GoldTable> {
    let mut out = Vec::new();
    let mut index = NameIndex::default();
    for (j, call) in calls.iter()?.enumerate() {
        let call = call?;
        let acc: Option<&PyAny> = if accepted.is_none() {
            None
        } else {
            Some(accepted.get_item(j)?)
        };
        let acc: Option<&PyDict> = match acc {
            Some(a) if !a.is_none() => Some(a.downcast().map_err(|_| KeyError::Unsupported)?),
            _ => None,
        };
        index.entry(name_of(call, cs)?).or_default().push(j as u32);
        let mut args = Vec::new();
        for (k, v) in dict_items(arguments_of(call)?) {
            let mut set = vec![key(py, v, mode)?];
            if let Some(extra) = acc.and_then(|a| a.get_item(k)) {
                for x in extra.iter()? {
                    let kx = key(py, x?, mode)?;
                    if !set.contains(&kx) {
                        set.push(kx);
                    }
                }
            }
            args.push((arg_name(k)?, set));
        }
        args.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out.push(GoldCall { args });
    }
    Ok(GoldTable {
        mode,
        case_sensitive: cs,
        calls: out,
        index,
    })
}

/// One predicted `Call`'s name and value keys (`Unsupported`: the rollout needs the Python path).
pub(crate) fn pred_call(py: Python<'_>, call: &PyAny, mode: Mode, cs: bool) -> KResult<PredCall> {
    pred_keys(py, name_of(call, cs)?, arguments_of(call)?, mode)
}

/// [`pred_call`] of a call given as its `name` and `arguments` objects (no `Call` built).
pub(crate) fn pred_parts(
    py: Python<'_>,
    name: &PyAny,
    arguments: &PyAny,
    mode: Mode,
    cs: bool,
) -> KResult<PredCall> {
    pred_keys(py, name_obj_key(name, cs)?, exact_args(arguments)?, mode)
}

fn pred_keys(py: Python<'_>, name: SStr, d: &PyDict, mode: Mode) -> KResult<PredCall> {
    let mut args = Vec::with_capacity(d.len());
    for (k, v) in dict_items(d) {
        args.push((arg_name(k)?, key(py, v, mode)?));
    }
    Ok(PredCall::new(name, args))
}

fn build_pred(py: Python<'_>, calls: &PyAny, mode: Mode, cs: bool) -> KResult<PredTable> {
    let mut out = Vec::with_capacity(calls.len().unwrap_or(0));
    for call in calls.iter()? {
        out.push(pred_call(py, call?, mode, cs)?);
    }
    Ok(PredTable {
        mode,
        case_sensitive: cs,
        calls: out,
    })
}

/// The native gold table of a trace (`calls`: its `Call`s; `accepted`: None or one dict-or-None per call).
#[pyfunction]
fn gold_table(
    py: Python<'_>,
    calls: &PyAny,
    accepted: &PyAny,
    mode: &str,
    case_sensitive: bool,
) -> PyResult<Option<GoldTable>> {
    unwrap_unsupported(build_gold(
        py,
        calls,
        accepted,
        Mode::parse(mode)?,
        case_sensitive,
    ))
}

/// The native table of a rollout's predicted `Call`s.
#[pyfunction]
fn pred_table(
    py: Python<'_>,
    calls: &PyAny,
    mode: &str,
    case_sensitive: bool,
) -> PyResult<Option<PredTable>> {
    unwrap_unsupported(build_pred(py, calls, Mode::parse(mode)?, case_sensitive))
}

/// S of a pair whose names match (similarity.pair_similarity, the same float operations).
fn pair_similarity(p: &PredCall, g: &GoldCall) -> f64 {
    let (mut a, mut b, mut common, mut s_pc) = (0usize, 0usize, 0usize, 0usize);
    while a < p.args.len() && b < g.args.len() {
        let (pk, pv) = &p.args[a];
        let (gk, gv) = &g.args[b];
        match pk.cmp(gk) {
            std::cmp::Ordering::Less => a += 1,
            std::cmp::Ordering::Greater => b += 1,
            std::cmp::Ordering::Equal => {
                common += 1;
                if gv.contains(pv) {
                    s_pc += 1;
                }
                a += 1;
                b += 1;
            }
        }
    }
    let union = p.args.len() + g.args.len() - common;
    let s_pn = if union > 0 {
        common as f64 / union as f64
    } else {
        1.0
    };
    (1.0 + s_pn + s_pc as f64) / ((2 + g.args.len()) as f64)
}

pub(crate) fn check(p: &PredTable, g: &GoldTable) -> PyResult<()> {
    if p.mode != g.mode || p.case_sensitive != g.case_sensitive {
        return Err(PyValueError::new_err(
            "predicted and gold tables of different value_match/case modes",
        ));
    }
    Ok(())
}

/// Every positive S of the pair in (i, j) order, into `out`.
pub(crate) fn sparse_into(p: &PredTable, g: &GoldTable, out: &mut Vec<(usize, usize, f64)>) {
    out.clear();
    if g.index.is_empty() {
        return;
    }
    for (i, pc) in p.calls.iter().enumerate() {
        if let Some(js) = g.index.get(&pc.name) {
            for &j in js {
                out.push((i, j as usize, pair_similarity(pc, &g.calls[j as usize])));
            }
        }
    }
}

#[pyfunction]
fn entries(p: PyRef<'_, PredTable>, g: PyRef<'_, GoldTable>) -> PyResult<Vec<(usize, usize, f64)>> {
    check(&p, &g)?;
    let mut out = Vec::new();
    sparse_into(&p, &g, &mut out);
    Ok(out)
}

#[pyfunction]
fn matrix<'py>(
    py: Python<'py>,
    p: PyRef<'_, PredTable>,
    g: PyRef<'_, GoldTable>,
) -> PyResult<&'py PyByteArray> {
    check(&p, &g)?;
    Ok(PyByteArray::new(
        py,
        as_bytes(Scratch::default().similarity(&p, &g)),
    ))
}

pub(crate) fn as_bytes(v: &[f64]) -> &[u8] {
    unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, std::mem::size_of_val(v)) }
}

#[pyfunction]
fn assign<'py>(
    py: Python<'py>,
    p: PyRef<'_, PredTable>,
    g: PyRef<'_, GoldTable>,
    hungarian: bool,
    penalty: f64,
) -> PyResult<&'py PyBytes> {
    check(&p, &g)?;
    let m = p.calls.len();
    let mut buf = vec![0.0f64; 3 * m];
    Scratch::default().assign_into(&mut buf, m, 0, &p, &g, hungarian, penalty);
    Ok(PyBytes::new(py, as_bytes(&buf)))
}

/// `assign` of many problems (a list of (PredTable, GoldTable)): the rewards of every problem in order
/// (float64, M = the sum of their predicted calls), then their gold indices (int64 x M), then their
/// similarities (float64 x M).
#[pyfunction]
fn assign_many<'py>(
    py: Python<'py>,
    problems: &PyList,
    hungarian: bool,
    penalty: f64,
) -> PyResult<&'py PyBytes> {
    let mut tables = Vec::with_capacity(problems.len());
    let mut total = 0;
    for item in problems.iter() {
        let (p, g): (PyRef<'_, PredTable>, PyRef<'_, GoldTable>) = item.extract()?;
        check(&p, &g)?;
        total += p.calls.len();
        tables.push((p, g));
    }
    let mut buf = vec![0.0f64; 3 * total];
    let mut off = 0;
    let mut scratch = Scratch::default();
    for (p, g) in &tables {
        scratch.assign_into(&mut buf, total, off, p, g, hungarian, penalty);
        off += p.calls.len();
    }
    Ok(PyBytes::new(py, as_bytes(&buf)))
}

#[pyfunction]
fn lsap_maximize(s: &[u8], m: usize, n: usize) -> PyResult<Vec<i64>> {
    if s.len() != 8 * m * n {
        return Err(PyValueError::new_err("expected m * n float64 values"));
    }
    let v: Vec<f64> = s
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    Ok(lsap::maximize(&v, m, n))
}

pub fn register(m: &PyModule) -> PyResult<()> {
    m.add_class::<GoldTable>()?;
    m.add_class::<PredTable>()?;
    m.add_function(wrap_pyfunction!(gold_table, m)?)?;
    m.add_function(wrap_pyfunction!(pred_table, m)?)?;
    m.add_function(wrap_pyfunction!(entries, m)?)?;
    m.add_function(wrap_pyfunction!(matrix, m)?)?;
    m.add_function(wrap_pyfunction!(assign, m)?)?;
    m.add_function(wrap_pyfunction!(assign_many, m)?)?;
    m.add_function(wrap_pyfunction!(lsap_maximize, m)?)?;
    Ok(())
}
