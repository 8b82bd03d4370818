//! CPython's `math.fsum` (Shewchuk's exact partials, as in Modules/mathmodule.c `math_fsum`) and
//! `float ** 2`, bit for bit; where Python raises (intermediate overflow, `-inf + inf`, `**` overflow)
//! they give `None` and the caller hands the request back to Python, which raises the same error.

/// An exactly rounded running sum: `math.fsum` of the values added so far.
#[derive(Default)]
pub struct Fsum {
    partials: Vec<f64>,
    special: f64,
    inf: f64,
    failed: bool,
}

impl Fsum {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `x` (one step of `math_fsum`'s loop).
    /// Empty again, keeping the partials' buffer (one allocation for many sums).
    pub fn clear(&mut self) {
        self.partials.clear();
        self.special = 0.0;
        self.inf = 0.0;
        self.failed = false;
    }

    pub fn add(&mut self, x: f64) {
        if self.failed {
            return;
        }
        let xsave = x;
        let mut x = x;
        let p = &mut self.partials;
        let mut i = 0;
        for j in 0..p.len() {
            let mut y = p[j];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            let yr = hi - x;
            let lo = y - yr;
            if lo != 0.0 {
                p[i] = lo;
                i += 1;
            }
            x = hi;
        }
        p.truncate(i);
        if x != 0.0 {
            if !x.is_finite() {
                // a non-finite x comes from intermediate overflow or from a nan or inf summand
                if xsave.is_finite() {
                    self.failed = true; // OverflowError: intermediate overflow in fsum
                    return;
                }
                if xsave.is_infinite() {
                    self.inf += xsave;
                }
                self.special += xsave;
                p.clear();
            } else {
                p.push(x);
            }
        }
    }

    /// The sum; `None` where `math.fsum` raises.
    pub fn total(&self) -> Option<f64> {
        if self.failed {
            return None;
        }
        if self.special != 0.0 || self.special.is_nan() {
            if self.inf.is_nan() {
                return None; // ValueError: -inf + inf in fsum
            }
            return Some(self.special);
        }
        let p = &self.partials;
        let mut n = p.len();
        let mut hi = 0.0;
        if n > 0 {
            n -= 1;
            hi = p[n];
            let mut lo = 0.0;
            // sum_exact(ps, hi) from the top, stop when the sum becomes inexact
            while n > 0 {
                let x = hi;
                n -= 1;
                let y = p[n];
                hi = x + y;
                let yr = hi - x;
                lo = y - yr;
                if lo != 0.0 {
                    break;
                }
            }
            // half-even rounding across several partials
            if n > 0 && ((lo < 0.0 && p[n - 1] < 0.0) || (lo > 0.0 && p[n - 1] > 0.0)) {
                let y = lo * 2.0;
                let x = hi + y;
                let yr = x - hi;
                if y == yr {
                    hi = x;
                }
            }
        }
        Some(hi)
    }
}

/// `math.fsum(values)`.
pub fn fsum<I: IntoIterator<Item = f64>>(values: I) -> Option<f64> {
    let mut s = Fsum::new();
    for v in values {
        s.add(v);
    }
    s.total()
}

extern "C" {
    #[link_name = "pow"]
    fn c_pow(x: f64, y: f64) -> f64;
}

/// Python's `x ** 2` for a float: the C library's `pow` (which is not always `x * x`), `None` where
/// Python raises OverflowError (a finite `x` whose square overflows).
pub fn square(x: f64) -> Option<f64> {
    if !x.is_finite() {
        return Some(x * x); // float_pow: inf ** 2 is inf, nan ** 2 is nan, without calling pow
    }
    // black_box: the exponent stays unknown to the optimizer, which would turn pow(x, 2) into x * x
    let r = unsafe { c_pow(x, std::hint::black_box(2.0)) };
    if r.is_infinite() {
        return None;
    }
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact() {
        assert_eq!(fsum([1e-16, 1.0, 1e16]), Some(10000000000000002.0));
        assert_eq!(fsum([0.1; 10]), Some(1.0));
        assert_eq!(fsum([1e308, 1e308]), None);
        assert_eq!(fsum([f64::INFINITY, f64::NEG_INFINITY]), None);
        assert!(fsum([f64::NAN, 1.0]).unwrap().is_nan());
        assert_eq!(fsum([]), Some(0.0));
    }
}
