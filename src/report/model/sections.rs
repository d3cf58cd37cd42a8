//! The deployment, availability, delivery and generator sections of the
//! model, each with its values already in their units.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::metrics::RunResult;
use crate::plan::units::{count, ms, per_second, percent, secs};

/// A latency in ms with its unit, or `-`.
pub(super) fn lat(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), ms)
}

/// A phase: head, rollout or tail.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseRow {
    /// `head`, `rollout`, `tail`.
    pub name: String,
    /// `0.0–7.1 s`.
    pub span: String,
    /// Its length, with its unit.
    pub duration: String,
    /// Requests sent in it.
    pub requests: String,
    /// Of those, failed.
    pub failed: String,
    /// Requests per second.
    pub rps: String,
    /// Latency p50.
    pub p50: String,
    /// p95.
    pub p95: String,
    /// p99.
    pub p99: String,
    /// The versions that answered, by share: `v1 62%, v2 38%`.
    pub versions: String,
}

/// How the rollout went.
#[derive(Debug, Clone, Serialize)]
pub struct Rollout {
    /// What marked it (`command`, `version_header`, a workflow).
    pub trigger: String,
    /// `succeeded`, `failed`, `timed out`, `unfinished`.
    pub status: String,
    /// Whether it succeeded.
    pub ok: bool,
    /// What happened, for people.
    pub detail: Option<String>,
    /// The zero-downtime rule, in a line, when it applies.
    pub zero_downtime: Option<String>,
    /// Whether the rule held.
    pub zero_downtime_ok: Option<bool>,
    /// The versions seen, with their windows and how long they overlapped.
    pub versions: Option<String>,
}

/// Downtime and recovery.
#[derive(Debug, Clone, Serialize)]
pub struct Availability {
    /// The SLO, as a percentage.
    pub slo: String,
    /// The measurement's resolution, with its unit.
    pub resolution: String,
    /// Total downtime.
    pub downtime: String,
    /// The number of outages.
    pub outages: usize,
    /// The longest one.
    pub longest: String,
    /// One row per rollout or fault event.
    pub events: Vec<EventRow>,
}

/// A rollout or fault event's recovery.
#[derive(Debug, Clone, Serialize)]
pub struct EventRow {
    /// The event's name.
    pub event: String,
    /// When, from the start.
    pub at: String,
    /// From the event to its first failure.
    pub time_to_detect: String,
    /// From the event to the first window back at the SLO.
    pub rto: String,
    /// Whether it recovered.
    pub recovered: bool,
}

/// The sink's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    /// POSTs received.
    pub posts: String,
    /// Of those, accepted.
    pub accepted: String,
    /// Answered with a programmed failure (a status, a reset, a hang).
    pub failed: String,
    /// Of the failures, connections reset.
    pub resets: String,
    /// Of the failures, answers held back.
    pub hangs: String,
    /// Distinct delivery ids.
    pub ids: String,
    /// Bodies over the limit and malformed requests, when there were any.
    pub bad_input: Option<String>,
    /// Signatures: `331 valid, 0 invalid, 0 missing`, when checked.
    pub signatures: Option<String>,
    /// The verified share, when signatures were checked.
    pub verified: Option<String>,
    /// Duplicate deliveries.
    pub duplicates: String,
    /// Correlated events: submitted, delivered, lost, late, end to end.
    pub correlation: Option<Correlated>,
}

/// Events matched with their submissions.
#[derive(Debug, Clone, Serialize)]
pub struct Correlated {
    /// Events submitted and accepted.
    pub submitted: String,
    /// Delivered at least once.
    pub delivered: String,
    /// Never delivered.
    pub lost: String,
    /// Delivered after the deadline.
    pub late: String,
    /// The deadline, with its unit.
    pub deadline: String,
    /// POSTs per event.
    pub posts_per_event: String,
    /// End-to-end p50.
    pub p50: String,
    /// p95.
    pub p95: String,
    /// p99.
    pub p99: String,
}

/// The open-model pacer's health.
#[derive(Debug, Clone, Serialize)]
pub struct Generator {
    /// Sends scheduled.
    pub scheduled: String,
    /// Dropped because `max_in_flight` was full.
    pub dropped: String,
    /// Late past `late_after`.
    pub late: String,
    /// The lateness that counts.
    pub late_after: String,
    /// Send lag p50.
    pub lag_p50: String,
    /// Send lag p99.
    pub lag_p99: String,
}

pub(super) fn phases(r: &RunResult) -> Vec<PhaseRow> {
    r.phases
        .iter()
        .filter_map(|p| {
            let s = r.stats.phases.get(&p.name)?;
            let end = p.end_s.unwrap_or(r.duration_s);
            let l = s.latency_ms.as_ref();
            // The versions that answered in the phase's whole seconds.
            let mut seen: BTreeMap<&str, u64> = BTreeMap::new();
            let res = f64::from(r.timeline.resolution_s.max(1));
            for row in &r.timeline.total {
                let t = row.second as f64 * res;
                if t + res > p.start_s && t < end {
                    for (v, n) in &row.versions {
                        *seen.entry(v.as_str()).or_default() += n;
                    }
                }
            }
            let all: u64 = seen.values().sum();
            let versions = seen
                .iter()
                .map(|(v, n)| format!("{v} {}", percent(*n as f64 / all.max(1) as f64)))
                .collect::<Vec<_>>()
                .join(", ");
            Some(PhaseRow {
                name: p.name.clone(),
                span: format!("{:.1}–{:.1} s", p.start_s, end),
                duration: secs(end - p.start_s),
                requests: count(s.requests),
                failed: count(s.failed),
                rps: per_second(s.rps, "requests"),
                p50: lat(l.map(|l| l.p50)),
                p95: lat(l.map(|l| l.p95)),
                p99: lat(l.map(|l| l.p99)),
                versions,
            })
        })
        .collect()
}

