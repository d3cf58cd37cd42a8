//! k6's files turned into loadcheck's statistics: atoms, views, the
//! per-second timeline and its histograms, pacing, and k6's thresholds
//! with their outcomes.
//!
//! - From `--out json` points, every `http_req_duration` sample is a
//!   request: its `name` tag (else its `url`) is the endpoint, its
//!   `scenario` tag the scenario, its `status` and `error_code` tags its
//!   outcome. The samples fill HDR histograms (µs) for the atoms and each
//!   second; the views' percentiles are computed from the exact samples as
//!   k6 computes them. The stream holds only threshold *definitions*; they
//!   are judged here, by k6's rules, on the samples.
//! - From a summary alone there are only k6's numbers: the total's counts
//!   and latency, and k6's threshold outcomes. No atoms, no timeline.
//! - Given both, the points give the statistics and the summary gives the
//!   threshold outcomes (sub-metric thresholds are only in the summary).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::json;

use super::percentile;
use super::points::{self, Points};
use super::summary::{Format, Kind, Summary};
use crate::metrics::hist::Latency;
use crate::metrics::hlog::Cell;
use crate::metrics::result::{
    Atom, CheckResult, Generator, Imported, ImportedFile, StatisticsKind, StatsSet, StatsSummary, Timeline, TimelineRow,
};
use crate::metrics::stats::{Outcome, Sample};
use crate::metrics::{ErrorClass, Stats};
use crate::plan::expr::{Condition, condition};
use crate::plan::registry::{MetricDef, MetricKind};

/// The metric whose samples are requests.
const DURATION: &str = "http_req_duration";

/// What `http_req_duration` means in an imported k6 run.
const DURATION_MEANING: &str = "k6's http_req_duration: from the request's actual send to the end of its response, \
     without DNS, connecting or the TLS handshake, and not corrected for coordinated omission; it is closest to \
     loadcheck's http_req_service_duration. Both histograms hold it.";

/// The files an import read.
#[derive(Debug, Default)]
pub struct Inputs {
    /// A summary, from `--summary-export` or `handleSummary`.
    pub summary: Option<(PathBuf, Summary)>,
    /// The `--out json` points.
    pub points: Option<(PathBuf, Points)>,
}

/// An imported run's parts, ready for a `run.json`.
#[derive(Debug)]
pub struct Converted {
    /// The plan record: the names results are keyed by, with no load
    /// settings (k6's stream does not hold its options).
    pub plan: serde_json::Value,
    /// The first sample's time, unix ms (the summary-only path: the time of
    /// the import less the run's duration is not known, so 0).
    pub started_at_ms: i64,
    /// How long the test ran, in seconds.
    pub duration_s: f64,
    /// The statistics.
    pub stats: StatsSet,
    /// The per-second rows (no interval log yet: the caller writes it).
    pub timeline: Timeline,
    /// Each second's histograms, indexed `scenario * endpoints + endpoint`.
    pub seconds: Vec<(u64, Vec<Cell>)>,
    /// The scenarios' names, in the plan's order.
    pub scenarios: Vec<String>,
    /// The endpoints' names, in the plan's order.
    pub endpoints: Vec<String>,
    /// Pacing: k6's `dropped_iterations` as dropped sends.
    pub generator: Generator,
    /// k6's thresholds, judged.
    pub thresholds: Vec<CheckResult>,
    /// Where it all came from.
    pub imported: Imported,
}

/// Converts what was read; `name` names the run.
pub fn convert(inputs: &Inputs, name: &str, id: &str) -> Result<Converted, String> {
    let mut files = Vec::new();
    if let Some((path, s)) = &inputs.summary {
        files.push(file_record(
            path,
            match s.format {
                Format::SummaryExport => "summary-export",
                Format::HandleSummary => "handle-summary",
            },
        ));
    }
    if let Some((path, _)) = &inputs.points {
        files.push(file_record(path, "ndjson"));
    }
    let mut out = match (&inputs.points, &inputs.summary) {
        (Some((_, points)), summary) => from_points(points, summary.as_ref().map(|(_, s)| s))?,
        (None, Some((_, summary))) => from_summary(summary),
        (None, None) => return Err("nothing to import: give a k6 summary or a `--out json` file".into()),
    };
    out.imported.files = files;
    if let Some((_, summary)) = &inputs.summary {
        // k6's own outcomes are the verdict's (the stream has no sub-metric
        // thresholds and no outcomes at all).
        out.thresholds = summary_thresholds(summary);
    }
    out.plan = plan_record(name, id, &out.endpoints, &out.scenarios, out.duration_s);
    Ok(out)
}

