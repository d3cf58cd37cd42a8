//! The aggregator: merges the workers' per-second deltas into the run's
//! totals and its per-second timeline.
//!
//! A second is closed, and its timeline row computed, once every worker has
//! moved past it; its histograms per scenario × endpoint then go to the
//! interval log (`timeline.hlog`) when there is one, and are dropped with the
//! row's. What stays for the whole run is the timeline itself, in compact
//! rows ([`Rows`], 32 bytes a second per endpoint and for the total), the
//! seconds' responses by version and load by scenario, and the outcome log.

use std::collections::BTreeMap;

use super::hist::Hist;
use super::hlog::{Cell, IntervalLog};
use super::outcomes::OutcomeLog;
use super::recorder::{Delta, GenStats};
use super::result::TimelineRow;
use super::rows::Rows;
use super::stats::Stats;
use crate::metrics::live::MAX_VERSIONS;
use crate::plan::registry::ErrorClass;

/// A timeline row being filled.
#[derive(Debug, Default, Clone)]
struct RowAcc {
    requests: u64,
    ok: u64,
    errors: [u64; ErrorClass::COUNT],
    duration: Hist,
    versions: [u64; MAX_VERSIONS],
}

impl RowAcc {
    fn add(&mut self, s: &Stats) {
        self.requests += s.requests;
        self.ok += s.ok;
        for (a, b) in self.errors.iter_mut().zip(s.errors) {
            *a += b;
        }
        self.duration += &s.duration;
    }

    fn close_into(&self, rows: &mut Rows) {
        rows.push(self.requests, self.ok, self.errors, &self.duration);
    }
}

/// A second still open: its rows, and its histograms per scenario ×
/// endpoint while an interval log is written.
#[derive(Debug, Clone)]
struct Pending {
    total: RowAcc,
    endpoints: Vec<RowAcc>,
    /// Indexed `scenario * n_endpoints + endpoint`; empty without a log.
    cells: Vec<Cell>,
    /// Per scenario.
    load: Vec<Load>,
}

/// One second's load of one scenario.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Load {
    /// Open model: sends the schedule asked for (made or dropped).
    pub scheduled: u64,
    /// Closed model: VUs active at some point in the second.
    pub vus: u64,
}

/// Where the interval log stands.
enum Log {
    /// None was asked for.
    Off,
    /// Every closed second so far is in it.
    On(IntervalLog),
    /// A write failed; the message, until the engine takes it to warn.
    Failed(Option<String>),
}

/// Totals by key and the finished timeline, built from [`Delta`]s.
pub struct Aggregator {
    n_endpoints: usize,
    n_scenarios: usize,
    /// Stats by key (`(phase * n_scenarios + scenario) * n_endpoints +
    /// endpoint`; one phase without a rollout).
    pub keys: Vec<Stats>,
    /// Pacing by scenario.
    pub generator: Vec<GenStats>,
    until: Vec<u64>,
    pending: BTreeMap<u64, Pending>,
    log: Log,
    next_row: u64,
    /// Closed rows for the whole run.
    pub total_rows: Rows,
    /// Closed rows per endpoint.
    pub endpoint_rows: Vec<Rows>,
    /// `(second, version id, responses)` for each closed second and
    /// version that had responses.
    pub version_rows: Vec<(u64, usize, u64)>,
    /// Load by scenario, per closed second: `n_scenarios` entries a second
    /// (see [`Aggregator::load_of`]).
    load_rows: Vec<Load>,
    /// Responses by version id over the run.
    pub version_totals: [u64; MAX_VERSIONS],
    /// Every worker's outcome log, merged as workers finish.
    pub outcomes: OutcomeLog,
}

