//! Availability analysis: outages, downtime, time to detect and RTO,
//! computed from request outcomes and their intended send times (the
//! per-millisecond [`OutcomeLog`]), not from per-second buckets.
//!
//! Pure: no I/O, no clock. Clustering is one pass over the log; each RTO
//! sums one window per candidate start (the event and each outage's end).
//! Nothing is allocated in proportion to the log, so an hour at one entry
//! per millisecond (3.6 M entries) takes milliseconds.
//!
//! # Definitions
//!
//! All times are milliseconds since the run's start, by each request's
//! *intended* send time (so a stalled client cannot hide an outage).
//!
//! - **Horizon.** The analysis covers `[0, end)`, where `end` is the run's
//!   length, or one past the last millisecond with a recorded request if
//!   that is later.
//! - **Resolution.** `max(1000 / rate, 1 ms)`: the spacing of requests, so
//!   the finest detail the run can see. It is passed in and reported as
//!   given; it sets the clustering gap below.
//! - **Outage.** Failed requests are clustered in time order: a failure
//!   less than `G = max(1 s, 10 × resolution)` after the previous one joins
//!   its cluster. A cluster runs from its first failed request to its last,
//!   inclusive. It is an *outage* when the success rate around it (all
//!   requests sent within it and within `G` before and after it) is below
//!   the SLO. So a lone failure among successes is not an outage, and a dead
//!   backend that a load balancer still sends every other request to (50 %
//!   failures) is one outage from its first failure to its last.
//! - **Outage length.** `last − first + 1 ms`, so an outage of one request
//!   lasts 1 ms. When only some requests fail (round-robin to a dead
//!   backend), the first and last failures can each be up to one failure
//!   spacing inside the real outage, so the length can come out short by
//!   that much (2 × resolution for 50 % failures).
//! - **Downtime.** The sum of the outage lengths; **longest outage**, the
//!   longest of them.
//! - **Time to detect** (per event). From the event to the first failed
//!   request at or after it, up to the horizon; `None` when there is none.
//! - **RTO** (per event). From the event to the start `t` of the first
//!   window `[t, t + W)` that is back at the SLO, where `t` is the event's
//!   millisecond or the end of an outage at or after it. A window is at the
//!   SLO when it holds at least one request (an empty window is no evidence
//!   of recovery), its success rate is at least the SLO, and it lies
//!   entirely within the horizon (`t + W ≤ end`). If no request fails at or
//!   after the event, the RTO is 0 and the event counts as recovered; if
//!   failures follow and no window qualifies, the RTO is `None` and
//!   `recovered` is false. Windows start only at the event or at an
//!   outage's end so that a window cannot count as recovered while the
//!   outage is still going on merely because the failures left in it are
//!   under the SLO's share (at 99 % a 5 s window at 200 requests/s may hold
//!   10 failures).
//!
//! Event times are taken to the millisecond (rounded down); the reported
//! times to detect and RTOs are whole milliseconds.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::metrics::outcomes::OutcomeLog;

/// The availability of a run: its outages and, per event, how long until
/// failures showed and until the service was back at the SLO.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AvailabilityResult {
    /// The success rate below which a cluster of failures is an outage.
    pub slo: f64,
    /// The RTO window `W`, in seconds.
    pub window_s: f64,
    /// The measurement resolution in milliseconds, `max(1000 / rate, 1 ms)`,
    /// as passed in.
    pub resolution_ms: f64,
    /// The sum of the outage lengths, in seconds.
    pub downtime_s: f64,
    /// The longest outage, in seconds (0 when there is none).
    pub longest_outage_s: f64,
    /// The outages, in time order.
    pub outages: Vec<Outage>,
    /// Per event, in the order given.
    pub events: Vec<EventAvailability>,
}

/// One outage: a cluster of failures whose success rate is below the SLO.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outage {
    /// The first failed request's millisecond, in seconds since the run's
    /// start.
    pub start_s: f64,
    /// One millisecond past the last failed request's, in seconds since the
    /// run's start.
    pub end_s: f64,
    /// Requests sent within it, both ends included.
    pub requests: u64,
    /// Of those, how many failed.
    pub failed: u64,
}