fn file_record(path: &Path, format: &str) -> ImportedFile {
    ImportedFile {
        path: path.display().to_string(),
        format: format.to_string(),
    }
}

/// The plan record: names, each scenario sending to every endpoint it was
/// seen on, recorded as `constant-vus` over the run (k6 does not write its
/// executors), with `imported_from` saying so.
fn plan_record(name: &str, id: &str, endpoints: &[String], scenarios: &[String], duration_s: f64) -> serde_json::Value {
    let all: Vec<(usize, u32)> = (0..endpoints.len()).map(|e| (e, 1)).collect();
    json!({
        "name": name,
        "id": id,
        "imported_from": "k6",
        "endpoints": endpoints.iter().map(|e| json!({ "name": e })).collect::<Vec<_>>(),
        "scenarios": scenarios.iter().map(|s| json!({
            "name": s,
            "executor": { "executor": "constant-vus", "vus": 1, "duration": (duration_s * 1000.0).round() as u64 },
            "endpoints": all,
        })).collect::<Vec<_>>(),
        "thresholds": [],
        "requirements": [],
    })
}

/// A request's endpoint: its `name` tag, else its `url`.
fn endpoint_of(tags: &BTreeMap<String, String>) -> &str {
    points::endpoint_of(tags).unwrap_or("(no name)")
}

/// A request's scenario: its `scenario` tag, else k6's `default`.
fn scenario_of(tags: &BTreeMap<String, String>) -> &str {
    tags.get("scenario").map_or("default", String::as_str)
}

/// k6's `error_code` as a loadcheck error class.
pub fn class_of_error_code(code: u32) -> ErrorClass {
    match code {
        1050 => ErrorClass::Timeout,
        // DNS, and the dial: nothing was connected.
        1100..=1199 | 1210..=1219 => ErrorClass::Connect,
        1300..=1399 => ErrorClass::Tls,
        // HTTP/2: a graceful GOAWAY (NO_ERROR, offset 1) and REFUSED_STREAM
        // (offset 8) were never processed.
        1611 | 1638 => ErrorClass::Refused,
        // A broken connection: reset, broken pipe, any other TCP or HTTP/2
        // error, and k6's generic codes.
        _ => ErrorClass::Reset,
    }
}

fn us(ms: f64) -> u64 {
    (ms * 1000.0).round().max(0.0) as u64
}

/// A tag set's key, its response (status, expected) if any, the class of
/// its failure, and whether it came over HTTP/2.
type TagOutcome = (usize, Option<(u16, bool)>, ErrorClass, bool);

/// Per-key exact samples, for the views' k6 percentiles.
#[derive(Default, Clone)]
struct Exact {
    responses: Vec<f64>,
    failures: Vec<f64>,
}

fn latency(values: &mut [f64]) -> Option<Latency> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let q = |p: f64| percentile::k6(values, p);
    Some(Latency {
        min: values[0],
        mean: values.iter().sum::<f64>() / values.len() as f64,
        p50: q(0.5)?,
        p90: q(0.9)?,
        p95: q(0.95)?,
        p99: q(0.99)?,
        p99_9: q(99.9 / 100.0)?,
        max: *values.last()?,
    })
}

/// A view: the stats summed over some keys, with k6's percentiles.
fn view(keys: &[(Stats, Exact)], pick: &dyn Fn(usize) -> bool, duration_s: f64) -> StatsSummary {
    let mut stats = Stats::default();
    let mut exact = Exact::default();
    for (k, (s, e)) in keys.iter().enumerate() {
        if pick(k) {
            stats += s;
            exact.responses.extend_from_slice(&e.responses);
            exact.failures.extend_from_slice(&e.failures);
        }
    }
    let mut summary = StatsSummary::of(&stats, duration_s);
    summary.latency_ms = latency(&mut exact.responses);
    summary.service_latency_ms = summary.latency_ms;
    summary.failure_latency_ms = latency(&mut exact.failures);
    summary
}