impl Aggregator {
    /// An aggregator for `n_workers` workers; `n_groups` is phases ×
    /// scenarios.
    pub fn new(n_workers: usize, n_groups: usize, n_scenarios: usize, n_endpoints: usize) -> Self {
        Aggregator {
            n_endpoints,
            n_scenarios,
            keys: vec![Stats::default(); n_groups * n_endpoints],
            generator: vec![GenStats::default(); n_scenarios],
            until: vec![0; n_workers],
            pending: BTreeMap::new(),
            log: Log::Off,
            next_row: 0,
            total_rows: Rows::default(),
            endpoint_rows: vec![Rows::default(); n_endpoints],
            version_rows: Vec::new(),
            load_rows: Vec::new(),
            version_totals: [0; MAX_VERSIONS],
            outcomes: OutcomeLog::default(),
        }
    }

    /// Writes each second's histograms to `log` as the second closes, from
    /// the next one to close on.
    pub fn log_to(&mut self, log: IntervalLog) {
        self.log = Log::On(log);
    }

    /// Whether every closed second went to the interval log (false when
    /// there is none, or a write failed).
    pub fn logged(&self) -> bool {
        matches!(self.log, Log::On(_))
    }

    /// Why the interval log stopped, once: the caller warns.
    pub fn take_log_failure(&mut self) -> Option<String> {
        match &mut self.log {
            Log::Failed(why) => why.take(),
            _ => None,
        }
    }

    fn empty_pending(&self) -> Pending {
        let cells = if matches!(self.log, Log::On(_)) {
            vec![Cell::default(); self.n_scenarios * self.n_endpoints]
        } else {
            Vec::new()
        };
        Pending {
            total: RowAcc::default(),
            endpoints: vec![RowAcc::default(); self.n_endpoints],
            cells,
            load: vec![Load::default(); self.n_scenarios],
        }
    }

    /// Merges one delta, and closes the seconds every worker has passed.
    pub fn apply(&mut self, delta: Delta) {
        if let Some(log) = &delta.outcomes {
            self.outcomes.merge(log);
        }
        if !delta.keys.is_empty() || !delta.versions.is_empty() || !delta.generator.is_empty() || !delta.vus.is_empty()
        {
            let n = self.n_endpoints;
            let n_sc = self.n_scenarios.max(1);
            if !self.pending.contains_key(&delta.second) {
                let empty = self.empty_pending();
                self.pending.insert(delta.second, empty);
            }
            let Some(p) = self.pending.get_mut(&delta.second) else {
                return;
            };
            for (key, stats) in &delta.keys {
                p.total.add(stats);
                p.endpoints[key % n].add(stats);
                if let Some(cell) = p.cells.get_mut((key / n) % n_sc * n + key % n) {
                    cell.duration += &stats.duration;
                    cell.service += &stats.service;
                }
                self.keys[*key] += stats;
            }
            for &(id, count) in &delta.versions {
                p.total.versions[id] += count;
                self.version_totals[id] += count;
            }
            for (scenario, g) in &delta.generator {
                if let Some(l) = p.load.get_mut(*scenario) {
                    l.scheduled += g.scheduled;
                }
            }
            for &(scenario, vus) in &delta.vus {
                if let Some(l) = p.load.get_mut(scenario) {
                    l.vus += u64::from(vus);
                }
            }
        }
        for (scenario, g) in &delta.generator {
            self.generator[*scenario] += g;
        }
        self.until[delta.worker] = if delta.done { u64::MAX } else { delta.until };
        let closed = self.until.iter().copied().min().unwrap_or(u64::MAX);
        self.close_before(closed);
    }

    /// Closes every remaining second up to `end_second` (exclusive), at the
    /// end of the run.
    pub fn finish(&mut self, end_second: u64) {
        let last_with_data = self.pending.keys().next_back().map_or(0, |s| s + 1);
        self.close_before(end_second.max(last_with_data));
    }

    /// Totals over every key.
    pub fn total(&self) -> Stats {
        let mut t = Stats::default();
        for s in &self.keys {
            t += s;
        }
        t
    }

    /// `(requests, failed)` over every key, without merging histograms:
    /// what live progress needs once a second.
    pub fn counts(&self) -> (u64, u64) {
        self.keys
            .iter()
            .fold((0, 0), |(r, f), s| (r + s.requests, f + s.failed()))
    }