/// Time to detect and RTO for one event (a rollout start, a fault).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventAvailability {
    /// The event's name.
    pub event: String,
    /// When it happened, in seconds since the run's start.
    pub at_s: f64,
    /// From the event to the first failed request at or after it; `None`
    /// when none failed.
    pub time_to_detect_s: Option<f64>,
    /// From the event to the start of the first window of `W` back at the
    /// SLO; 0 when nothing failed after the event, `None` when it never
    /// recovered within the run.
    pub rto_s: Option<f64>,
    /// Whether a window back at the SLO was found (or nothing failed).
    pub recovered: bool,
}

/// An event to measure time to detect and RTO from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventMark {
    /// The event's name (reported as is).
    pub name: String,
    /// Its offset from the run's start.
    pub at: Duration,
}

/// Analyzes a run's outcomes: outages and downtime, and for each event its
/// time to detect and RTO. See the module documentation for the
/// definitions.
///
/// `resolution` is the measurement resolution (`max(1000 / rate, 1 ms)`)
/// and `end` the run's length. Never panics: an SLO that is NaN finds no
/// outage and no recovery, a zero window is taken as 1 ms.
pub fn analyze(
    log: &OutcomeLog,
    events: &[EventMark],
    slo: f64,
    window: Duration,
    resolution: Duration,
    end: Duration,
) -> AvailabilityResult {
    let view = View::new(log, end);
    let resolution_ms = resolution.as_secs_f64() * 1000.0;
    let outages = outages(&view, slo, gap_ms(resolution_ms));
    let lengths = outages.iter().map(|o| o.end_s - o.start_s);
    // A fold from +0.0: `sum` of no f64 is -0.0, printed as "-0.000".
    let downtime_s = lengths.clone().fold(0.0, |a, b| a + b);
    let longest_outage_s = lengths.fold(0.0, f64::max);
    let window_ms = window_ms(window);
    let events = events
        .iter()
        .map(|event| {
            let at_ms = duration_ms(event.at);
            let first_failure = view.log.first_failure_from(at_ms);
            let rto = match first_failure {
                None => Some(0),
                Some(_) => rto_ms(&view, &outages, at_ms, window_ms, slo),
            };
            EventAvailability {
                event: event.name.clone(),
                at_s: event.at.as_secs_f64(),
                time_to_detect_s: first_failure.map(|ms| ms_to_s(ms - at_ms)),
                rto_s: rto.map(ms_to_s),
                recovered: rto.is_some(),
            }
        })
        .collect();
    AvailabilityResult {
        slo,
        window_s: window.as_secs_f64(),
        resolution_ms,
        downtime_s,
        longest_outage_s,
        outages,
        events,
    }
}

/// The clustering gap `G = max(1 s, 10 × resolution)`, in whole
/// milliseconds (rounded up).
fn gap_ms(resolution_ms: f64) -> u64 {
    let ten = (resolution_ms * 10.0).ceil();
    // NaN and negative resolutions fall back to 1 s; `as` saturates.
    if ten.is_finite() && ten > 1000.0 {
        ten as u64
    } else {
        1000
    }
}

/// The RTO window in whole milliseconds, at least 1.
fn window_ms(window: Duration) -> u64 {
    duration_ms(window).max(1)
}

/// A duration in whole milliseconds, saturating.
fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Milliseconds to seconds.
fn ms_to_s(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// The log over the horizon.
struct View<'a> {
    log: &'a OutcomeLog,
    /// One past the last millisecond analyzed.
    horizon: u64,
}

impl<'a> View<'a> {
    /// The log's view up to `max(end, last recorded + 1 ms)`.
    fn new(log: &'a OutcomeLog, end: Duration) -> Self {
        let recorded = log.last_recorded().map_or(0, |ms| ms + 1);
        View {
            log,
            horizon: duration_ms(end).max(recorded),
        }
    }
}

