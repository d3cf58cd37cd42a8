//! The outcome log: how many requests succeeded and failed in each
//! millisecond of the run, by intended send time. Availability (outages,
//! downtime, RTO) is computed from it rather than from per-second buckets.
//!
//! Memory follows the run's length, not its rate: two `u32` per millisecond
//! (8 bytes), about 29 MB per worker for an hour.

/// Successes and failures per millisecond since the run's start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutcomeLog {
    /// Requests with an expected status, indexed by millisecond.
    pub ok: Vec<u32>,
    /// Failed requests, indexed by millisecond.
    pub failed: Vec<u32>,
}

impl OutcomeLog {
    /// Records one request meant to be sent `ms` milliseconds after the
    /// run's start.
    #[inline]
    pub fn record(&mut self, ms: u64, ok: bool) {
        let i = ms as usize;
        if i >= self.ok.len() {
            // Grow by whole seconds so a long run reallocates rarely.
            let len = (i / 1000 + 1) * 1000;
            self.ok.resize(len, 0);
            self.failed.resize(len, 0);
        }
        let cell = if ok { &mut self.ok[i] } else { &mut self.failed[i] };
        *cell = cell.saturating_add(1);
    }

    /// Adds another worker's log.
    pub fn merge(&mut self, other: &OutcomeLog) {
        if other.ok.len() > self.ok.len() {
            self.ok.resize(other.ok.len(), 0);
            self.failed.resize(other.failed.len(), 0);
        }
        for (a, b) in self.ok.iter_mut().zip(&other.ok) {
            *a = a.saturating_add(*b);
        }
        for (a, b) in self.failed.iter_mut().zip(&other.failed) {
            *a = a.saturating_add(*b);
        }
    }

    /// Milliseconds covered (the index one past the last recorded).
    pub fn len(&self) -> usize {
        self.ok.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.ok.iter().all(|&n| n == 0) && self.failed.iter().all(|&n| n == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_merges() {
        let mut a = OutcomeLog::default();
        a.record(5, true);
        a.record(5, false);
        a.record(1500, true);
        assert_eq!(a.len(), 2000);
        let mut b = OutcomeLog::default();
        b.record(5, false);
        b.record(2999, false);
        a.merge(&b);
        assert_eq!((a.ok[5], a.failed[5]), (1, 2));
        assert_eq!((a.ok[1500], a.failed[2999]), (1, 1));
        assert!(!a.is_empty());
    }
}