fn from_points(points: &Points, summary: Option<&Summary>) -> Result<Converted, String> {
    let samples = points.samples.get(DURATION).map(Vec::as_slice).unwrap_or_default();
    if samples.is_empty() {
        return Err(format!(
            "no `{DURATION}` points: the stream holds no HTTP requests to import"
        ));
    }
    let (first_ms, last_ms) = points.span_ms().unwrap_or((0, 0));
    let duration_s = summary
        .and_then(Summary::duration)
        .unwrap_or((last_ms - first_ms) as f64 / 1000.0)
        .max(0.001);
    // The names, sorted, from the tag sets the requests carry.
    let used: BTreeSet<u32> = samples.iter().map(|s| s.tags).collect();
    let names = |of: fn(&BTreeMap<String, String>) -> &str| -> Vec<String> {
        let set: BTreeSet<&str> = used.iter().map(|&t| of(&points.tags[t as usize])).collect();
        set.into_iter().map(str::to_string).collect()
    };
    let endpoints = names(endpoint_of);
    let scenarios = names(scenario_of);
    let n = endpoints.len();
    let n_keys = scenarios.len() * n;
    // Per tag set: its key, and how its requests ended.
    let per_tags: Vec<TagOutcome> = points
        .tags
        .iter()
        .map(|tags| {
            let e = endpoints.iter().position(|x| x == endpoint_of(tags)).unwrap_or(0);
            let sc = scenarios.iter().position(|x| x == scenario_of(tags)).unwrap_or(0);
            let status: u16 = tags.get("status").and_then(|s| s.parse().ok()).unwrap_or(0);
            let response = (status > 0).then(|| {
                let ok = match tags.get("expected_response").map(String::as_str) {
                    Some(v) => v == "true",
                    None => (200..400).contains(&status),
                };
                (status, ok)
            });
            let class = tags
                .get("error_code")
                .and_then(|c| c.parse().ok())
                .map_or(ErrorClass::Reset, class_of_error_code);
            let http2 = tags.get("proto").is_some_and(|p| p.starts_with("HTTP/2"));
            (sc * n + e, response, class, http2)
        })
        .collect();
    let mut keys: Vec<(Stats, Exact)> = vec![(Stats::default(), Exact::default()); n_keys];
    let mut seconds: BTreeMap<u64, Vec<Stats>> = BTreeMap::new();
    for s in samples {
        let (key, response, class, http2) = per_tags[s.tags as usize];
        let d = us(s.value);
        let sample = Sample {
            outcome: match response {
                Some((status, ok)) => Outcome::Response { status, ok },
                None => Outcome::Failed(class),
            },
            duration_us: d,
            service_us: d,
            http2: http2 && response.is_some(),
        };
        let (stats, exact) = &mut keys[key];
        stats.record(&sample);
        match response {
            Some(_) => exact.responses.push(s.value),
            None => exact.failures.push(s.value),
        }
        let second = ((s.time_ms - first_ms).max(0) / 1000) as u64;
        seconds.entry(second).or_insert_with(|| vec![Stats::default(); n_keys])[key].record(&sample);
    }
    let stats = StatsSet {
        total: view(&keys, &|_| true, duration_s),
        endpoints: endpoints
            .iter()
            .enumerate()
            .map(|(e, name)| (name.clone(), view(&keys, &|k| k % n == e, duration_s)))
            .collect(),
        scenarios: scenarios
            .iter()
            .enumerate()
            .map(|(s, name)| (name.clone(), view(&keys, &|k| k / n == s, duration_s)))
            .collect(),
        phases: BTreeMap::new(),
        endpoint_phases: BTreeMap::new(),
        atoms: keys
            .iter()
            .enumerate()
            .filter(|(_, (s, _))| s.requests > 0)
            .map(|(k, (s, _))| Atom::of(&scenarios[k / n], &endpoints[k % n], None, s))
            .collect(),
    };
    let row = |second: u64, s: &Stats| TimelineRow::new(second, s.requests, s.ok, s.errors, &s.duration);
    let mut total_rows = Vec::new();
    let mut endpoint_rows: BTreeMap<String, Vec<TimelineRow>> =
        endpoints.iter().map(|e| (e.clone(), Vec::new())).collect();
    let mut cells = Vec::new();
    let last = seconds.keys().next_back().copied().unwrap_or(0);
    for second in 0..=last {
        let per_key = seconds
            .remove(&second)
            .unwrap_or_else(|| vec![Stats::default(); n_keys]);
        let mut total = Stats::default();
        for s in &per_key {
            total += s;
        }
        total_rows.push(row(second, &total));
        for (e, name) in endpoints.iter().enumerate() {
            let mut s = Stats::default();
            for (k, st) in per_key.iter().enumerate() {
                if k % n == e {
                    s += st;
                }
            }
            if let Some(rows) = endpoint_rows.get_mut(name) {
                rows.push(row(second, &s));
            }
        }
        cells.push((
            second,
            per_key
                .into_iter()
                .map(|s| Cell {
                    duration: s.duration.clone(),
                    service: s.service,
                })
                .collect(),
        ));
    }
    let dropped = points.sum("dropped_iterations").unwrap_or(0.0).round() as u64;
    let iterations = points.sum("iterations").unwrap_or(0.0).round() as u64;
    let scheduled = if points.declared.contains_key("dropped_iterations") {
        iterations + dropped
    } else {
        0
    };
    let generator = generator(scheduled, dropped);
    Ok(Converted {
        plan: serde_json::Value::Null,
        started_at_ms: first_ms,
        duration_s,
        stats,
        timeline: Timeline {
            resolution_s: 1,
            approximate_percentiles: false,
            total: total_rows,
            endpoints: endpoint_rows,
            interval_log: None,
        },
        seconds: cells,
        scenarios,
        endpoints,
        generator,
        thresholds: points_thresholds(points, duration_s),
        imported: imported(StatisticsKind::Histograms, points_metrics(points, duration_s)),
    })
}

