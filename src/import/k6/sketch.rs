//! A trend's samples in bounded memory, for k6's percentiles.
//!
//! k6 computes a trend's percentiles by linear interpolation between its
//! sorted samples ([`super::percentile`]). Keeping every sample makes an
//! import's memory grow with the file; a [`Sketch`] instead keeps counts:
//!
//! - **exactly**, value by value, while it has seen at most
//!   [`EXACT_LIMIT`] distinct values (a small run, or a metric that takes
//!   few values, such as `http_req_connecting`'s zeros): percentiles then
//!   equal k6's to the last bit;
//! - past that, in logarithmic bins [`REL_WIDTH`] wide (2⁻¹¹ ≈ 0.049 %),
//!   each read back as its geometric middle, so that any sample read back is
//!   within 0.025 % of its value, and an interpolated percentile too.
//!
//! The count, sum, minimum and maximum are always exact (so are `avg`,
//! `min`, `max`, and the 0th and 100th percentiles). Memory is one map
//! entry per distinct value or bin: at most a few tens of thousands for any
//! range of durations, however many samples the file holds.

use std::collections::BTreeMap;

/// Distinct values kept exactly before switching to bins.
pub const EXACT_LIMIT: usize = 4096;

/// The relative width of a bin (2⁻¹¹).
pub const REL_WIDTH: f64 = 1.0 / 2048.0;

/// Bin codes of positive values are offset by this, above any bin index a
/// finite `f64` gives (|ln v| / ln(1 + 2⁻¹¹) < 1.6 million).
const OFFSET: i64 = 1 << 22;

/// A trend's samples, exactly or binned.
#[derive(Debug, Clone, PartialEq)]
pub struct Sketch {
    /// Count by key: the value's ordered bits while exact, its bin's code
    /// once binned; both orders are the values' order.
    counts: BTreeMap<i64, u64>,
    binned: bool,
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
}

