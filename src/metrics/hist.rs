//! A latency histogram in microseconds, 1 µs to 60 s at 3 significant digits.
//!
//! It wraps `hdrhistogram` so that an empty histogram costs nothing (most
//! per-second and per-key histograms of failures stay empty), values above
//! the top are clamped *and counted*, and merging is `+=`, the same for
//! per-worker, per-second and per-shard data.

use std::ops::AddAssign;

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};

/// The highest value recorded, in µs (60 s). Larger values are clamped.
pub const MAX_MICROS: u64 = 60_000_000;
const SIGFIG: u8 = 3;

/// A lazily allocated HDR histogram of microseconds.
#[derive(Debug, Clone, Default)]
pub struct Hist {
    inner: Option<Box<Histogram<u64>>>,
    clamped: u64,
}

fn empty() -> Box<Histogram<u64>> {
    // Bounds are constants that hdrhistogram accepts; this cannot fail.
    Box::new(Histogram::new_with_bounds(1, MAX_MICROS, SIGFIG).expect("valid histogram bounds"))
}

impl Hist {
    /// Records one value in microseconds, clamping above [`MAX_MICROS`].
    #[inline]
    pub fn record(&mut self, micros: u64) {
        let h = self.inner.get_or_insert_with(empty);
        let v = if micros > MAX_MICROS {
            self.clamped += 1;
            MAX_MICROS
        } else {
            micros.max(1)
        };
        // In range by construction.
        let _ = h.record(v);
    }

    /// Records `n` values of `micros` (a bucket read back from a log).
    pub fn record_n(&mut self, micros: u64, n: u64) {
        if n == 0 {
            return;
        }
        let h = self.inner.get_or_insert_with(empty);
        let v = if micros > MAX_MICROS {
            self.clamped += n;
            MAX_MICROS
        } else {
            micros.max(1)
        };
        let _ = h.record_n(v, n);
    }

    /// How many values were recorded.
    pub fn len(&self) -> u64 {
        self.inner.as_ref().map_or(0, |h| h.len())
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many values were above the top and clamped to it.
    pub fn clamped(&self) -> u64 {
        self.clamped
    }

    /// The value at quantile `q` (0..=1), in µs; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        self.nonempty().map(|h| h.value_at_quantile(q))
    }

    /// The smallest recorded value, in µs.
    pub fn min(&self) -> Option<u64> {
        self.nonempty().map(|h| h.min())
    }

    /// The largest recorded value, in µs.
    pub fn max(&self) -> Option<u64> {
        self.nonempty().map(|h| h.max())
    }

    /// The mean, in µs.
    pub fn mean(&self) -> Option<f64> {
        self.nonempty().map(|h| h.mean())
    }

    /// The histogram itself, when it holds a value.
    pub fn histogram(&self) -> Option<&Histogram<u64>> {
        self.nonempty()
    }

    fn nonempty(&self) -> Option<&Histogram<u64>> {
        self.inner.as_deref().filter(|h| !h.is_empty())
    }

    /// The V2 deflate-compressed encoding, as base64 (HdrHistogram's
    /// interchange format), so that shards merge exactly.
    pub fn to_base64(&self) -> String {
        let mut buf = Vec::new();
        let h = self.inner.clone().unwrap_or_else(empty);
        // Serializing into a Vec only fails on impossible sizes.
        let _ = V2DeflateSerializer::new().serialize(&h, &mut buf);
        base64::engine::general_purpose::STANDARD.encode(buf)
    }

    /// The same histogram, saying `n` of its values were clamped (the
    /// encoding does not carry that count).
    pub fn with_clamped(mut self, n: u64) -> Hist {
        self.clamped = n;
        self
    }

    /// Decodes [`Hist::to_base64`] output.
    pub fn from_base64(s: &str) -> Result<Hist, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(|e| format!("histogram is not base64: {e}"))?;
        let h: Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| format!("histogram is not HDR V2: {e:?}"))?;
        let mut out = Hist::default();
        if !h.is_empty() {
            let mut full = empty();
            full.add(&h).map_err(|e| format!("histogram out of range: {e:?}"))?;
            out.inner = Some(full);
        }
        Ok(out)
    }
}

impl AddAssign<&Hist> for Hist {
    fn add_assign(&mut self, other: &Hist) {
        self.clamped += other.clamped;
        if let Some(o) = other.nonempty() {
            // Same bounds on both sides: adding cannot go out of range.
            let _ = self.inner.get_or_insert_with(empty).add(o);
        }
    }
}

/// Summary percentiles of a histogram, in ms.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Latency {
    /// Smallest.
    pub min: f64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p99_9: f64,
    /// Largest.
    pub max: f64,
}

/// Milliseconds to seconds.
pub fn ms_to_s(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

pub(crate) fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

impl Latency {
    /// Summarizes a histogram; `None` when it is empty.
    pub fn of(h: &Hist) -> Option<Latency> {
        let q = |p: f64| h.quantile(p).map(ms);
        Some(Latency {
            min: ms(h.min()?),
            mean: h.mean()? / 1000.0,
            p50: q(0.5)?,
            p90: q(0.9)?,
            p95: q(0.95)?,
            p99: q(0.99)?,
            p99_9: q(0.999)?,
            max: ms(h.max()?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_costs_nothing_and_reports_none() {
        let h = Hist::default();
        assert!(h.inner.is_none());
        assert_eq!(h.quantile(0.5), None);
        assert_eq!(h.len(), 0);
    }

    #[test]
    fn clamps_and_counts_values_above_top() {
        let mut h = Hist::default();
        h.record(120_000_000);
        h.record(5);
        assert_eq!(h.clamped(), 1);
        assert_eq!(h.len(), 2);
        assert!(h.max().unwrap() >= MAX_MICROS);
    }

    #[test]
    fn merge_is_exact() {
        let (mut a, mut b, mut all) = (Hist::default(), Hist::default(), Hist::default());
        for v in 1..1000u64 {
            if v % 3 == 0 {
                a.record(v * 7)
            } else {
                b.record(v * 7)
            }
            all.record(v * 7);
        }
        a += &b;
        for q in [0.5, 0.9, 0.99, 0.999] {
            assert_eq!(a.quantile(q), all.quantile(q));
        }
    }

    #[test]
    fn base64_round_trips() {
        let mut h = Hist::default();
        for v in [10, 200, 3000, 40_000, 500_000] {
            h.record(v);
        }
        let back = Hist::from_base64(&h.to_base64()).unwrap();
        assert_eq!(back.len(), 5);
        assert_eq!(back.quantile(0.99), h.quantile(0.99));
        assert!(Hist::from_base64("not base64!").is_err());
    }
}
