//! One small entry per delivery id, for the whole run: exact duplicate
//! detection, and the match between what loadcheck submitted and what the
//! service delivered.
//!
//! Memory grows with distinct ids, not with POSTs: an entry is the id's
//! bytes plus 24 bytes of times and counts, in a sharded hash map
//! (`docs/sink.md` gives the measured cost per id).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::metrics::delivery::Correlation;
use crate::metrics::hist::Hist;
use crate::metrics::hist::Latency;

const SHARDS: usize = 32;
/// "Never" for a time field.
const NONE: u64 = u64::MAX;

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// When loadcheck sent the submission, µs since the ledger's epoch.
    submitted_us: u64,
    /// When the first accepted delivery arrived, µs since the epoch.
    delivered_us: u64,
    /// POSTs with this id that passed verification.
    posts: u32,
    /// POSTs with this id that the sink accepted (answered 2xx).
    accepted: u32,
}

impl Default for Entry {
    fn default() -> Self {
        Entry {
            submitted_us: NONE,
            delivered_us: NONE,
            posts: 0,
            accepted: 0,
        }
    }
}

/// What one POST of an id turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryKind {
    /// The first accepted delivery of this id.
    First,
    /// A further accepted delivery: a duplicate.
    Duplicate,
    /// Not accepted (a programmed failure): the sender should retry.
    Refused,
    /// A new id while the ledger is full: answered as programmed, but not
    /// recorded, so neither counted as a duplicate nor matched later.
    OverCap,
}

/// The per-id ledger.
pub struct Ledger {
    epoch: Instant,
    shards: Vec<Mutex<HashMap<Box<str>, Entry>>>,
    /// The most entries kept.
    cap: u64,
    /// Entries kept now.
    entries: AtomicU64,
    /// New ids not recorded because the ledger was full.
    over_cap: AtomicU64,
}

impl Default for Ledger {
    fn default() -> Self {
        Ledger::new(Instant::now())
    }
}

impl Ledger {
    /// An empty ledger with no cap; times are kept relative to `epoch`.
    pub fn new(epoch: Instant) -> Self {
        Ledger::with_cap(epoch, u64::MAX)
    }

    /// An empty ledger that keeps at most `cap` ids.
    pub fn with_cap(epoch: Instant, cap: u64) -> Self {
        Ledger {
            epoch,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            cap,
            entries: AtomicU64::new(0),
            over_cap: AtomicU64::new(0),
        }
    }

    /// New ids (delivered or submitted) that were not recorded because the
    /// ledger held `cap` ids already.
    pub fn over_cap(&self) -> u64 {
        self.over_cap.load(Relaxed)
    }