/// k6's pacing as loadcheck's: dropped iterations are dropped sends.
fn generator(scheduled: u64, dropped: u64) -> Generator {
    Generator {
        scheduled_sends: scheduled,
        dropped_sends: dropped,
        late_sends: 0,
        late_after_ms: 0.0,
        send_lag_ms: None,
        scenarios: BTreeMap::new(),
    }
}

/// What a k6 import holds (`files` are the caller's to fill).
fn imported(statistics: StatisticsKind, metrics: BTreeMap<String, BTreeMap<String, f64>>) -> Imported {
    Imported {
        tool: "k6".into(),
        files: Vec::new(),
        statistics,
        percentiles: "k6".into(),
        http_req_duration: DURATION_MEANING.into(),
        metrics,
    }
}

/// The trend statistics recorded for every trend (k6's default
/// `summaryTrendStats` and more).
const TREND_STATS: [&str; 9] = [
    "avg", "min", "med", "max", "p(90)", "p(95)", "p(99)", "p(99.9)", "count",
];

/// k6's statistics of one metric or sub-metric, recomputed from points.
fn points_stats(points: &Points, selector: &str, kind: Kind, duration_s: f64) -> Option<BTreeMap<String, f64>> {
    let mut out = BTreeMap::new();
    match kind {
        Kind::Trend => {
            let t = points.trend(selector).ok()??;
            for stat in TREND_STATS {
                if let Some(v) = t.stat(stat) {
                    out.insert(stat.to_string(), v);
                }
            }
        }
        Kind::Counter => {
            let sum = points.sum(selector).ok()?;
            out.insert("count".into(), sum);
            out.insert("rate".into(), sum / duration_s);
        }
        Kind::Rate => {
            let (passes, total) = points.rate(selector).ok()?;
            if total == 0 {
                return None;
            }
            out.insert("passes".into(), passes as f64);
            out.insert("fails".into(), (total - passes) as f64);
            out.insert("rate".into(), passes as f64 / total as f64);
        }
        Kind::Gauge => {
            let s = points.select(selector).ok()?;
            let last = s.last()?;
            out.insert("value".into(), last.value);
            out.insert("min".into(), s.iter().map(|x| x.value).fold(f64::INFINITY, f64::min));
            out.insert(
                "max".into(),
                s.iter().map(|x| x.value).fold(f64::NEG_INFINITY, f64::max),
            );
        }
    }
    Some(out)
}

fn points_metrics(points: &Points, duration_s: f64) -> BTreeMap<String, BTreeMap<String, f64>> {
    let mut out = BTreeMap::new();
    for (name, d) in &points.declared {
        for selector in std::iter::once(name).chain(&d.submetrics) {
            if let Some(stats) = points_stats(points, selector, d.kind, duration_s) {
                out.insert(selector.clone(), stats);
            }
        }
    }
    out
}

/// A k6 threshold, parsed by loadcheck's own grammar (which is k6's; k6's
/// `===` is `==`) for a metric of `kind`.
fn k6_condition(expression: &str, kind: Kind) -> Option<Condition> {
    let def = MetricDef {
        name: "the k6 metric",
        kind: match kind {
            Kind::Trend => MetricKind::Trend,
            Kind::Rate => MetricKind::Rate,
            Kind::Counter => MetricKind::Counter,
            Kind::Gauge => MetricKind::Gauge,
        },
        unit: "",
        tags: &[],
        description: "",
    };
    condition(&expression.replace("===", "=="), &def).ok()
}

/// The value a condition's aggregation names in a metric's statistics
/// under k6's names (`count` of a counter is its sum; `value` of a rate is
/// its rate).
fn aggregate(values: &BTreeMap<String, f64>, kind: Kind, c: &Condition) -> Option<f64> {
    let name = c.aggregation.name();
    let key = match (kind, name.as_str()) {
        (Kind::Rate, "value") => "rate",
        (_, a) => a,
    };
    values.get(key).copied()
}

