//! Evaluates metric expressions (`http_req_duration{endpoint:search}` +
//! `p(95)<500`) against what a run measured. Thresholds, requirements and
//! live `abort_on_fail` checks all go through [`evaluate`].

use super::delivery::DeliveryReport;
use super::deploy::{PhaseSpan, ProbeResult};
use crate::metrics::availability::AvailabilityResult;
use crate::metrics::live::Phase;
use crate::plan::roster::Roster;
use crate::plan::{Aggregation, Condition, MetricSelector};

use super::result::ZeroDowntime;

use super::hist::Hist;
use super::recorder::GenStats;
use super::stats::Stats;
use crate::plan::registry::ErrorClass;
use crate::plan::registry::Tag;

/// The measurements an expression is evaluated against.
pub struct View<'a> {
    /// The endpoints and scenarios results are keyed by.
    pub roster: &'a Roster,
    /// Stats by key (`(phase * n_scenarios + scenario) * n_endpoints +
    /// endpoint`).
    pub keys: &'a [Stats],
    /// Pacing by scenario.
    pub generator: &'a [GenStats],
    /// Seconds the load has run, for per-second rates.
    pub duration_s: f64,
    /// The phases, for `{phase:…}` rates (empty without a rollout).
    pub phases: &'a [PhaseSpan],
    /// The availability analysis, once the run is over.
    pub availability: Option<&'a AvailabilityResult>,
    /// The probes' results, once the run is over.
    pub probes: &'a [ProbeResult],
    /// The zero-downtime rule's counts, once the run is over.
    pub zero_downtime: Option<&'a ZeroDowntime>,
    /// The sink's figures, once the run is over.
    pub delivery: Option<&'a DeliveryReport>,
}

impl<'a> View<'a> {
    /// A view of live data, with no rollout results yet.
    pub fn live(roster: &'a Roster, keys: &'a [Stats], generator: &'a [GenStats], duration_s: f64) -> Self {
        View {
            roster,
            keys,
            generator,
            duration_s,
            phases: &[],
            availability: None,
            probes: &[],
            zero_downtime: None,
            delivery: None,
        }
    }
}

/// The measured value and whether the condition holds. The value is `None`
/// (and the condition fails) when the selected metric has no samples.
pub fn evaluate(view: &View, selector: &MetricSelector, condition: &Condition) -> (Option<f64>, bool) {
    let value = measure(view, selector, condition.aggregation);
    let ok = value.is_some_and(|v| condition.op.holds(v, condition.value));
    (value, ok)
}

fn tag(selector: &MetricSelector, t: Tag) -> Option<&str> {
    selector.tags.iter().find(|(k, _)| *k == t).map(|(_, v)| v.as_str())
}

fn measure(view: &View, sel: &MetricSelector, agg: Aggregation) -> Option<f64> {
    if let Some(v) = availability_metric(view, sel, agg) {
        return v;
    }
    if let Some(v) = delivery_metric(view, sel, agg) {
        return v;
    }
    let stats = selected_stats(view, sel);
    // A phase's rate is over the phase's own length.
    let seconds = match tag(sel, Tag::Phase) {
        Some(name) => view
            .phases
            .iter()
            .find(|p| p.name == name)
            .map_or(0.0, |p| p.end_s.unwrap_or(view.duration_s) - p.start_s),
        None => view.duration_s,
    };
    let per_second = |n: u64| if seconds > 0.0 { n as f64 / seconds } else { 0.0 };
    match sel.metric.name {
        "http_req_duration" => trend(&stats.duration, agg),
        "http_req_service_duration" => trend(&stats.service, agg),
        "http_req_failure_duration" => trend(&stats.failure, agg),
        "http_req_failed" => (stats.requests > 0).then(|| stats.failed() as f64 / stats.requests as f64),
        "http_reqs" => {
            let n = match tag(sel, Tag::Status).and_then(|s| s.parse().ok()) {
                Some(code) => stats.status_count(code),
                None => stats.requests,
            };
            counter(n, agg, per_second)
        }
        "http_errors" => {
            let n = match tag(sel, Tag::Class) {
                Some(class) => ErrorClass::ALL
                    .iter()
                    .find(|c| c.name() == class)
                    .map_or(0, |c| stats.errors_of(*c)),
                None => stats.failed(),
            };
            counter(n, agg, per_second)
        }
        "dropped_sends" => counter(selected_generator(view, sel).dropped, agg, per_second),
        "send_lag" => trend(&selected_generator(view, sel).lag, agg),
        _ => None,
    }
}