    fn shard(&self, id: &str) -> &Mutex<HashMap<Box<str>, Entry>> {
        // FNV-1a picks the shard; the map inside uses its own hasher.
        let mut h: u32 = 0x811c_9dc5;
        for b in id.bytes() {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
        &self.shards[h as usize % SHARDS]
    }

    fn us(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_micros() as u64
    }

    /// Runs `f` on `id`'s entry, made if new; `None` when it is new and
    /// the ledger is full.
    fn with<R>(&self, id: &str, f: impl FnOnce(&mut Entry) -> R) -> Option<R> {
        let mut map = self.shard(id).lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(e) = map.get_mut(id) {
            return Some(f(e));
        }
        // Reserve a slot; the count never goes past the cap, even when
        // shards race for the last one.
        if self
            .entries
            .fetch_update(Relaxed, Relaxed, |n| (n < self.cap).then_some(n + 1))
            .is_err()
        {
            self.over_cap.fetch_add(1, Relaxed);
            return None;
        }
        let mut e = Entry::default();
        let r = f(&mut e);
        map.insert(id.into(), e);
        Some(r)
    }

    /// loadcheck's submission of event `id`, sent at `at` and accepted by
    /// the service.
    pub fn submitted(&self, id: &str, at: Instant) {
        let us = self.us(at);
        let _ = self.with(id, |e| e.submitted_us = e.submitted_us.min(us));
    }

    /// A verified POST of `id` at `at`; `accepted` when the sink answered 2xx.
    pub fn delivered(&self, id: &str, at: Instant, accepted: bool) -> DeliveryKind {
        let us = self.us(at);
        self.with(id, |e| {
            e.posts = e.posts.saturating_add(1);
            if !accepted {
                return DeliveryKind::Refused;
            }
            e.accepted = e.accepted.saturating_add(1);
            if e.accepted == 1 {
                e.delivered_us = us;
                DeliveryKind::First
            } else {
                DeliveryKind::Duplicate
            }
        })
        .unwrap_or(DeliveryKind::OverCap)
    }

    /// Submitted events with no accepted delivery yet.
    pub fn outstanding(&self) -> u64 {
        self.fold(0, |n, e| n + u64::from(e.submitted_us != NONE && e.accepted == 0))
    }

    /// Distinct ids delivered at least once (verified POSTs, accepted or
    /// not); submissions with no delivery yet are not counted.
    pub fn len(&self) -> usize {
        self.fold(0, |n, e| n + usize::from(e.posts > 0))
    }

    /// Whether no id has been seen.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn fold<T>(&self, init: T, mut f: impl FnMut(T, &Entry) -> T) -> T {
        let mut acc = init;
        for s in &self.shards {
            let map = s.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            for e in map.values() {
                acc = f(acc, e);
            }
        }
        acc
    }

    /// The delivery figures for submitted events: end-to-end latency, lost
    /// and late (against `deadline`), and POSTs per event.
    pub fn correlate(&self, deadline: Duration) -> Correlation {
        let deadline_us = deadline.as_micros() as u64;
        let mut c = Correlation {
            deadline_ms: deadline.as_millis() as u64,
            ..Correlation::default()
        };
        let mut hist = Hist::default();
        let mut posts = 0u64;
        let mut orphans = 0u64;
        for s in &self.shards {
            let map = s.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            for e in map.values() {
                if e.submitted_us == NONE {
                    orphans += u64::from(e.accepted > 0);
                    continue;
                }
                c.submitted += 1;
                posts += u64::from(e.posts);
                if e.accepted == 0 {
                    c.lost += 1;
                    continue;
                }
                c.delivered += 1;
                let latency = e.delivered_us.saturating_sub(e.submitted_us);
                hist.record(latency);
                if latency > deadline_us {
                    c.late += 1;
                }
            }
        }
        c.unsubmitted_deliveries = orphans;
        c.posts_per_event = (c.submitted > 0).then(|| posts as f64 / c.submitted as f64);
        c.latency_ms = Latency::of(&hist);
        c.hdr = (!hist.is_empty()).then(|| hist.to_base64());
        c.hist = hist;
        c
    }

