//! The per-worker recorder.
//!
//! Each engine worker thread owns one recorder and records into it with no
//! lock and no allocation (histograms are allocated once per key per second).
//! At every second boundary the worker hands the second's data to the
//! aggregator as a [`Delta`]; the run's totals and the per-second timeline
//! are both built from those deltas, so there is one merge path, `+=`.

use std::ops::AddAssign;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use super::hist::Hist;
use super::outcomes::OutcomeLog;
use super::raw::{RawBuf, RawRequest, RawSend};
use super::stats::{Outcome, Sample, Stats};
use crate::metrics::live::{Live, MAX_VERSIONS};

/// A send whose lag from its intended time exceeds this counts as late.
pub const LATE_AFTER: Duration = Duration::from_millis(10);

/// Open-model pacing statistics of one scenario.
#[derive(Debug, Clone, Default)]
pub struct GenStats {
    /// Sends the schedule asked for.
    pub scheduled: u64,
    /// Sends dropped because `max_in_flight` was full.
    pub dropped: u64,
    /// Sends made more than [`LATE_AFTER`] after their intended time.
    pub late: u64,
    /// Send lag (actual − intended), in µs.
    pub lag: Hist,
}

impl GenStats {
    fn is_empty(&self) -> bool {
        self.scheduled == 0 && self.dropped == 0
    }
}

impl AddAssign<&GenStats> for GenStats {
    fn add_assign(&mut self, o: &GenStats) {
        self.scheduled += o.scheduled;
        self.dropped += o.dropped;
        self.late += o.late;
        self.lag += &o.lag;
    }
}

/// One worker's data for one second of the run.
#[derive(Debug, Default)]
pub struct Delta {
    /// Which worker sent it.
    pub worker: usize,
    /// The second of the run it covers (0-based, by completion time).
    pub second: u64,
    /// `(key, stats)` for keys that saw requests.
    pub keys: Vec<(usize, Stats)>,
    /// `(scenario, pacing)` for open-model scenarios that scheduled sends.
    pub generator: Vec<(usize, GenStats)>,
    /// `(version id, responses)` for versions seen this second.
    pub versions: Vec<(usize, u64)>,
    /// `(scenario, VUs)` for closed-model scenarios with VUs active at some
    /// point in this second.
    pub vus: Vec<(usize, u32)>,
    /// The worker's whole outcome log, in its last delta only.
    pub outcomes: Option<OutcomeLog>,
    /// The second's raw records, when the raw-sample dump is on.
    pub raw: Option<RawBuf>,
    /// The worker will send nothing more for seconds before this one.
    pub until: u64,
    /// The worker has finished; no more deltas follow from it.
    pub done: bool,
}

/// Records samples for one worker thread.
pub struct Recorder {
    worker: usize,
    run_start: Instant,
    second: u64,
    keys: Vec<Stats>,
    generator: Vec<GenStats>,
    tx: UnboundedSender<Delta>,
    live: Arc<Live>,
    outcomes: OutcomeLog,
    /// Responses per version id this second.
    versions: [u64; MAX_VERSIONS],
    /// Version values seen by this worker and their ids, so the shared
    /// table is locked once per new value.
    version_ids: Vec<(http::HeaderValue, usize)>,
    /// Per version id, the last ms this worker reported to the table.
    version_last_ms: [u64; MAX_VERSIONS],
    /// Raw records for the test-only dump; `None` (the rule) costs one
    /// check per sample.
    raw: Option<RawBuf>,
    /// Closed model, per scenario: this worker's VUs active now.
    vus_active: Vec<u32>,
    /// Closed model, per scenario: this worker's VUs active at some point
    /// in the current second (those active when it began, plus those
    /// started since).
    vus_seen: Vec<u32>,
}

impl Recorder {
    /// A recorder for `n_keys` keys and `n_scenarios` scenarios.
    pub fn new(
        worker: usize,
        run_start: Instant,
        n_keys: usize,
        n_scenarios: usize,
        tx: UnboundedSender<Delta>,
        live: Arc<Live>,
    ) -> Self {
        Recorder {
            worker,
            run_start,
            second: 0,
            keys: vec![Stats::default(); n_keys],
            generator: vec![GenStats::default(); n_scenarios],
            tx,
            live,
            outcomes: OutcomeLog::default(),
            versions: [0; MAX_VERSIONS],
            version_ids: Vec::new(),
            version_last_ms: [u64::MAX; MAX_VERSIONS],
            raw: None,
            vus_active: vec![0; n_scenarios],
            vus_seen: vec![0; n_scenarios],
        }
    }

