//! core/advantages.py `compute` for `advantage` dual, trajectory and turn (every `turn_normalization`,
//! `std`, `singleton`, `combine`), bit for bit: numpy's `bincount` sums in index order from 0.0, its
//! elementwise + - * / and sqrt are IEEE's, as here (Rust contracts no multiply-add). mt-grpo and gigpo
//! stay numpy's (response._rows).

/// `advantage`, as response.NATIVE_ADVANTAGE numbers it.
const DUAL: usize = 0;
const TRAJECTORY: usize = 1;
const TURN: usize = 2;

/// `turn_normalization`, as response.NATIVE_TURN_NORMALIZATION numbers it.
const POSITION: usize = 0;
const GROUP: usize = 1;
const INTRA: usize = 2;
const LOO: usize = 3;

/// `std`, as response.NATIVE_STD numbers it.
const SAMPLE: usize = 0;
const NONE: usize = 2;

/// The settings `compute` reads (ScoringConfig's fields, the strings by index).
#[derive(Clone, Copy)]
pub struct Params {
    pub advantage: usize,
    pub turn_normalization: usize,
    pub std: usize,
    pub singleton_raw: bool,
    pub combine_mean: bool,
    pub epsilon: f64,
    pub gamma: f64,
}

/// `AdvantageInput`'s arrays (per rollout, and the turns flat in rollout order).
pub struct Input<'a> {
    pub returns: &'a [f64],
    pub outcome: &'a [f64],
    pub group: &'a [usize],
    pub num_turns: &'a [usize],
    pub turn_rewards: &'a [f64],
}

/// `AdvantageOutput`'s trajectory (per rollout), turn and combined (per turn) advantages.
pub struct Output {
    pub trajectory: Vec<f64>,
    pub turn: Vec<f64>,
    pub combined: Vec<f64>,
}

/// `normalize(x, sets, n_sets, std, singleton, eps)`.
fn normalize(x: &[f64], sets: &[usize], n_sets: usize, p: &Params) -> Vec<f64> {
    let mut count = vec![0usize; n_sets];
    let mut total = vec![0.0f64; n_sets];
    for (&s, &v) in sets.iter().zip(x) {
        count[s] += 1;
        total[s] += v;
    }
    let mean: Vec<f64> = total
        .iter()
        .zip(&count)
        .map(|(&t, &c)| t / c.max(1) as f64)
        .collect();
    let mut adv: Vec<f64> = sets.iter().zip(x).map(|(&s, &v)| v - mean[s]).collect();
    if p.std != NONE {
        let mut ss = vec![0.0f64; n_sets];
        for (&s, &d) in sets.iter().zip(&adv) {
            ss[s] += d * d;
        }
        let sd: Vec<f64> = ss
            .iter()
            .zip(&count)
            .map(|(&q, &c)| {
                let denom = if p.std == SAMPLE { c as i64 - 1 } else { c as i64 };
                let var = if denom > 0 { q / denom as f64 } else { 0.0 };
                var.sqrt()
            })
            .collect();
        for (a, &s) in adv.iter_mut().zip(sets) {
            *a /= sd[s] + p.epsilon;
        }
    }
    for ((a, &s), &v) in adv.iter_mut().zip(sets).zip(x) {
        if count[s] == 1 {
            *a = if !p.singleton_raw {
                0.0
            } else if p.std == NONE {
                v
            } else {
                v / (1.0 + p.epsilon)
            };
        }
    }
    adv
}

/// `leave_one_out(x, sets, n_sets)`.
fn leave_one_out(x: &[f64], sets: &[usize], n_sets: usize) -> Vec<f64> {
    let mut count = vec![0usize; n_sets];
    let mut total = vec![0.0f64; n_sets];
    for (&s, &v) in sets.iter().zip(x) {
        count[s] += 1;
        total[s] += v;
    }
    sets.iter()
        .zip(x)
        .map(|(&s, &v)| {
            let others = if count[s] > 1 {
                (total[s] - v) / (count[s] - 1) as f64
            } else {
                0.0
            };
            v - others
        })
        .collect()
}

/// `turn_returns(turn_rewards, outcome, num_turns, gamma)`: the backward recursion per rollout.
fn turn_returns(inp: &Input<'_>, gamma: f64) -> Vec<f64> {
    let mut out = vec![0.0f64; inp.turn_rewards.len()];
    let mut start = 0;
    for (&t, &o) in inp.num_turns.iter().zip(inp.outcome) {
        let end = start + t;
        for j in (start..end).rev() {
            let next = if j + 1 == end { o } else { out[j + 1] };
            out[j] = inp.turn_rewards[j] + gamma * next;
        }
        start = end;
    }
    out
}

/// `compute(inp, cfg)` for dual, trajectory and turn advantages; `None` for another `advantage` or
/// inconsistent arrays.
pub fn compute(inp: &Input<'_>, p: &Params) -> Option<Output> {
    let n = inp.returns.len();
    let m = inp.turn_rewards.len();
    let consistent = inp.outcome.len() == n
        && inp.group.len() == n
        && inp.num_turns.len() == n
        && inp.num_turns.iter().sum::<usize>() == m;
    if !consistent || !matches!(p.advantage, DUAL | TRAJECTORY | TURN) {
        return None;
    }
    let n_groups = inp.group.iter().max().map_or(0, |&g| g + 1);
    let trajectory = normalize(inp.returns, inp.group, n_groups, p);
    let turn_ret = turn_returns(inp, p.gamma);
    let owner: Vec<usize> = inp
        .num_turns
        .iter()
        .enumerate()
        .flat_map(|(i, &t)| std::iter::repeat_n(i, t))
        .collect();
    let (sets, n_sets): (Vec<usize>, usize) = match p.turn_normalization {
        GROUP => (owner.iter().map(|&i| inp.group[i]).collect(), n_groups),
        INTRA => (owner.clone(), n),
        POSITION | LOO => {
            // one set per (group, position): numbered by key, as np.unique's (sums follow index order
            // either way)
            let width = inp.num_turns.iter().copied().max().unwrap_or(0).max(1);
            let mut sets = Vec::with_capacity(m);
            for (i, &t) in inp.num_turns.iter().enumerate() {
                sets.extend((0..t).map(|pos| inp.group[i] * width + pos));
            }
            (sets, n_groups * width)
        }
        _ => return None,
    };
    let turn = if p.turn_normalization == LOO {
        leave_one_out(&turn_ret, &sets, n_sets)
    } else {
        normalize(&turn_ret, &sets, n_sets, p)
    };
    let combined = match p.advantage {
        TRAJECTORY => owner.iter().map(|&i| trajectory[i]).collect(),
        TURN => turn.clone(),
        _ => owner
            .iter()
            .zip(&turn)
            .map(|(&i, &a)| {
                if p.combine_mean {
                    (trajectory[i] + a) / 2.0
                } else {
                    trajectory[i] + a
                }
            })
            .collect(),
    };
    Some(Output {
        trajectory,
        turn,
        combined,
    })
}