/// The stream's thresholds (definitions only), judged by k6's rules.
fn points_thresholds(points: &Points, duration_s: f64) -> Vec<CheckResult> {
    let mut out = Vec::new();
    for (name, d) in &points.declared {
        let stats = points_stats(points, name, d.kind, duration_s).unwrap_or_default();
        for expression in &d.thresholds {
            let (value, ok) = match k6_condition(expression, d.kind) {
                Some(c) => {
                    let value = aggregate(&stats, d.kind, &c);
                    (value, value.is_some_and(|v| c.holds(v)))
                }
                None => (None, false),
            };
            out.push(k6_check(name, expression, value, ok));
        }
    }
    out
}

fn k6_check(metric: &str, expression: &str, value: Option<f64>, ok: bool) -> CheckResult {
    CheckResult {
        metric: metric.to_string(),
        expression: expression.to_string(),
        value,
        ok,
        abort_on_fail: false,
        not_in_file: false,
        tool: Some("k6".into()),
    }
}

/// A summary's thresholds with k6's outcomes.
fn summary_thresholds(summary: &Summary) -> Vec<CheckResult> {
    let mut out = Vec::new();
    for (name, m) in &summary.metrics {
        for t in &m.thresholds {
            let value = k6_condition(&t.expression, m.kind).and_then(|c| aggregate(&m.values, m.kind, &c));
            out.push(k6_check(name, &t.expression, value, t.passed));
        }
    }
    out
}

fn summary_metrics(summary: &Summary) -> BTreeMap<String, BTreeMap<String, f64>> {
    summary
        .metrics
        .iter()
        .map(|(name, m)| (name.clone(), m.values.clone()))
        .collect()
}

/// A summary alone: the total's counts, k6's latency where it has every
/// statistic loadcheck records, and nothing per endpoint or per second.
fn from_summary(summary: &Summary) -> Converted {
    let duration_s = summary.duration().unwrap_or(0.0);
    let value = |metric: &str, stat: &str| summary.metrics.get(metric).and_then(|m| m.values.get(stat)).copied();
    let requests = value("http_reqs", "count").unwrap_or(0.0).round() as u64;
    let failed = value("http_req_failed", "passes").unwrap_or(0.0).round() as u64;
    let stats = Stats {
        requests,
        ok: requests.saturating_sub(failed),
        ..Stats::default()
    };
    let mut total = StatsSummary::of(&stats, duration_s);
    total.failed = failed.min(requests);
    let stat = |s: &str| value(DURATION, s);
    total.latency_ms = (|| {
        Some(Latency {
            min: stat("min")?,
            mean: stat("avg")?,
            p50: stat("med")?,
            p90: stat("p(90)")?,
            p95: stat("p(95)")?,
            p99: stat("p(99)")?,
            p99_9: stat("p(99.9)")?,
            max: stat("max")?,
        })
    })();
    let dropped = value("dropped_iterations", "count").unwrap_or(0.0).round() as u64;
    Converted {
        plan: serde_json::Value::Null,
        started_at_ms: 0,
        duration_s,
        stats: StatsSet {
            total,
            endpoints: BTreeMap::new(),
            scenarios: BTreeMap::new(),
            phases: BTreeMap::new(),
            endpoint_phases: BTreeMap::new(),
            atoms: Vec::new(),
        },
        timeline: Timeline {
            resolution_s: 1,
            approximate_percentiles: false,
            total: Vec::new(),
            endpoints: BTreeMap::new(),
            interval_log: None,
        },
        seconds: Vec::new(),
        scenarios: Vec::new(),
        endpoints: Vec::new(),
        generator: generator(0, dropped),
        thresholds: Vec::new(),
        imported: imported(StatisticsKind::Summary, summary_metrics(summary)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_map_to_classes() {
        assert_eq!(class_of_error_code(1050), ErrorClass::Timeout);
        assert_eq!(class_of_error_code(1212), ErrorClass::Connect);
        assert_eq!(class_of_error_code(1211), ErrorClass::Connect);
        assert_eq!(class_of_error_code(1101), ErrorClass::Connect);
        assert_eq!(class_of_error_code(1220), ErrorClass::Reset);
        assert_eq!(class_of_error_code(1311), ErrorClass::Tls);
        assert_eq!(class_of_error_code(1638), ErrorClass::Refused);
        assert_eq!(class_of_error_code(1000), ErrorClass::Reset);
    }
}
