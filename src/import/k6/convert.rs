//! k6's files turned into loadcheck's statistics: atoms, views, the
//! per-second timeline and its histograms, pacing, and k6's thresholds
//! with their outcomes.
//!
//! - From `--out json` points, every `http_req_duration` sample is a
//!   request, folded as the stream was read ([`super::requests`]) into HDR
//!   histograms (µs) for the atoms and each second; the views' percentiles
//!   are k6's, read from the keys' sketches. The stream holds only
//!   threshold *definitions*; they are judged here, by k6's rules, on the
//!   aggregates.
//! - From a summary alone there are only k6's numbers: the total's counts
//!   and latency, and k6's threshold outcomes. No atoms, no timeline.
//! - Given both, the points give the statistics and the summary gives the
//!   threshold outcomes (sub-metric thresholds are only in the summary).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::json;

use super::points::Points;
use super::requests::{DURATION, Key, Requests};
use super::sketch::Sketch;
use super::summary::{Format, Kind, Summary};
use crate::metrics::Stats;
use crate::metrics::hist::Latency;
use crate::metrics::hlog::FILE_NAME;
use crate::metrics::result::{
    Atom, CheckResult, Generator, Imported, ImportedFile, StatisticsKind, StatsSet, StatsSummary, Timeline,
};
use crate::plan::expr::{Condition, condition};
use crate::plan::registry::{MetricDef, MetricKind};

/// What `http_req_duration` means in an imported k6 run.
const DURATION_MEANING: &str = "k6's http_req_duration: from the request's actual send to the end of its response, \
     without DNS, connecting or the TLS handshake, and not corrected for coordinated omission; it is closest to \
     loadcheck's http_req_service_duration. Both histograms hold it.";

/// The files an import read.
#[derive(Default)]
pub struct Inputs {
    /// A summary, from `--summary-export` or `handleSummary`.
    pub summary: Option<(PathBuf, Summary)>,
    /// The `--out json` points, and their requests (folded as the stream was read).
    pub points: Option<(PathBuf, Points, Requests)>,
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
    /// The per-second rows (their histograms are in `timeline.hlog`, which
    /// the requests wrote as the stream was read).
    pub timeline: Timeline,
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
    /// Request samples that came after their second had closed, counted
    /// in a later one.
    pub late_points: u64,
}

/// Converts what was read; `name` names the run.
pub fn convert(inputs: Inputs, name: &str, id: &str) -> Result<Converted, String> {
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
    if let Some((path, _, _)) = &inputs.points {
        files.push(file_record(path, "ndjson"));
    }
    let mut out = match (inputs.points, &inputs.summary) {
        (Some((_, points, requests)), summary) => from_points(&points, requests, summary.as_ref().map(|(_, s)| s))?,
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

/// A view's summary: the keys' stats summed, with k6's percentiles from
/// their sketches.
fn view<'a>(keys: impl Iterator<Item = &'a Key>, duration_s: f64) -> StatsSummary {
    let mut stats = Stats::default();
    let (mut responses, mut failures) = (Sketch::default(), Sketch::default());
    for k in keys {
        stats += &k.stats;
        responses.merge(&k.responses);
        failures.merge(&k.failures);
    }
    let mut summary = StatsSummary::of(&stats, duration_s);
    summary.latency_ms = latency(&responses);
    summary.service_latency_ms = summary.latency_ms;
    summary.failure_latency_ms = latency(&failures);
    summary
}

fn latency(s: &Sketch) -> Option<Latency> {
    Some(Latency {
        min: s.min()?,
        mean: s.mean()?,
        p50: s.k6(0.5)?,
        p90: s.k6(0.9)?,
        p95: s.k6(0.95)?,
        p99: s.k6(0.99)?,
        p99_9: s.k6(99.9 / 100.0)?,
        max: s.max()?,
    })
}

fn from_points(points: &Points, mut requests: Requests, summary: Option<&Summary>) -> Result<Converted, String> {
    if requests.keys.is_empty() {
        return Err(format!(
            "no `{DURATION}` points: the stream holds no HTTP requests to import"
        ));
    }
    requests.finish()?;
    let (first_ms, last_ms) = points.span_ms().unwrap_or((0, 0));
    let duration_s = summary
        .and_then(Summary::duration)
        .unwrap_or((last_ms - first_ms) as f64 / 1000.0)
        .max(0.001);
    let sorted = |of: fn(&Key) -> &String| -> Vec<String> {
        let set: BTreeSet<&String> = requests.keys.iter().map(of).collect();
        set.into_iter().cloned().collect()
    };
    let endpoints = sorted(|k| &k.endpoint);
    let scenarios = sorted(|k| &k.scenario);
    let mut atoms: Vec<&Key> = requests.keys.iter().filter(|k| k.stats.requests > 0).collect();
    atoms.sort_by(|a, b| (&a.scenario, &a.endpoint).cmp(&(&b.scenario, &b.endpoint)));
    let stats = StatsSet {
        total: view(requests.keys.iter(), duration_s),
        endpoints: endpoints
            .iter()
            .map(|name| {
                (
                    name.clone(),
                    view(requests.keys.iter().filter(|k| &k.endpoint == name), duration_s),
                )
            })
            .collect(),
        scenarios: scenarios
            .iter()
            .map(|name| {
                (
                    name.clone(),
                    view(requests.keys.iter().filter(|k| &k.scenario == name), duration_s),
                )
            })
            .collect(),
        phases: BTreeMap::new(),
        endpoint_phases: BTreeMap::new(),
        atoms: atoms
            .iter()
            .map(|k| Atom::of(&k.scenario, &k.endpoint, None, &k.stats))
            .collect(),
    };
    let dropped = points.sum("dropped_iterations").unwrap_or(0.0).round() as u64;
    let iterations = points.sum("iterations").unwrap_or(0.0).round() as u64;
    let scheduled = if points.declared.contains_key("dropped_iterations") {
        iterations + dropped
    } else {
        0
    };
    let wrote_log = requests.wrote_log();
    Ok(Converted {
        plan: serde_json::Value::Null,
        started_at_ms: points.origin_ms().unwrap_or(first_ms),
        duration_s,
        stats,
        timeline: Timeline {
            resolution_s: 1,
            approximate_percentiles: false,
            total: std::mem::take(&mut requests.total_rows),
            endpoints: std::mem::take(&mut requests.endpoint_rows),
            interval_log: wrote_log.then(|| FILE_NAME.to_string()),
        },
        scenarios,
        endpoints,
        generator: generator(scheduled, dropped),
        thresholds: points_thresholds(points, duration_s),
        imported: imported(StatisticsKind::Histograms, points_metrics(points, duration_s)),
        late_points: requests.late,
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
            let a = points.select(selector).ok()??;
            out.insert("value".into(), a.last.1);
            out.insert("min".into(), a.min);
            out.insert("max".into(), a.max);
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
        late_points: 0,
        scenarios: Vec::new(),
        endpoints: Vec::new(),
        generator: generator(0, dropped),
        thresholds: Vec::new(),
        imported: imported(StatisticsKind::Summary, summary_metrics(summary)),
    }
}
