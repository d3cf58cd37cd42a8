//! Evaluates metric expressions (`http_req_duration{endpoint:search}` +
//! `p(95)<500`) against what a run measured. Thresholds, requirements and
//! live `abort_on_fail` checks all go through [`evaluate`].

use crate::plan::{Aggregation, Condition, MetricSelector, Plan};

use super::hist::Hist;
use super::recorder::GenStats;
use super::registry::Tag;
use super::stats::{ErrorClass, Stats};

/// The measurements an expression is evaluated against.
pub struct View<'a> {
    /// The plan, for endpoint and scenario names.
    pub plan: &'a Plan,
    /// Stats by key (`scenario * n_endpoints + endpoint`).
    pub keys: &'a [Stats],
    /// Pacing by scenario.
    pub generator: &'a [GenStats],
    /// Seconds the load has run, for per-second rates.
    pub duration_s: f64,
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
    // Phases arrive with the rollout; a plan without one has no phase data.
    if tag(sel, Tag::Phase).is_some() {
        return None;
    }
    let stats = selected_stats(view, sel);
    let per_second = |n: u64| {
        if view.duration_s > 0.0 {
            n as f64 / view.duration_s
        } else {
            0.0
        }
    };
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
    tag(sel, Tag::Scenario).is_none_or(|name| view.plan.scenarios[scenario].name == name)
}

fn selected_stats(view: &View, sel: &MetricSelector) -> Stats {
    let n = view.plan.endpoints.len().max(1);
    let endpoint = tag(sel, Tag::Endpoint);
    let mut out = Stats::default();
    for (key, s) in view.keys.iter().enumerate() {
        let endpoint_ok = endpoint.is_none_or(|name| view.plan.endpoints[key % n].name == name);
        if endpoint_ok && scenario_matches(view, sel, key / n) {
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