impl Default for Sketch {
    fn default() -> Self {
        Sketch {
            counts: BTreeMap::new(),
            binned: false,
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

/// An `f64`'s bits as an `i64` ordered as the values are (`total_cmp`).
fn ordered(v: f64) -> i64 {
    let bits = v.to_bits() as i64;
    bits ^ ((((bits >> 63) as u64) >> 1) as i64)
}

fn unordered(key: i64) -> f64 {
    f64::from_bits((key ^ ((((key >> 63) as u64) >> 1) as i64)) as u64)
}

fn ln_base() -> f64 {
    REL_WIDTH.ln_1p()
}

/// The bin code of `v`: 0 for zero, ± (offset + bin index) by sign, so
/// that codes sort as values do.
fn code(v: f64) -> i64 {
    if v == 0.0 {
        return 0;
    }
    let bin = (v.abs().ln() / ln_base()).floor() as i64 + OFFSET;
    if v > 0.0 { bin } else { -bin }
}

/// The value a bin stands for: its geometric middle.
fn middle(code: i64) -> f64 {
    if code == 0 {
        return 0.0;
    }
    let m = ((code.abs() - OFFSET) as f64 + 0.5) * ln_base();
    if code > 0 { m.exp() } else { -m.exp() }
}

impl Sketch {
    /// Adds one sample.
    pub fn record(&mut self, v: f64) {
        self.count += 1;
        self.sum += v;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        let key = if self.binned { code(v) } else { ordered(v) };
        *self.counts.entry(key).or_insert(0) += 1;
        if !self.binned && self.counts.len() > EXACT_LIMIT {
            self.bin();
        }
    }

    /// Switches from exact values to bins.
    fn bin(&mut self) {
        let exact = std::mem::take(&mut self.counts);
        for (key, n) in exact {
            *self.counts.entry(code(unordered(key))).or_insert(0) += n;
        }
        self.binned = true;
    }

    /// Adds another sketch's samples.
    pub fn merge(&mut self, other: &Sketch) {
        if other.count == 0 {
            return;
        }
        if other.binned && !self.binned {
            self.bin();
        }
        for (&key, &n) in &other.counts {
            let key = match (self.binned, other.binned) {
                (true, false) => code(unordered(key)),
                _ => key,
            };
            *self.counts.entry(key).or_insert(0) += n;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        if !self.binned && self.counts.len() > EXACT_LIMIT {
            self.bin();
        }
    }

    /// How many samples.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Whether it holds exact values (no bins yet).
    pub fn is_exact(&self) -> bool {
        !self.binned
    }

    /// Their mean; `None` when empty.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }

    /// The smallest sample.
    pub fn min(&self) -> Option<f64> {
        (self.count > 0).then_some(self.min)
    }

    /// The largest sample.
    pub fn max(&self) -> Option<f64> {
        (self.count > 0).then_some(self.max)
    }

    /// k6's `p` percentile (0..=1): the samples at the ranks around
    /// `p × (n − 1)`, interpolated linearly.
    pub fn k6(&self, p: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let last = self.count - 1;
        let i = p.clamp(0.0, 1.0) * last as f64;
        let (lo, hi) = (i.floor(), i.ceil());
        let (j, k) = self.at_ranks(lo as u64, hi as u64);
        Some(j + (k - j) * (i - lo))
    }

    /// The samples at ranks `a <= b` (0-based, sorted order).
    fn at_ranks(&self, a: u64, b: u64) -> (f64, f64) {
        let last = self.count - 1;
        let read = |key: i64| {
            let v = if self.binned { middle(key) } else { unordered(key) };
            v.clamp(self.min, self.max)
        };
        let (mut va, mut vb) = (None, None);
        let mut seen = 0u64;
        for (&key, &n) in &self.counts {
            seen += n;
            if va.is_none() && a < seen {
                va = Some(read(key));
            }
            if b < seen {
                vb = Some(read(key));
                break;
            }
        }
        let exact = |rank: u64, v: Option<f64>| match rank {
            0 => self.min,
            r if r == last => self.max,
            _ => v.unwrap_or(self.max),
        };
        (exact(a, va), exact(b, vb))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::k6::percentile;

    fn sketch(values: &[f64]) -> Sketch {
        let mut s = Sketch::default();
        for v in values {
            s.record(*v);
        }
        s
    }

    #[test]
    fn ordered_bits_sort_as_values() {
        let mut v = [3.5, -2.0, 0.0, -0.0, 1e-300, -1e300, 7.25, f64::MAX, f64::MIN];
        let mut keys: Vec<i64> = v.iter().map(|x| ordered(*x)).collect();
        keys.sort();
        v.sort_by(f64::total_cmp);
        let back: Vec<f64> = keys.iter().map(|k| unordered(*k)).collect();
        assert_eq!(
            back.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            v.map(f64::to_bits)
        );
    }

    #[test]
    fn exact_while_few_values() {
        let values = [5.0, 1.0, 3.0, 3.0, 10.5, 0.0, 2.25];
        let s = sketch(&values);
        assert!(s.is_exact());
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        for p in [0.0, 0.1, 0.5, 0.9, 0.95, 0.999, 1.0] {
            assert_eq!(s.k6(p), percentile::k6(&sorted, p), "p={p}");
        }
        assert_eq!(s.mean(), Some(values.iter().sum::<f64>() / 7.0));
        assert_eq!((s.min(), s.max()), (Some(0.0), Some(10.5)));
        assert_eq!(Sketch::default().k6(0.5), None);
    }

    #[test]
    fn binned_percentiles_are_within_a_quarter_of_a_bin() {
        // 200,000 distinct values over five decades, negative ones and
        // zeros too, in a scrambled order.
        let mut values: Vec<f64> = (0..200_000u64)
            .map(|i| {
                let x = (i.wrapping_mul(2_654_435_761) % 200_000) as f64;
                match i % 50 {
                    0 => 0.0,
                    1 => -(x / 1000.0),
                    _ => 0.01 * (x / 200_000.0 * 11.5).exp(),
                }
            })
            .collect();
        let s = sketch(&values);
        assert!(!s.is_exact());
        values.sort_by(f64::total_cmp);
        for p in [0.0, 0.01, 0.02, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
            let want = percentile::k6(&values, p).unwrap();
            let got = s.k6(p).unwrap();
            let tol = want.abs() * REL_WIDTH / 2.0 + 1e-12;
            assert!((got - want).abs() <= tol, "p={p}: {got} vs {want}");
        }
        assert_eq!(s.count(), 200_000);
        assert!(s.counts.len() < 30_000, "{} bins", s.counts.len());
    }

    #[test]
    fn merging_equals_recording_all() {
        let a: Vec<f64> = (0..5000).map(|i| 1.0 + i as f64 * 0.37).collect();
        let b: Vec<f64> = (0..300).map(|i| 2.0 + i as f64 * 0.5).collect();
        let mut merged = sketch(&b);
        merged.merge(&sketch(&a));
        let mut all = b.clone();
        all.extend(&a);
        let whole = sketch(&all);
        for p in [0.0, 0.5, 0.95, 0.99, 1.0] {
            assert_eq!(merged.k6(p), whole.k6(p), "p={p}");
        }
        assert_eq!(merged.count(), 5300);
        let mut exact = sketch(&b);
        exact.merge(&sketch(&b[..10]));
        assert!(exact.is_exact());
        assert_eq!(exact.count(), 310);
    }
}