    /// The last closed row, for live progress.
    pub fn last_row(&self) -> Option<TimelineRow> {
        self.total_rows.last()
    }

    /// Second `second`'s load by scenario (empty past the closed seconds).
    pub fn load_of(&self, second: usize) -> &[Load] {
        let n = self.n_scenarios;
        self.load_rows.get(second * n..(second + 1) * n).unwrap_or(&[])
    }

    fn close_before(&mut self, end: u64) {
        let end = if end == u64::MAX {
            self.pending.keys().next_back().map_or(self.next_row, |s| s + 1)
        } else {
            end
        };
        while self.next_row < end {
            let second = self.next_row;
            let p = match self.pending.remove(&second) {
                Some(p) => p,
                None => self.empty_pending(),
            };
            p.total.close_into(&mut self.total_rows);
            for (id, &count) in p.total.versions.iter().enumerate() {
                if count > 0 {
                    self.version_rows.push((second, id, count));
                }
            }
            self.load_rows.extend_from_slice(&p.load);
            for (rows, acc) in self.endpoint_rows.iter_mut().zip(&p.endpoints) {
                acc.close_into(rows);
            }
            if let Log::On(log) = &mut self.log
                && let Err(e) = log.write_second(second, &p.cells)
            {
                self.log = Log::Failed(Some(format!(
                    "{e}; the per-second histograms from second {second} on are not in it"
                )));
            }
            self.next_row += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::stats::{Outcome, Sample};

    fn stats(n: u64) -> Stats {
        let mut s = Stats::default();
        for i in 0..n {
            s.record(&Sample {
                outcome: Outcome::Response { status: 200, ok: true },
                duration_us: 1000 + i,
                service_us: 1000 + i,
                http2: false,
            });
        }
        s
    }

    fn delta(worker: usize, second: u64, until: u64, keys: Vec<(usize, Stats)>) -> Delta {
        Delta {
            worker,
            second,
            until,
            keys,
            ..Delta::default()
        }
    }

    #[test]
    fn closes_seconds_once_every_worker_passed_them() {
        let mut a = Aggregator::new(2, 1, 1, 2);
        a.apply(delta(0, 0, 1, vec![(0, stats(3))]));
        assert!(a.total_rows.is_empty(), "worker 1 has not passed second 0");
        a.apply(delta(1, 0, 3, vec![(1, stats(2))]));
        assert_eq!(a.total_rows.len(), 1);
        assert_eq!(a.total_rows.requests(0), 5);
        assert_eq!(a.endpoint_rows[1].requests(0), 2);
        a.apply(delta(0, 2, 4, vec![(0, stats(1))]));
        // Second 1 had no data from anyone: a zero row, not a gap.
        assert_eq!(a.total_rows.len(), 3);
        assert_eq!(a.total_rows.requests(1), 0);
        assert_eq!(a.total_rows.requests(2), 1);
        a.finish(5);
        assert_eq!(a.total_rows.len(), 5);
        assert_eq!(a.total().requests, 6);
    }

    #[test]
    fn sums_each_seconds_load_per_scenario_over_workers() {
        let mut a = Aggregator::new(2, 2, 2, 1);
        let open = |n| GenStats {
            scheduled: n,
            ..GenStats::default()
        };
        a.apply(Delta {
            generator: vec![(0, open(90))],
            vus: vec![(1, 2)],
            ..delta(0, 0, 1, vec![])
        });
        a.apply(Delta {
            generator: vec![(0, open(110))],
            vus: vec![(1, 3)],
            ..delta(1, 0, 2, vec![])
        });
        a.apply(delta(0, 1, 2, vec![]));
        let load = |scheduled, vus| Load { scheduled, vus };
        assert_eq!(a.load_of(0), [load(200, 0), load(0, 5)]);
        assert_eq!(a.load_of(1), [load(0, 0), load(0, 0)]);
        assert!(a.load_of(2).is_empty());
    }
}