/// Clusters the failures and keeps the clusters below the SLO.
fn outages(view: &View<'_>, slo: f64, gap: u64) -> Vec<Outage> {
    let mut out = Vec::new();
    let mut cluster: Option<(u64, u64)> = None;
    for ms in view.log.failures() {
        cluster = match cluster {
            Some((first, last)) if ms - last < gap => Some((first, ms)),
            Some((first, last)) => {
                push_if_outage(view, first, last, slo, gap, &mut out);
                Some((ms, ms))
            }
            None => Some((ms, ms)),
        };
    }
    if let Some((first, last)) = cluster {
        push_if_outage(view, first, last, slo, gap, &mut out);
    }
    out
}

/// Adds the cluster `[first, last]` to `out` if the success rate around it
/// (the cluster and `gap` on each side) is below the SLO. The context keeps
/// a lone failure among successes from counting as a 1 ms outage, while a
/// run of failures stays one.
fn push_if_outage(view: &View<'_>, first: u64, last: u64, slo: f64, gap: u64, out: &mut Vec<Outage>) {
    let (mut ok, mut failed) = (0u64, 0u64);
    for ms in first..=last {
        ok += view.log.ok_at(ms);
        failed += view.log.failed_at(ms);
    }
    let requests = ok + failed;
    let (mut ctx_ok, mut ctx_failed) = (ok, failed);
    let before = first.saturating_sub(gap)..first;
    let after = last.saturating_add(1)..last.saturating_add(1).saturating_add(gap).min(view.horizon);
    for ms in before.chain(after) {
        ctx_ok += view.log.ok_at(ms);
        ctx_failed += view.log.failed_at(ms);
    }
    let total = ctx_ok + ctx_failed;
    // `failed ≥ 1`, so `total > 0`. NaN SLOs compare false: no outage.
    if total > 0 && (ctx_ok as f64 / total as f64) < slo {
        out.push(Outage {
            start_s: ms_to_s(first),
            end_s: ms_to_s(last + 1),
            requests,
            failed,
        });
    }
}

/// Whether a window with `ok` successes of `total` requests is at the SLO.
///
/// Division is correctly rounded, so a rate exactly equal to the SLO's
/// decimal value (990 / 1000 against 0.99) compares equal.
#[inline]
fn at_slo(ok: u64, total: u64, slo: f64) -> bool {
    total > 0 && ok as f64 / total as f64 >= slo
}

