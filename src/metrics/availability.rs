//! Availability analysis (the `availability` of `run.json`; here, below the
//! rollout stage, because the evaluator of thresholds reads it): outages,
//! downtime, time to detect and RTO,
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

use super::hist::ms_to_s;
use super::outcomes::OutcomeLog;

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
    /// Why the event's RTO and time to detect were not measured (its fault
    /// command failed, so there was nothing real to recover from): both are
    /// then `null`, and never a pass.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub not_measured: Option<String>,
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
    let view = Horizon::new(log, end);
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
                not_measured: None,
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

/// The log over the horizon.
struct Horizon<'a> {
    log: &'a OutcomeLog,
    /// One past the last millisecond analyzed.
    horizon: u64,
}

impl<'a> Horizon<'a> {
    /// The log's view up to `max(end, last recorded + 1 ms)`.
    fn new(log: &'a OutcomeLog, end: Duration) -> Self {
        let recorded = log.last_recorded().map_or(0, |ms| ms + 1);
        Horizon {
            log,
            horizon: duration_ms(end).max(recorded),
        }
    }
}

/// Clusters the failures and keeps the clusters below the SLO.
fn outages(view: &Horizon<'_>, slo: f64, gap: u64) -> Vec<Outage> {
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
fn push_if_outage(view: &Horizon<'_>, first: u64, last: u64, slo: f64, gap: u64, out: &mut Vec<Outage>) {
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
fn rto_ms(view: &Horizon<'_>, outages: &[Outage], at: u64, w: u64, slo: f64) -> Option<u64> {
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
mod tests;