/// The rollout and probe metrics: `Some(value)` when `sel` names one of
/// them, `None` when it is an HTTP or generator metric.
#[allow(clippy::option_option)]
fn availability_metric(view: &View, sel: &MetricSelector, agg: Aggregation) -> Option<Option<f64>> {
    let gauge = |v: Option<f64>| match agg {
        Aggregation::Value | Aggregation::Max => v,
        _ => None,
    };
    let per_event = |pick: fn(&crate::metrics::availability::EventAvailability) -> Option<f64>| {
        let a = view.availability?;
        let event = tag(sel, Tag::Event);
        let values: Vec<Option<f64>> = a
            .events
            .iter()
            .filter(|e| event.is_none_or(|name| e.event == name))
            .map(pick)
            .collect();
        // Any event without a value (not recovered, nothing detected) makes
        // the whole selection unmeasured.
        if values.is_empty() || values.iter().any(Option::is_none) {
            return None;
        }
        values.into_iter().flatten().reduce(f64::max)
    };
    Some(match sel.metric.name {
        "downtime_seconds" => gauge(view.availability.map(|a| a.downtime_s)),
        "rto_seconds" => gauge(per_event(|e| e.rto_s)),
        "time_to_detect_seconds" => gauge(per_event(|e| e.time_to_detect_s)),
        // Counts over the rollout phase; a per-second rate of them is not
        // meaningful, so only `count` is measured.
        "rollout_failed_requests" => view
            .zero_downtime
            .filter(|_| agg == Aggregation::Count)
            .map(|z| z.failed_requests as f64),
        "rollout_reset_requests" => view
            .zero_downtime
            .filter(|_| agg == Aggregation::Count)
            .map(|z| z.reset_requests as f64),
        "probe_down_seconds" => {
            let probe = tag(sel, Tag::Probe);
            let chosen: Vec<f64> = view
                .probes
                .iter()
                .filter(|p| probe.is_none_or(|name| p.name == name))
                .map(|p| p.down_s)
                .collect();
            gauge(chosen.into_iter().reduce(f64::max))
        }
        _ => return None,
    })
}

/// The sink's metrics: `Some(value)` when `sel` names one of them.
#[allow(clippy::option_option)]
fn delivery_metric(view: &View, sel: &MetricSelector, agg: Aggregation) -> Option<Option<f64>> {
    if !sel.metric.name.starts_with("delivery_") {
        return None;
    }
    let d = view.delivery;
    let correlation = d.and_then(|d| d.correlation.as_ref());
    // Counts over the run; `rate` is per second of the load.
    let count = |n: Option<u64>| {
        n.and_then(|n| {
            counter(n, agg, |n| {
                if view.duration_s > 0.0 {
                    n as f64 / view.duration_s
                } else {
                    0.0
                }
            })
        })
    };
    Some(match sel.metric.name {
        "delivery_duration" => correlation.and_then(|c| trend(&c.hist, agg)),
        "delivery_duplicates" => count(d.map(|d| d.stats.duplicates)),
        "delivery_lost" => count(correlation.map(|c| c.lost)),
        "delivery_late" => count(correlation.map(|c| c.late)),
        "delivery_failed_posts" => count(d.map(|d| d.stats.failed)),
        "delivery_invalid_signature" => count(
            d.filter(|d| d.stats.signatures.verified)
                .map(|d| d.stats.signatures.invalid + d.stats.signatures.missing),
        ),
        "delivery_verified" => d
            .and_then(|d| d.stats.signatures.rate)
            .filter(|_| agg == Aggregation::Rate),
        "delivery_posts_per_event" => match agg {
            Aggregation::Value | Aggregation::Max => correlation.and_then(|c| c.posts_per_event),
            _ => None,
        },
        _ => None,
    })
}

fn counter(n: u64, agg: Aggregation, per_second: impl Fn(u64) -> f64) -> Option<f64> {
    match agg {
        Aggregation::Count | Aggregation::Value => Some(n as f64),
        Aggregation::Rate => Some(per_second(n)),
        _ => None,
    }
}

fn trend(h: &Hist, agg: Aggregation) -> Option<f64> {
    let ms = |us: u64| us as f64 / 1000.0;
    match agg {
        Aggregation::Avg => h.mean().map(|m| m / 1000.0),
        Aggregation::Min => h.min().map(ms),
        Aggregation::Max => h.max().map(ms),
        Aggregation::Med => h.quantile(0.5).map(ms),
        Aggregation::Percentile(p) => h.quantile(p / 100.0).map(ms),
        Aggregation::Count => Some(h.len() as f64),
        Aggregation::Rate | Aggregation::Value => None,
    }
}

fn scenario_matches(view: &View, sel: &MetricSelector, scenario: usize) -> bool {
    tag(sel, Tag::Scenario).is_none_or(|name| view.roster.scenarios[scenario].name == name)
}

fn selected_stats(view: &View, sel: &MetricSelector) -> Stats {
    let n = view.roster.endpoints.len().max(1);
    let n_sc = view.roster.scenarios.len().max(1);
    let endpoint = tag(sel, Tag::Endpoint);
    let phase = tag(sel, Tag::Phase).and_then(Phase::from_name).map(Phase::index);
    let mut out = Stats::default();
    for (key, s) in view.keys.iter().enumerate() {
        let endpoint_ok = endpoint.is_none_or(|name| view.roster.endpoints[key % n] == name);
        let phase_ok = phase.is_none_or(|p| key / (n * n_sc) == p);
        if endpoint_ok && phase_ok && scenario_matches(view, sel, (key / n) % n_sc) {
            out += s;
        }
    }
    out
}

fn selected_generator(view: &View, sel: &MetricSelector) -> GenStats {
    let mut out = GenStats::default();
    for (i, g) in view.generator.iter().enumerate() {
        if scenario_matches(view, sel, i) {
            out += g;
        }
    }
    out
}