    /// A closed-model VU of `scenario` starts running iterations.
    pub fn vu_started(&mut self, scenario: usize, now: Instant) {
        self.advance(now);
        self.vus_active[scenario] += 1;
        self.vus_seen[scenario] += 1;
    }

    /// A closed-model VU of `scenario` stops (done, or waiting for a ramp).
    pub fn vu_stopped(&mut self, scenario: usize, now: Instant) {
        self.advance(now);
        self.vus_active[scenario] = self.vus_active[scenario].saturating_sub(1);
    }

    /// Also keeps every sample and send as it was recorded, for the raw
    /// dump; they leave with each second's delta.
    pub fn keep_raw(&mut self) {
        self.raw = Some(RawBuf::default());
    }

    /// Records one request that ended at `now`, with the version its
    /// response carried.
    #[inline]
    pub fn record(&mut self, key: usize, sample: &Sample, now: Instant, version: Option<&http::HeaderValue>) {
        self.advance(now);
        self.keys[key].record(sample);
        if let Some(raw) = &mut self.raw {
            raw.requests.push(RawRequest {
                key,
                second: self.second,
                sample: *sample,
            });
        }
        let end_us = now.saturating_duration_since(self.run_start).as_micros() as u64;
        // By intended send time: `duration_us` runs from it.
        let sent_ms = end_us.saturating_sub(sample.duration_us) / 1000;
        let ok = matches!(sample.outcome, Outcome::Response { ok: true, .. });
        self.outcomes.record(sent_ms, ok);
        if let Some(v) = version {
            self.version(v, end_us / 1000);
        }
    }

    fn version(&mut self, value: &http::HeaderValue, ms: u64) {
        let id = match self.version_ids.iter().find(|(v, _)| v == value) {
            Some(&(_, id)) => id,
            None => {
                let id = self.live.versions().intern(&String::from_utf8_lossy(value.as_bytes()));
                self.version_ids.push((value.clone(), id));
                id
            }
        };
        self.versions[id] += 1;
        let last = &mut self.version_last_ms[id];
        if *last != ms {
            // First sighting, or a new millisecond: tell the shared table.
            *last = ms;
            self.live.versions().seen(id, ms);
        }
    }

    /// Records an open-model send made `lag` after its intended time.
    #[inline]
    pub fn sent(&mut self, scenario: usize, lag: Duration, now: Instant) {
        self.advance(now);
        let g = &mut self.generator[scenario];
        g.scheduled += 1;
        let lag_us = lag.as_micros() as u64;
        g.lag.record(lag_us);
        if let Some(raw) = &mut self.raw {
            raw.sends.push(RawSend {
                scenario,
                second: self.second,
                lag_us: Some(lag_us),
            });
        }
        if lag > LATE_AFTER {
            g.late += 1;
        }
    }

    /// Records an open-model send dropped because `max_in_flight` was full.
    #[inline]
    pub fn dropped(&mut self, scenario: usize, now: Instant) {
        self.advance(now);
        let g = &mut self.generator[scenario];
        g.scheduled += 1;
        g.dropped += 1;
        if let Some(raw) = &mut self.raw {
            raw.sends.push(RawSend {
                scenario,
                second: self.second,
                lag_us: None,
            });
        }
    }

    /// Called about once a second: hands over the finished second even if
    /// the worker was idle, so the aggregator can close it.
    pub fn tick(&mut self, now: Instant) {
        self.advance(now);
    }

    /// Hands over everything and says no more deltas follow.
    pub fn finish(&mut self) {
        let mut delta = self.take();
        delta.done = true;
        delta.outcomes = Some(std::mem::take(&mut self.outcomes));
        let _ = self.tx.send(delta);
    }

