//! The match and score of one rollout against its group's references, shared by the two one-call paths
//! (fused.rs `match_score_hard` from `rewards.Rollout`s, lean.rs from the raw rollouts): each group's gold
//! tables and answers read once, each rollout's calls keyed, assigned (hard, or OT for the lean path:
//! sinkhorn.rs `Solver`, the solver of `ot_solve`) and scored.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyString;
use std::collections::HashMap;
use std::time::Instant;

use super::{score_one, scored, Cfg, Gold, Scored, TokenCache, TurnInfo};
use crate::matching::{check, GoldTable, Mode, PredCall, PredTable, Scratch};
use crate::sinkhorn::{Outcome, Params, Problem, Solver};

/// Rollouts between two calls of the deadline check.
const CHUNK: usize = 32;

/// OT problems of at least this many cell-iterations (m x n x `max_iter`, a bound of tens of microseconds
/// and more) are solved with the GIL released, as `ot_solve` solves them.
const RELEASE_CELL_ITERATIONS: usize = 100_000;

/// Before each chunk of rollouts: the GIL offered to a thread waiting for it ([`yield_gil`]), then the
/// deadline check (`check`: `None` or a callable that raises).
pub(super) fn at_chunk(i: usize, check_deadline: &PyAny) -> PyResult<()> {
    if i % CHUNK == 0 {
        yield_gil(check_deadline.py());
        if !check_deadline.is_none() {
            check_deadline.call0()?;
        }
    }
    Ok(())
}

/// Lets a thread waiting for the GIL run: the event loop (`/healthz`, `/readyz`, other requests' I/O) and the
/// shutdown's exit thread. One native call scores a whole request (seconds for a heavy one) and runs no
/// Python code in between, so without this it would hold the GIL throughout; CPython hands the GIL over here
/// once a waiting thread has asked for it (after its switch interval), else this costs a release and an
/// acquire.
pub(crate) fn yield_gil(py: Python<'_>) {
    py.allow_threads(|| ());
}

/// The gold calls of a list of references (`rewards.check_budget`'s factor of a rollout's calls).
pub(super) fn gold_calls(py: Python<'_>, golds: &PyAny) -> PyResult<u64> {
    let mut n = 0u64;
    for g in golds.iter()? {
        n += g?.getattr(intern!(py, "calls"))?.len()? as u64;
    }
    Ok(n)
}

/// `Some(cells)` (an int) when the similarity cells exceed `max_cells` (the caller raises
/// `LimitExceeded`), else `None`.
pub(super) fn over_budget(
    py: Python<'_>,
    cells: u64,
    max_cells: &PyAny,
) -> PyResult<Option<PyObject>> {
    let cells = cells.into_py(py);
    Ok(if cells.as_ref(py).gt(max_cells)? {
        Some(cells)
    } else {
        None
    })
}

/// OT assignment (`rewards._match`'s `ot` branch and `ot_layout`): its solver (settings, the deadline of
/// the iterations, scratch buffers) and `check`, the Python deadline check (raises once it passed).
pub(super) struct Ot<'py> {
    solver: Solver,
    check: &'py PyAny,
}

impl<'py> Ot<'py> {
    pub(super) fn new(params: Params, deadline: Option<Instant>, check: &'py PyAny) -> Self {
        Ot {
            solver: Solver::new(params, deadline),
            check,
        }
    }

    /// The pair (`p`, `g`) at `off` of `buf`'s three sections of `total` rows each (zeroed): no row
    /// without predicted calls, reward 0 / gold -1 / similarity 0 without gold calls, else the plan's
    /// rows; `false` when the Python path must solve it (a plan not finite, or the deadline passed and
    /// `check` did not raise). `scratch` holds the similarity matrix.
    fn assign_into(
        &mut self,
        buf: &mut [f64],
        total: usize,
        off: usize,
        p: &PredTable,
        g: &GoldTable,
        scratch: &mut Scratch,
    ) -> PyResult<bool> {
        let (m, n) = (p.calls.len(), g.n_calls());
        let (rewards, rest) = buf.split_at_mut(total);
        let (gold, sim) = rest.split_at_mut(total);
        let r = off..off + m;
        if m == 0 {
            return Ok(true);
        }
        if n == 0 {
            gold[r].fill(f64::from_bits((-1i64) as u64));
            return Ok(true);
        }
        let problem = Problem {
            s: scratch.similarity(p, g),
            m,
            n,
            rewards: &mut rewards[r.clone()],
            gold: &mut gold[r.clone()],
            sim: &mut sim[r],
        };
        let release = m * n * self.solver.params.max_iter >= RELEASE_CELL_ITERATIONS;
        let solver = &mut self.solver;
        let got = if release {
            self.check.py().allow_threads(move || solver.solve(problem))
        } else {
            solver.solve(problem)
        };
        match got {
            Outcome::Solved(_) => Ok(true),
            Outcome::NotFinite(_) => Ok(false),
            Outcome::Late => {
                if !self.check.is_none() {
                    self.check.call0()?;
                }
                Ok(false)
            }
        }
    }
}

