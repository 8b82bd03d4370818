//! `score_rows`' rows and summaries from the advantages (numpy's or rows/advantages.rs'): each row appended
//! to its group's list, and the request's values (rows.rs module docs).

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyDict, PyList, PyString};
use pyo3::{ffi, IntoPyPointer};

use super::advantages::Output;
use super::fsum::Fsum;
use super::pyobj::{bytes_of, float_list, new_list, set_any, set_f64, set_i64, set_owned, Template};
use super::summary::{summarize, Stat};
use super::{finite, RowsInput};

pub type Built<'py> = (
    PyObject,
    i64,
    &'py PyList,
    &'py PyDict,
    &'py PyByteArray,
    &'py PyByteArray,
);

/// The rows and summaries; `None` (nothing appended) for arrays of the wrong lengths or where Python
/// raises.
pub fn build<'py>(
    py: Python<'py>,
    input: &RowsInput,
    adv: Output,
    sizes: Option<Vec<i64>>,
    entries: &PyList,
) -> PyResult<Option<Built<'py>>> {
    let (uniq, order) = (&input.uniq, &input.order);
    let m: usize = order.iter().map(|&k| uniq[k].turn_rewards.len()).sum();
    let n = order.len();
    let groups = entries.len();
    let sizes_ok = sizes.as_ref().is_none_or(|s| s.len() == m);
    let Output {
        trajectory,
        turn,
        combined,
    } = adv;
    if trajectory.len() != n || turn.len() != m || combined.len() != m || !sizes_ok {
        return Ok(None);
    }
    if order.iter().any(|&k| uniq[k].group >= groups) {
        return Ok(None);
    }
    let fin = |v: Vec<f64>| -> Vec<f64> { v.into_iter().map(finite).collect() };
    let (trajectory, turn, combined) = (fin(trajectory), fin(turn), fin(combined));
    // everything that can fail first: nothing is appended to `entries` unless all of it succeeds
    let mut stats = Vec::with_capacity(n);
    let mut pos = 0;
    let mut abs = Fsum::new();
    for &k in order {
        let u = &uniq[k];
        let t = u.turn_rewards.len();
        abs.clear();
        combined[pos..pos + t].iter().for_each(|v| abs.add(v.abs()));
        let Some(abs_sum) = abs.total() else {
            return Ok(None);
        };
        stats.push(Stat {
            turns: t as i64,
            outcome: finite(u.outcome),
            ret: finite(u.ret),
            abs_sum,
            count: t as i64,
            calls: u.num_calls,
            malformed: u.malformed,
            answered: u.answered,
            counts: u.counts,
        });
        pos += t;
    }
    let mut per_group: Vec<Vec<&Stat>> = vec![Vec::new(); groups];
    for (&k, s) in order.iter().zip(&stats) {
        per_group[uniq[k].group].push(s);
    }
    let mut summaries = Vec::with_capacity(groups + 1);
    let all: Vec<&Stat> = stats.iter().collect();
    for items in per_group.iter().chain(std::iter::once(&all)) {
        let Some(s) = summarize(items) else {
            return Ok(None);
        };
        summaries.push(s);
    }
    let lists: Vec<&PyList> = (0..groups)
        .map(|g| Ok(entries.get_item(g)?.downcast::<PyList>()?))
        .collect::<PyResult<_>>()?;
    let mut templates: [Option<Template>; 4] = Default::default();
    let mut rows = Vec::with_capacity(n);
    let mut pos = 0;
    let mut malformed = 0;
    for (i, &k) in order.iter().enumerate() {
        let u = &uniq[k];
        let t = u.turn_rewards.len();
        let span = pos..pos + t;
        let shape = usize::from(u.trajectory.is_some()) | usize::from(u.toolrl.is_some()) << 1;
        let template = match &mut templates[shape] {
            Some(tp) => tp,
            slot => slot.insert(Template::new(
                py,
                &row_keys(py, u.trajectory.is_some(), sizes.is_some(), u.toolrl.is_some()),
            )?),
        };
        let row = template.make(py)?;
        let turn_rewards = u.turn_rewards.iter().map(|&v| finite(v));
        set_owned(row, intern!(py, "turn_rewards"), float_list(py, turn_rewards)?)?;
        set_f64(row, intern!(py, "outcome_reward"), finite(u.outcome))?;
        set_f64(row, intern!(py, "return"), finite(u.ret))?;
        set_f64(row, intern!(py, "trajectory_advantage"), trajectory[i])?;
        let turn_adv = float_list(py, turn[span.clone()].iter().copied())?;
        set_owned(row, intern!(py, "turn_advantages"), turn_adv)?;
        let adv = float_list(py, combined[span.clone()].iter().copied())?;
        set_owned(row, intern!(py, "advantages"), adv)?;
        set_i64(row, intern!(py, "num_turns"), t as i64)?;
        if let Some(v) = u.trajectory {
            set_f64(row, intern!(py, "trajectory_reward"), finite(v))?;
        }
        if let Some(s) = &sizes {
            let s = new_list(py, s[span].iter(), |&v| unsafe { ffi::PyLong_FromLongLong(v) })?;
            set_owned(row, intern!(py, "step_group_sizes"), s)?;
        }
        set_i64(row, intern!(py, "num_calls"), u.num_calls)?;
        set_i64(row, intern!(py, "malformed_calls"), u.malformed)?;
        set_i64(row, intern!(py, "reference"), u.reference)?;
        if let Some((format, correctness)) = &u.toolrl {
            let d = PyDict::new(py);
            d.set_item(intern!(py, "format"), format)?;
            d.set_item(intern!(py, "correctness"), correctness)?;
            set_any(row, intern!(py, "toolrl"), d)?;
        }
        lists[u.group].append(row)?;
        rows.push(row);
        malformed += u.malformed;
        pos += t;
    }
    let rows = new_list(py, rows.into_iter(), |row: &PyDict| row.into_ptr())?;
    let total = summaries
        .pop()
        .expect("the request's summary")
        .to_dict(py)?;
    let group_summaries = PyList::empty(py);
    for s in &summaries {
        group_summaries.append(s.to_dict(py)?)?;
    }
    let mut fl = Vec::with_capacity(3 * n);
    fl.extend(stats.iter().map(|s| s.outcome));
    fl.extend(stats.iter().map(|s| s.ret));
    fl.extend(stats.iter().map(|s| s.abs_sum));
    let mut it = Vec::with_capacity(9 * n);
    for c in 0..9 {
        it.extend(stats.iter().map(|s| match c {
            0 => s.turns,
            1 => s.count,
            2 => s.calls,
            3 => s.malformed,
            4 => s.answered as i64,
            k => s.counts[k - 5],
        }));
    }
    let fl = bytes_of(py, fl.into_iter(), f64::to_le_bytes);
    let it = bytes_of(py, it.into_iter(), i64::to_le_bytes);
    Ok(Some((rows, malformed, group_summaries, total, fl, it)))
}

/// A row's keys in the order Python's rows have them (response.advantage_rows, score_groups).
fn row_keys<'py>(py: Python<'py>, trajectory: bool, sizes: bool, toolrl: bool) -> Vec<&'py PyString> {
    let mut keys = vec![
        intern!(py, "turn_rewards"),
        intern!(py, "outcome_reward"),
        intern!(py, "return"),
        intern!(py, "trajectory_advantage"),
        intern!(py, "turn_advantages"),
        intern!(py, "advantages"),
        intern!(py, "num_turns"),
    ];
    if trajectory {
        keys.push(intern!(py, "trajectory_reward"));
    }
    if sizes {
        keys.push(intern!(py, "step_group_sizes"));
    }
    keys.extend([
        intern!(py, "num_calls"),
        intern!(py, "malformed_calls"),
        intern!(py, "reference"),
    ]);
    if toolrl {
        keys.push(intern!(py, "toolrl"));
    }
    keys
}