    fn advance(&mut self, now: Instant) {
        let second = now.saturating_duration_since(self.run_start).as_secs();
        if second > self.second {
            let mut delta = self.take();
            delta.until = second;
            // Seconds skipped without a call still had the active VUs; each
            // gets a delta of its own, before `until` passes it.
            let gap = second > self.second + 1 && self.vus_active.iter().any(|&v| v > 0);
            if gap {
                delta.until = self.second + 1;
            }
            // The aggregator outlives the workers; a closed channel means the
            // run is being torn down and the data has nowhere to go.
            let _ = self.tx.send(delta);
            if gap {
                for s in self.second + 1..second {
                    let _ = self.tx.send(Delta {
                        worker: self.worker,
                        second: s,
                        vus: nonzero(&self.vus_active),
                        until: s + 1,
                        ..Delta::default()
                    });
                }
            }
            self.second = second;
        }
    }

    fn take(&mut self) -> Delta {
        let keys = self
            .keys
            .iter_mut()
            .enumerate()
            .filter(|(_, s)| s.requests > 0)
            .map(|(i, s)| (i, std::mem::take(s)))
            .collect();
        let generator = self
            .generator
            .iter_mut()
            .enumerate()
            .filter(|(_, g)| !g.is_empty())
            .map(|(i, g)| (i, std::mem::take(g)))
            .collect();
        let versions = self
            .versions
            .iter_mut()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| (i, std::mem::take(n)))
            .collect();
        let vus = nonzero(&self.vus_seen);
        self.vus_seen.copy_from_slice(&self.vus_active);
        Delta {
            worker: self.worker,
            second: self.second,
            keys,
            generator,
            versions,
            vus,
            outcomes: None,
            raw: self.raw.as_mut().map(std::mem::take),
            until: self.second,
            done: false,
        }
    }
}

/// `(index, value)` of the non-zero values.
fn nonzero(v: &[u32]) -> Vec<(usize, u32)> {
    v.iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(i, n)| (i, *n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flushes_per_second_and_on_finish() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let start = Instant::now();
        let live = Arc::new(Live::new(Some("x-v")));
        let mut r = Recorder::new(3, start, 2, 1, tx, live.clone());
        let s = Sample {
            outcome: Outcome::Response { status: 200, ok: true },
            duration_us: 10,
            service_us: 10,
            http2: false,
        };
        let v1 = http::HeaderValue::from_static("v1");
        r.record(1, &s, start, Some(&v1));
        r.record(1, &s, start + Duration::from_millis(500), Some(&v1));
        r.record(0, &s, start + Duration::from_millis(1500), None);
        r.sent(0, Duration::from_millis(20), start + Duration::from_millis(1600));
        r.tick(start + Duration::from_millis(2100));
        r.finish();
        let d0 = rx.try_recv().unwrap();
        assert_eq!((d0.worker, d0.second, d0.keys.len()), (3, 0, 1));
        assert_eq!(d0.keys[0].1.requests, 2);
        assert_eq!(d0.versions, vec![(0, 2)]);
        assert_eq!(live.versions().snapshot()[0].last_ms, 500);
        assert_eq!(d0.until, 1);
        let d1 = rx.try_recv().unwrap();
        assert_eq!(d1.second, 1);
        assert_eq!(d1.generator[0].1.late, 1);
        let d2 = rx.try_recv().unwrap();
        assert!(d2.done && d2.keys.is_empty());
        let log = d2.outcomes.unwrap();
        assert_eq!((log.ok_at(0), log.ok_at(499), log.ok_at(1499)), (1, 1, 1));
    }

    #[test]
    fn counts_vus_active_in_each_second_gaps_included() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let start = Instant::now();
        let mut r = Recorder::new(0, start, 1, 2, tx, Arc::new(Live::new(None)));
        let at = |ms| start + Duration::from_millis(ms);
        r.vu_started(1, at(100));
        r.vu_started(1, at(500));
        r.vu_stopped(1, at(700));
        // Nothing happens in seconds 1 and 2; the next call is in second 3.
        r.tick(at(3500));
        r.finish();
        let mut got = Vec::new();
        while let Ok(d) = rx.try_recv() {
            got.push((d.second, d.vus, d.until));
        }
        assert_eq!(
            got,
            vec![
                (0, vec![(1, 2)], 1),
                (1, vec![(1, 1)], 2),
                (2, vec![(1, 1)], 3),
                (3, vec![(1, 1)], 3),
            ]
        );
    }
}