/// The settings of a request's assignment and every group's references read so far.
pub(super) struct Matcher<'py> {
    cache: TokenCache<'py>,
    tables: Vec<Vec<PyRef<'py, GoldTable>>>,
    refs: Vec<Vec<Gold>>,
    cfg: Cfg,
    mode: Mode,
    case_sensitive: bool,
    hungarian: bool,
    penalty: f64,
    /// `Some` for OT (the lean path), else hard assignment
    pub(super) ot: Option<Ot<'py>>,
    /// the last rollout's pairs in `assign_many`'s layout (rewards, gold indices, similarities)
    pub(super) local: Vec<f64>,
    /// the assignment's buffers, reused from problem to problem
    scratch: Scratch,
}

impl<'py> Matcher<'py> {
    pub(super) fn new(
        py: Python<'py>,
        cfg: Cfg,
        mode: Mode,
        case_sensitive: bool,
        hungarian: bool,
        penalty: f64,
    ) -> Self {
        Matcher {
            cache: TokenCache {
                py,
                index: HashMap::new(),
                store: Vec::new(),
            },
            tables: Vec::new(),
            refs: Vec::new(),
            cfg,
            mode,
            case_sensitive,
            hungarian,
            penalty,
            ot: None,
            local: Vec::new(),
            scratch: Scratch::default(),
        }
    }

    /// Adds a group's references (`golds`: its `CompiledGold`s; `ext` this module, for their
    /// `native_table`); `false` when something needs the Python path.
    pub(super) fn add_group(
        &mut self,
        ext: &PyAny,
        golds: &'py PyAny,
        mode_name: &str,
    ) -> PyResult<bool> {
        let py = self.cache.py;
        let (mut ts, mut gs) = (Vec::new(), Vec::new());
        for g in golds.iter()? {
            let g = g?;
            let table = g.call_method1(
                intern!(py, "native_table"),
                (ext, mode_name, self.case_sensitive),
            )?;
            let Ok(table) = table.extract::<PyRef<'py, GoldTable>>() else {
                return Ok(false); // None: a value the extension cannot key
            };
            let answer = g.getattr(intern!(py, "answer"))?;
            let tokens = if answer.is_none() {
                None
            } else {
                let Ok(s) = answer.downcast::<PyString>() else {
                    return Ok(false);
                };
                let Ok(i) = self.cache.get(s) else {
                    return Ok(false);
                };
                Some(i)
            };
            gs.push(Gold {
                n_calls: table.n_calls(),
                tokens,
            });
            ts.push(table);
        }
        if ts.is_empty() {
            return Ok(false);
        }
        self.tables.push(ts);
        self.refs.push(gs);
        Ok(true)
    }

    /// Rollout `index` of group `group` (its turns, its matchable calls keyed) matched against each of
    /// the group's references and scored; `None` when something needs the Python path.
    pub(super) fn one(
        &mut self,
        turns: &[TurnInfo],
        calls: Vec<PredCall>,
        group: usize,
        index: i64,
    ) -> PyResult<Option<Scored>> {
        let pred = PredTable {
            mode: self.mode,
            case_sensitive: self.case_sensitive,
            calls,
        };
        let m = pred.calls.len();
        let golds = &self.tables[group];
        let span = m * golds.len();
        let (local, scratch) = (&mut self.local, &mut self.scratch);
        local.clear();
        local.resize(3 * span, 0.0);
        for (k, g) in golds.iter().enumerate() {
            check(&pred, g)?;
            match self.ot.as_mut() {
                None => {
                    let (h, pen) = (self.hungarian, self.penalty);
                    scratch.assign_into(local, span, k * m, &pred, g, h, pen)
                }
                Some(ot) => {
                    if !ot.assign_into(local, span, k * m, &pred, g, scratch)? {
                        return Ok(None);
                    }
                }
            }
        }
        let refs = &self.refs[group];
        let row = score_one(
            &mut self.cache,
            turns,
            refs,
            &local[..span],
            &local[span..2 * span],
            &local[2 * span..],
            m,
            &self.cfg,
        );
        Ok(row.ok().map(|row| scored(row, turns, refs, m, index)))
    }
}