    /// `(second of submission counted from run_start, end-to-end latency
    /// in µs)` of every delivered submission, in order of second: what a
    /// comparison bootstraps (`delivery.hlog`). 16 bytes a delivery; the
    /// per-second histograms are made one at a time as the log is written
    /// (a histogram costs 139 KB: an hour's seconds at once would be 500 MB).
    pub fn seconds(&self, run_start: Instant) -> Vec<(u64, u64)> {
        let offset = self.us(run_start);
        let mut out = self.fold(Vec::new(), |mut out, e| {
            if e.submitted_us != NONE && e.accepted > 0 && e.submitted_us >= offset {
                out.push((
                    (e.submitted_us - offset) / 1_000_000,
                    e.delivered_us.saturating_sub(e.submitted_us),
                ));
            }
            out
        });
        out.sort_unstable();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_accepted_deliveries_beyond_the_first() {
        let l = Ledger::default();
        let t = Instant::now();
        assert_eq!(l.delivered("a", t, false), DeliveryKind::Refused);
        assert_eq!(l.delivered("a", t, true), DeliveryKind::First);
        assert_eq!(l.delivered("a", t, true), DeliveryKind::Duplicate);
        assert_eq!(l.delivered("b", t, true), DeliveryKind::First);
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn a_full_ledger_records_no_new_id_and_counts_it() {
        let l = Ledger::with_cap(Instant::now(), 2);
        let t = Instant::now();
        assert_eq!(l.delivered("a", t, true), DeliveryKind::First);
        l.submitted("b", t);
        assert_eq!(l.delivered("c", t, true), DeliveryKind::OverCap);
        l.submitted("d", t);
        // Known ids are still counted exactly.
        assert_eq!(l.delivered("a", t, true), DeliveryKind::Duplicate);
        assert_eq!(l.delivered("b", t, true), DeliveryKind::First);
        assert_eq!(l.delivered("c", t, true), DeliveryKind::OverCap);
        assert_eq!((l.len(), l.over_cap()), (2, 3));
    }

    #[test]
    fn seconds_hold_each_delivery_under_its_submission_second() {
        let epoch = Instant::now();
        let l = Ledger::new(epoch);
        let at = |ms: u64| epoch + Duration::from_millis(ms);
        let run_start = at(500);
        l.submitted("early", at(100));
        l.delivered("early", at(150), true);
        l.submitted("a", at(600));
        l.delivered("a", at(2_700), true);
        l.submitted("b", at(1_400));
        l.delivered("b", at(1_430), false);
        l.delivered("b", at(1_450), true);
        l.submitted("c", at(1_600));
        l.delivered("c", at(1_640), true);
        l.submitted("lost", at(1_700));
        let mut s: Vec<(u64, Hist)> = Vec::new();
        for (second, us) in l.seconds(run_start) {
            match s.last_mut() {
                Some((last, h)) if *last == second => h.record(us),
                _ => {
                    let mut h = Hist::default();
                    h.record(us);
                    s.push((second, h));
                }
            }
        }
        let summary: Vec<(u64, u64, Option<u64>)> = s.iter().map(|(sec, h)| (*sec, h.len(), h.max())).collect();
        // "a" and "b" were submitted in second 0 of the run, "c" in second 1;
        // the pre-start and the lost submissions are not there. (Maxima are
        // HDR's, to 3 significant digits.)
        assert_eq!(summary.len(), 2, "{summary:?}");
        assert_eq!((summary[0].0, summary[0].1), (0, 2));
        assert!(
            summary[0].2.is_some_and(|us| (2_097_000..=2_103_000).contains(&us)),
            "{summary:?}"
        );
        assert_eq!((summary[1].0, summary[1].1), (1, 1));
        assert!(
            summary[1].2.is_some_and(|us| (39_950..=40_050).contains(&us)),
            "{summary:?}"
        );
    }

    #[test]
    fn correlation_counts_lost_late_and_amplification() {
        let epoch = Instant::now();
        let l = Ledger::new(epoch);
        let at = |ms: u64| epoch + Duration::from_millis(ms);
        l.submitted("e1", at(0));
        l.delivered("e1", at(40), false);
        l.delivered("e1", at(50), true);
        l.submitted("e2", at(10));
        l.delivered("e2", at(3_010), true);
        l.submitted("e3", at(20));
        // Delivered before the submission's response came back: still matched.
        l.delivered("e4", at(5), true);
        l.submitted("e4", at(1));
        l.delivered("stray", at(5), true);
        assert_eq!(l.outstanding(), 1);
        let c = l.correlate(Duration::from_secs(2));
        assert_eq!((c.submitted, c.delivered, c.lost, c.late), (4, 3, 1, 1));
        assert_eq!(c.unsubmitted_deliveries, 1);
        assert_eq!(c.posts_per_event, Some(4.0 / 4.0));
        let lat = c.latency_ms.unwrap();
        assert!((lat.max - 3000.0).abs() < 5.0, "{lat:?}");
        assert!((lat.min - 4.0).abs() < 0.1, "{lat:?}");
    }
}