pub(super) fn rollout(r: &RunResult) -> Option<Rollout> {
    let ro = r.rollout.as_ref()?;
    let t = &ro.trigger;
    let status = serde_json::to_value(t.status)
        .ok()
        .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
        .unwrap_or_default();
    let mut detail = t.detail.clone();
    if t.started_before_head {
        let note = "it began before the head's end";
        detail = Some(detail.map_or_else(|| note.to_string(), |d| format!("{d}; {note}")));
    }
    Some(Rollout {
        trigger: t.trigger.replace('_', " "),
        ok: status == "succeeded",
        status,
        detail,
        zero_downtime: ro.zero_downtime.as_ref().map(|z| {
            format!(
                "{} failed in the rollout ({} reset), {} allowed",
                plural(z.failed_requests, "request"),
                count(z.reset_requests),
                count(z.tolerance)
            )
        }),
        zero_downtime_ok: ro.zero_downtime.as_ref().map(|z| z.ok),
        versions: r.versions.as_ref().map(|v| {
            let seen: Vec<String> = v
                .seen
                .iter()
                .map(|s| {
                    format!(
                        "{} ({} responses, {:.1}–{:.1} s)",
                        s.version,
                        count(s.responses),
                        s.first_s,
                        s.last_s
                    )
                })
                .collect();
            format!("{}; served together for {}", seen.join(", "), secs(v.overlap_s))
        }),
    })
}

/// `1 request`, `3 requests`.
fn plural(n: u64, one: &str) -> String {
    format!("{} {one}{}", count(n), if n == 1 { "" } else { "s" })
}

pub(super) fn availability(r: &RunResult) -> Option<Availability> {
    let a = r.availability.as_ref()?;
    let opt = |v: Option<f64>| v.map_or_else(|| "-".to_string(), secs);
    Some(Availability {
        slo: percent(a.slo),
        resolution: ms(a.resolution_ms),
        downtime: secs(a.downtime_s),
        outages: a.outages.len(),
        longest: secs(a.longest_outage_s),
        events: a
            .events
            .iter()
            .map(|e| EventRow {
                event: e.event.clone(),
                at: secs(e.at_s),
                time_to_detect: match e.time_to_detect_s {
                    Some(v) => secs(v),
                    None => "no failure seen".into(),
                },
                rto: if e.recovered {
                    opt(e.rto_s)
                } else {
                    e.not_measured.clone().unwrap_or_else(|| "not recovered".into())
                },
                recovered: e.recovered,
            })
            .collect(),
    })
}

pub(super) fn delivery(r: &RunResult) -> Option<Delivery> {
    let d = r.delivery.as_ref()?;
    let sig = &d.stats.signatures;
    Some(Delivery {
        posts: count(d.stats.posts),
        accepted: count(d.stats.accepted),
        failed: count(d.stats.failed),
        resets: count(d.stats.resets),
        hangs: count(d.stats.hangs),
        ids: count(d.stats.ids),
        bad_input: (d.stats.too_large + d.stats.malformed > 0).then(|| {
            format!(
                "{} over the body limit, {} malformed",
                count(d.stats.too_large),
                count(d.stats.malformed)
            )
        }),
        signatures: sig.verified.then(|| {
            format!(
                "{} valid, {} invalid, {} missing",
                count(sig.valid),
                count(sig.invalid),
                count(sig.missing)
            )
        }),
        verified: sig.rate.filter(|_| sig.verified).map(percent),
        duplicates: count(d.stats.duplicates),
        correlation: d.correlation.as_ref().map(|c| {
            let l = c.latency_ms.as_ref();
            Correlated {
                submitted: count(c.submitted),
                delivered: count(c.delivered),
                lost: count(c.lost),
                late: count(c.late),
                deadline: ms(c.deadline_ms as f64),
                posts_per_event: c.posts_per_event.map_or_else(|| "-".into(), |p| format!("{p:.3}")),
                p50: lat(l.map(|l| l.p50)),
                p95: lat(l.map(|l| l.p95)),
                p99: lat(l.map(|l| l.p99)),
            }
        }),
    })
}

pub(super) fn generator(r: &RunResult) -> Option<Generator> {
    let g = r.generator.as_ref()?;
    if g.scheduled_sends == 0 {
        return None;
    }
    let lag = g.send_lag_ms.as_ref();
    Some(Generator {
        scheduled: count(g.scheduled_sends),
        dropped: count(g.dropped_sends),
        late: count(g.late_sends),
        late_after: ms(g.late_after_ms),
        lag_p50: lat(lag.map(|l| l.p50)),
        lag_p99: lat(lag.map(|l| l.p99)),
    })
}

pub(super) fn probes(r: &RunResult) -> Vec<String> {
    r.probes
        .iter()
        .map(|p| {
            format!(
                "{}: {} checks, {} failed, down {} in {} interval{}",
                p.name,
                count(p.checks),
                count(p.failed_checks),
                secs(p.down_s),
                p.intervals.len(),
                if p.intervals.len() == 1 { "" } else { "s" }
            )
        })
        .collect()
}