/// The RTO in milliseconds from `at`: the offset of the first window start
/// `t` with `[t, t + w)` within the horizon and at the SLO, where `t` is the
/// event itself or the end of an outage at or after it. Starting windows
/// only there keeps a window from "recovering" in the middle of an outage
/// merely because the failures left in it are under the SLO's share.
///
/// Each candidate costs O(w); there is one per outage.
fn rto_ms(view: &View<'_>, outages: &[Outage], at: u64, w: u64, slo: f64) -> Option<u64> {
    let ends = outages
        .iter()
        .map(|o| (o.end_s * 1000.0).round() as u64)
        .filter(|&end| end > at);
    std::iter::once(at).chain(ends).find_map(|t| {
        if t.checked_add(w)? > view.horizon {
            return None;
        }
        // Past the log's end every millisecond is empty.
        let (mut ok, mut failed) = (0u64, 0u64);
        for ms in t..(t + w).min(view.log.len() as u64) {
            ok += view.log.ok_at(ms);
            failed += view.log.failed_at(ms);
        }
        at_slo(ok, ok + failed, slo).then_some(t - at)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    const MS: Duration = Duration::from_millis(1);

    /// A log of `len` ms with one request every `every` ms, all succeeding.
    fn steady(len: usize, every: usize) -> OutcomeLog {
        let mut log = OutcomeLog::default();
        for ms in (0..len).step_by(every) {
            log.record(ms as u64, true);
        }
        log
    }

    /// Turns the request at `ms` into a failure.
    fn fail(log: &mut OutcomeLog, ms: usize) {
        log.set(ms as u64, 0, 1);
    }

    fn mark(name: &str, ms: u64) -> EventMark {
        EventMark {
            name: name.to_string(),
            at: Duration::from_millis(ms),
        }
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol + 1e-9
    }

    #[test]
    fn no_failures() {
        let log = steady(10_000, 5);
        let r = analyze(
            &log,
            &[mark("deploy", 2000)],
            0.99,
            Duration::from_secs(5),
            5 * MS,
            Duration::from_secs(10),
        );
        assert!(r.outages.is_empty());
        assert_eq!(r.downtime_s, 0.0);
        assert_eq!(r.longest_outage_s, 0.0);
        assert_eq!(r.resolution_ms, 5.0);
        assert_eq!(r.window_s, 5.0);
        let e = &r.events[0];
        assert_eq!(e.event, "deploy");
        assert_eq!(e.at_s, 2.0);
        assert_eq!(e.time_to_detect_s, None);
        assert_eq!(e.rto_s, Some(0.0));
        assert!(e.recovered);
    }

    /// 200 req/s (one every 5 ms); a dead backend behind round-robin gets
    /// every other request from 1000 ms to 1400 ms; the event is 50 ms
    /// before the first failure.
    fn round_robin_outage() -> OutcomeLog {
        let mut log = steady(10_000, 5);
        for ms in (1000..1400).step_by(10) {
            fail(&mut log, ms);
        }
        log
    }

    #[test]
    fn round_robin_dead_backend_is_one_outage() {
        let log = round_robin_outage();
        let res = 5.0 / 1000.0;
        let r = analyze(
            &log,
            &[mark("deploy", 950)],
            0.99,
            Duration::from_secs(5),
            5 * MS,
            Duration::from_secs(10),
        );
        assert_eq!(r.outages.len(), 1, "{r:?}");
        let o = &r.outages[0];
        // First failure 1000, last 1390: 391 ms, within two resolutions
        // (the failure spacing) of the true 400 ms.
        assert_eq!((o.start_s, o.end_s), (1.0, 1.391));
        assert!(close(o.end_s - o.start_s, 0.4, 2.0 * res), "{o:?}");
        // 40 failures, 39 successes in between.
        assert_eq!((o.requests, o.failed), (79, 40));
        assert!(close(r.downtime_s, 0.391, 1e-9));
        assert_eq!(r.longest_outage_s, r.downtime_s);
        let e = &r.events[0];
        assert_eq!(e.time_to_detect_s, Some(0.05));
        // Windows start at the event or at an outage's end: the window from
        // 950 holds all 40 failures (below 99 %), the one from the outage's
        // end (1391) none.
        assert_eq!(e.rto_s, Some(0.441));
        assert!(e.recovered);
    }

    #[test]
    fn strict_slo_rto_ends_after_the_last_failure() {
        let log = round_robin_outage();
        let res = 0.005;
        let r = analyze(
            &log,
            &[mark("deploy", 950)],
            1.0,
            Duration::from_secs(5),
            5 * MS,
            Duration::from_secs(10),
        );
        // No failure allowed: the first clean window starts just after the
        // last failure (1391): 441 ms, ≈ 450 ms within two resolutions.
        let e = &r.events[0];
        assert_eq!(e.rto_s, Some(0.441));
        assert!(close(e.rto_s.unwrap_or(0.0), 0.45, 2.0 * res));
        assert_eq!(e.time_to_detect_s, Some(0.05));
    }

    #[test]
    fn outages_30s_apart_are_two() {
        let mut log = steady(60_000, 10);
        for ms in (5000..6000).step_by(10) {
            fail(&mut log, ms);
        }
        for ms in (36_000..36_500).step_by(10) {
            fail(&mut log, ms);
        }
        let r = analyze(
            &log,
            &[mark("a", 4000), mark("b", 35_000)],
            0.99,
            Duration::from_secs(5),
            10 * MS,
            Duration::from_secs(60),
        );
        assert_eq!(r.outages.len(), 2, "{r:?}");
        assert_eq!((r.outages[0].start_s, r.outages[0].end_s), (5.0, 5.991));
        assert_eq!((r.outages[1].start_s, r.outages[1].end_s), (36.0, 36.491));
        assert!(close(r.downtime_s, 0.991 + 0.491, 1e-9));
        assert!(close(r.longest_outage_s, 0.991, 1e-9));
        assert_eq!(r.events[0].time_to_detect_s, Some(1.0));
        assert_eq!(r.events[1].time_to_detect_s, Some(1.0));
        // The first event's RTO is about its own outage, not the second.
        assert!(r.events[0].rto_s.is_some_and(|s| s < 2.5), "{r:?}");
        assert!(r.events[1].recovered);
    }

    #[test]
    fn failures_closer_than_the_gap_are_one_cluster() {
        // Two bursts 600 ms apart at 100 % failure: one outage spanning
        // both, including the successes between them.
        let mut log = steady(5_000, 10);
        for ms in (1000..1100).step_by(10) {
            fail(&mut log, ms);
        }
        for ms in (1700..1800).step_by(10) {
            fail(&mut log, ms);
        }
        let r = analyze(&log, &[], 0.99, Duration::from_secs(1), 10 * MS, Duration::from_secs(5));
        assert_eq!(r.outages.len(), 1, "{r:?}");
        assert_eq!((r.outages[0].start_s, r.outages[0].end_s), (1.0, 1.791));
        assert_eq!((r.outages[0].requests, r.outages[0].failed), (80, 20));
    }

    #[test]
    fn gap_grows_with_the_resolution() {
        assert_eq!(gap_ms(1.0), 1000);
        assert_eq!(gap_ms(100.0), 1000);
        assert_eq!(gap_ms(250.0), 2500);
        assert_eq!(gap_ms(f64::NAN), 1000);
        assert_eq!(gap_ms(-3.0), 1000);
        // At 0.4 req/s, failures 2 s apart are one cluster.
        let mut log = steady(20_000, 2500);
        fail(&mut log, 5000);
        fail(&mut log, 7500);
        let r = analyze(
            &log,
            &[],
            0.99,
            Duration::from_secs(5),
            2500 * MS,
            Duration::from_secs(20),
        );
        assert_eq!(r.outages.len(), 1);
        assert_eq!((r.outages[0].start_s, r.outages[0].end_s), (5.0, 7.501));
    }

    #[test]
    fn sparse_lone_failures_are_not_outages() {
        // 1000 req/s for 60 s; one request in a thousand fails.
        let mut log = steady(60_000, 1);
        let mut rng = SmallRng::seed_from_u64(7);
        let mut n = 0;
        for ms in 0..60_000 {
            if rng.random_bool(0.001) {
                fail(&mut log, ms);
                n += 1;
            }
        }
        assert!(n > 20);
        let r = analyze(
            &log,
            &[mark("deploy", 10_000)],
            0.99,
            Duration::from_secs(5),
            MS,
            Duration::from_secs(60),
        );
        assert!(r.outages.is_empty(), "{:?}", r.outages);
        assert_eq!(r.downtime_s, 0.0);
        let e = &r.events[0];
        assert!(e.time_to_detect_s.is_some());
        assert_eq!(e.rto_s, Some(0.0));
        assert!(e.recovered);
    }

    #[test]
    fn a_lone_failure_among_successes_is_not_an_outage_but_a_lone_request_is() {
        let mut log = steady(5_000, 10);
        fail(&mut log, 2000);
        let r = analyze(&log, &[], 0.99, Duration::from_secs(1), 10 * MS, Duration::from_secs(5));
        assert!(r.outages.is_empty());
        // The only request, failed: an outage of 1 ms.
        let mut log = OutcomeLog::default();
        log.record(300, false);
        let r = analyze(&log, &[], 0.99, Duration::from_secs(1), MS, Duration::from_secs(5));
        assert_eq!(r.outages.len(), 1);
        assert!(close(r.downtime_s, 0.001, 1e-12));
        assert_eq!((r.outages[0].requests, r.outages[0].failed), (1, 1));
    }

    #[test]
    fn never_recovers() {
        let mut log = steady(10_000, 5);
        for ms in (3000..10_000).step_by(5) {
            fail(&mut log, ms);
        }
        let r = analyze(
            &log,
            &[mark("deploy", 2900)],
            0.99,
            Duration::from_secs(5),
            5 * MS,
            Duration::from_secs(10),
        );
        let e = &r.events[0];
        assert_eq!(e.rto_s, None);
        assert!(!e.recovered);
        assert_eq!(e.time_to_detect_s, Some(0.1));
        assert_eq!(r.outages.len(), 1);
        assert_eq!(r.outages[0].end_s, 9.996);
    }

    #[test]
    fn a_window_must_fit_in_the_run() {
        // Failures until 8 s of a 10 s run: the clean tail is only 2 s,
        // shorter than W = 5 s; at SLO 1.0 no window qualifies.
        let mut log = steady(10_000, 5);
        for ms in (3000..8000).step_by(5) {
            fail(&mut log, ms);
        }
        let r = analyze(
            &log,
            &[mark("deploy", 2900)],
            1.0,
            Duration::from_secs(5),
            5 * MS,
            Duration::from_secs(10),
        );
        assert_eq!(r.events[0].rto_s, None);
        // In a 30 s run (no requests after 10 s) the window just after the
        // last failure (7995) holds the clean requests 8000..=9995 and
        // qualifies, though most of it is empty.
        let r = analyze(
            &log,
            &[mark("deploy", 2900)],
            1.0,
            Duration::from_secs(5),
            5 * MS,
            Duration::from_secs(30),
        );
        assert_eq!(r.events[0].rto_s, Some(5.096));
        assert!(r.events[0].recovered);
        // A window with no request at all never qualifies.
        let r = analyze(
            &log,
            &[mark("deploy", 2900)],
            1.0,
            Duration::from_secs(1),
            5 * MS,
            Duration::from_secs(30),
        );
        assert_eq!(r.events[0].rto_s, Some(5.096));
    }

    #[test]
    fn empty_log() {
        let log = OutcomeLog::default();
        let r = analyze(
            &log,
            &[mark("deploy", 1000)],
            0.99,
            Duration::from_secs(5),
            MS,
            Duration::ZERO,
        );
        assert!(r.outages.is_empty());
        assert_eq!(r.downtime_s, 0.0);
        assert_eq!(r.events[0].time_to_detect_s, None);
        assert_eq!(r.events[0].rto_s, Some(0.0));
        assert!(r.events[0].recovered);
        let r = analyze(&log, &[], 0.99, Duration::from_secs(5), MS, Duration::from_secs(60));
        assert!(r.outages.is_empty() && r.events.is_empty());
    }

    #[test]
    fn bad_inputs_do_not_panic() {
        let mut log = round_robin_outage();
        log.set(60_000, 0, 0); // a block of nothing, past the end
        for slo in [f64::NAN, -1.0, 2.0, 0.0, 1.0] {
            for window in [Duration::ZERO, Duration::from_secs(3600)] {
                let r = analyze(
                    &log,
                    &[mark("late", 1_000_000), mark("zero", 0), mark("max", u64::MAX)],
                    slo,
                    window,
                    Duration::ZERO,
                    Duration::ZERO,
                );
                assert_eq!(r.events.len(), 3);
                assert_eq!(r.events[0].time_to_detect_s, None);
                assert_eq!(r.events[2].rto_s, Some(0.0));
            }
        }
        // An endless run and an SLO no window meets: the scan stops where
        // the log does.
        let r = analyze(&log, &[mark("zero", 0)], 2.0, Duration::MAX, MS, Duration::MAX);
        assert_eq!(r.outages.len(), 1);
        assert_eq!(r.events[0].rto_s, None);
        let r = analyze(&log, &[mark("zero", 0)], 2.0, Duration::ZERO, MS, Duration::MAX);
        assert_eq!(r.events[0].rto_s, None);
    }

    #[test]
    fn an_event_after_failures_that_stopped_has_rto_zero() {
        let log = round_robin_outage();
        let r = analyze(
            &log,
            &[mark("late", 3000)],
            0.99,
            Duration::from_secs(5),
            5 * MS,
            Duration::from_secs(10),
        );
        assert_eq!(r.events[0].rto_s, Some(0.0));
        assert_eq!(r.events[0].time_to_detect_s, None);
    }

    #[test]
    fn an_hour_is_linear() {
        // 3.6 M entries at 1000 req/s, an outage every 10 minutes.
        let len = 3_600_000;
        let mut log = steady(len, 1);
        for k in 0..6 {
            let base = k * 600_000 + 300_000;
            for ms in base..base + 2000 {
                fail(&mut log, ms);
            }
        }
        let events: Vec<_> = (0..6).map(|k| mark("fault", k * 600_000 + 299_000)).collect();
        let started = std::time::Instant::now();
        let r = analyze(
            &log,
            &events,
            0.99,
            Duration::from_secs(5),
            MS,
            Duration::from_secs(3600),
        );
        let took = started.elapsed();
        assert_eq!(r.outages.len(), 6);
        assert!(r.events.iter().all(|e| e.recovered));
        // Generous: unoptimized code on a slow CI machine.
        assert!(took < Duration::from_secs(20), "took {took:?}");
    }

    /// RTO by definition: every millisecond from the event is a possible
    /// window start if it is the event or one past an outage's last failure;
    /// every window is summed afresh.
    fn brute_rto(log: &OutcomeLog, outages: &[Outage], at: u64, w: u64, slo: f64, end: u64) -> Option<u64> {
        let view = View::new(log, Duration::from_millis(end));
        if view.log.first_failure_from(at).is_none() {
            return Some(0);
        }
        let is_start = |t: u64| t == at || outages.iter().any(|o| (o.end_s * 1000.0).round() as u64 == t);
        let mut t = at;
        while t + w <= view.horizon {
            if is_start(t) {
                let ok: u64 = (t..t + w).map(|ms| view.log.ok_at(ms)).sum();
                let failed: u64 = (t..t + w).map(|ms| view.log.failed_at(ms)).sum();
                let total = ok + failed;
                if total > 0 && ok as f64 / total as f64 >= slo {
                    return Some(t - at);
                }
            }
            t += 1;
        }
        None
    }

    #[test]
    fn rto_matches_brute_force_on_random_logs() {
        let mut rng = SmallRng::seed_from_u64(0x10adc4ec);
        for case in 0..300 {
            let len = rng.random_range(0..3000usize);
            let mut log = OutcomeLog::default();
            let density = rng.random_range(0.05..1.0);
            // Failure bursts with a per-burst failure probability.
            let mut p_fail = 0.0;
            for ms in 0..len {
                if rng.random_bool(0.01) {
                    p_fail = if rng.random_bool(0.5) {
                        rng.random_range(0.0..1.0)
                    } else {
                        0.0
                    };
                }
                if rng.random_bool(density) {
                    let n = rng.random_range(1..4u32);
                    for _ in 0..n {
                        if rng.random_bool(p_fail) {
                            log.record(ms as u64, false);
                        } else {
                            log.record(ms as u64, true);
                        }
                    }
                }
            }
            let w = rng.random_range(1..400u64);
            let slo = [0.5, 0.9, 0.99, 0.999, 1.0][rng.random_range(0..5usize)];
            let end = len as u64 + rng.random_range(0..200u64);
            let events: Vec<_> = (0..3).map(|i| mark("e", rng.random_range(0..end + 50) + i)).collect();
            let r = analyze(
                &log,
                &events,
                slo,
                Duration::from_millis(w),
                MS,
                Duration::from_millis(end),
            );
            for (e, mark) in r.events.iter().zip(&events) {
                let at = duration_ms(mark.at);
                let want = brute_rto(&log, &r.outages, at, w, slo, end);
                assert_eq!(
                    e.rto_s,
                    want.map(ms_to_s),
                    "case {case}: at {at} w {w} slo {slo} end {end}"
                );
                assert_eq!(e.recovered, want.is_some());
            }
        }
    }
}
