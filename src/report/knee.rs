//! The knee of a ramping run: the load at which latency or errors first
//! broke the thresholds, found from the per-second load and percentiles of
//! the timeline.

use std::collections::BTreeMap;

use crate::metrics::RunResult;
use crate::metrics::result::{ScenarioLoad, TimelineRow};
use crate::plan::expr::{parse_condition, parse_selector};
use crate::plan::registry::Tag;
use crate::plan::units::{count, percent};
use crate::plan::{Aggregation, Condition};

/// How many seconds in a row must break a threshold: one slow second is
/// noise, three is the load.
const SUSTAINED: usize = 3;
/// Seconds with fewer requests say nothing about a percentile.
const MIN_REQUESTS: u64 = 10;

/// Where the thresholds first broke.
#[derive(Debug, Clone, PartialEq)]
pub struct Knee {
    /// The second it started, from the run's start.
    pub second: u64,
    /// The load offered then: `1,450 req/s`, `120 VUs`.
    pub load: String,
    /// The threshold that broke, as written.
    pub threshold: String,
    /// What the timeline measured in that second, with its unit.
    pub measured: String,
}

impl Knee {
    /// One line for people.
    pub fn line(&self) -> String {
        format!(
            "`{}` first broke at {} offered, {} s in ({} then, and for {SUSTAINED} s or more)",
            self.threshold, self.load, self.second, self.measured
        )
    }
}

/// What a threshold reads from one second of the timeline.
#[derive(Debug, Clone, Copy)]
enum Reads {
    /// A latency percentile the rows keep, ms.
    Percentile(Kept),
    /// The share of failed requests.
    Failed,
}

/// The percentiles a timeline row keeps.
#[derive(Debug, Clone, Copy)]
enum Kept {
    P50,
    P95,
    P99,
}

impl Kept {
    fn name(self) -> &'static str {
        match self {
            Kept::P50 => "p(50)",
            Kept::P95 => "p(95)",
            Kept::P99 => "p(99)",
        }
    }
}

/// A threshold the timeline can judge second by second.
struct PerSecond {
    text: String,
    reads: Reads,
    endpoint: Option<String>,
    condition: Condition,
}

/// The knee of a ramping run, when its thresholds broke; `None` for a run
/// that does not ramp, or whose thresholds held every second.
pub fn find(r: &RunResult) -> Option<Knee> {
    if !ramps(r) {
        return None;
    }
    let checks: Vec<PerSecond> = r.thresholds.iter().filter_map(per_second).collect();
    if checks.is_empty() {
        return None;
    }
    let rows = |endpoint: Option<&str>| -> Option<&[TimelineRow]> {
        match endpoint {
            None => Some(r.timeline.total.as_slice()),
            Some(e) => r.timeline.endpoints.get(e).map(Vec::as_slice),
        }
    };
    let mut best: Option<(u64, &PerSecond, String)> = None;
    for c in &checks {
        let Some(rows) = rows(c.endpoint.as_deref()) else {
            continue;
        };
        let mut run = 0;
        for (i, row) in rows.iter().enumerate() {
            let Some(v) = value(row, c.reads) else { continue };
            if c.condition.holds(v) {
                run = 0;
                continue;
            }
            run += 1;
            if run == SUSTAINED {
                let start = &rows[i + 1 - SUSTAINED];
                let first = value(start, c.reads).unwrap_or(v);
                if best.as_ref().is_none_or(|(s, _, _)| start.second < *s) {
                    best = Some((start.second, c, measured(c.reads, first)));
                }
                break;
            }
        }
    }
    let (second, c, measured) = best?;
    let load = r.timeline.total.iter().find(|t| t.second == second).map(|t| &t.load)?;
    Some(Knee {
        second,
        load: offered(load),
        threshold: c.text.clone(),
        measured,
    })
}

/// Whether a scenario of the recorded plan ramps.
fn ramps(r: &RunResult) -> bool {
    r.plan.get("scenarios").and_then(|s| s.as_array()).is_some_and(|list| {
        list.iter().any(|s| {
            s.pointer("/executor/executor")
                .and_then(|e| e.as_str())
                .is_some_and(|e| e.starts_with("ramping-"))
        })
    })
}

fn per_second(t: &crate::metrics::result::CheckResult) -> Option<PerSecond> {
    let sel = parse_selector(&t.metric).ok()?;
    let condition = parse_condition(&t.expression, sel.metric).ok()?;
    let mut endpoint = None;
    for (tag, v) in &sel.tags {
        match tag {
            Tag::Endpoint => endpoint = Some(v.clone()),
            _ => return None,
        }
    }
    let reads = match (sel.metric.name, condition.aggregation) {
        ("http_req_duration", Aggregation::Percentile(50.0) | Aggregation::Med) => Reads::Percentile(Kept::P50),
        ("http_req_duration", Aggregation::Percentile(95.0)) => Reads::Percentile(Kept::P95),
        ("http_req_duration", Aggregation::Percentile(99.0)) => Reads::Percentile(Kept::P99),
        ("http_req_failed", Aggregation::Rate) => Reads::Failed,
        _ => return None,
    };
    Some(PerSecond {
        text: format!("{} {}", t.metric, t.expression),
        reads,
        endpoint,
        condition,
    })
}

fn value(row: &TimelineRow, reads: Reads) -> Option<f64> {
    if row.requests < MIN_REQUESTS {
        return None;
    }
    match reads {
        Reads::Percentile(Kept::P50) => row.p50_ms,
        Reads::Percentile(Kept::P95) => row.p95_ms,
        Reads::Percentile(Kept::P99) => row.p99_ms,
        Reads::Failed => Some(row.requests.saturating_sub(row.ok) as f64 / row.requests as f64),
    }
}

fn measured(reads: Reads, v: f64) -> String {
    match reads {
        Reads::Percentile(k) => format!("{} {}", k.name(), crate::plan::units::ms(v)),
        Reads::Failed => format!("{} failed", percent(v)),
    }
}

/// The load every scenario offered in a second.
fn offered(load: &BTreeMap<String, ScenarioLoad>) -> String {
    let (mut sends, mut vus, mut open, mut closed) = (0, 0, false, false);
    for l in load.values() {
        match l {
            ScenarioLoad::Scheduled(n) => (sends, open) = (sends + n, true),
            ScenarioLoad::Vus(n) => (vus, closed) = (vus + n, true),
        }
    }
    match (open, closed) {
        (true, true) => format!("{} req/s and {} VUs", count(sends), count(vus)),
        (true, false) => format!("{} req/s", count(sends)),
        (false, true) => format!("{} VUs", count(vus)),
        (false, false) => "an unrecorded load".into(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn run(executor: &str, rows: Vec<serde_json::Value>, thresholds: serde_json::Value) -> RunResult {
        let empty = json!({
            "requests": 0, "ok": 0, "failed": 0, "errors": {}, "status": {}, "rps": 0.0, "clamped": 0,
            "histograms": {"http_req_duration": "", "http_req_service_duration": "", "http_req_failure_duration": ""}
        });
        serde_json::from_value(json!({
            "schema": "loadcheck.run/v1",
            "plan": {"name": "ramp", "scenarios": [{"name": "ramp", "executor": {"executor": executor}}]},
            "plan_fingerprint": "", "started_at": "", "started_at_ms": 0, "duration_s": 10.0, "status": "completed",
            "metadata": {"loadcheck_version": "0", "workers": 1, "seed": 0, "testbed": {"os": "linux", "arch": "x86_64", "cpus": 1}},
            "id": "ramp",
            "stats": {"total": empty, "endpoints": {}, "scenarios": {}},
            "timeline": {"resolution_s": 1, "approximate_percentiles": false, "total": rows, "endpoints": {}},
            "generator": {"scheduled_sends": 0, "dropped_sends": 0, "late_sends": 0, "late_after_ms": 0.0},
            "thresholds": thresholds, "requirements": []
        }))
        .unwrap()
    }

    /// Latency that climbs with the load, one blip at second 2.
    fn rows() -> Vec<serde_json::Value> {
        (0..10u64)
            .map(|s| {
                let p95 = if s == 2 { 400.0 } else { 50.0 * s as f64 };
                let failed = if s >= 7 { 30 } else { 0 };
                json!({"second": s, "requests": 100, "ok": 100 - failed, "errors": {}, "p50_ms": 1.0,
                       "p95_ms": p95, "p99_ms": p95 * 2.0, "load": {"ramp": {"scheduled": 100 * (s + 1)}}})
            })
            .collect()
    }

    #[test]
    fn the_knee_is_the_first_sustained_break_not_a_blip() {
        let r = run(
            "ramping-arrival-rate",
            rows(),
            json!([{"metric": "http_req_duration", "expression": "p(95)<250", "ok": false, "abort_on_fail": false}]),
        );
        let k = find(&r).unwrap();
        assert_eq!(k.second, 5, "{k:?}");
        assert_eq!(k.load, "600 req/s");
        assert_eq!(k.measured, "p(95) 250.0 ms");
        assert!(
            k.line()
                .contains("`http_req_duration p(95)<250` first broke at 600 req/s"),
            "{}",
            k.line()
        );
    }

    #[test]
    fn errors_can_be_the_knee_and_the_earliest_threshold_wins() {
        let r = run(
            "ramping-arrival-rate",
            rows(),
            json!([
                {"metric": "http_req_duration", "expression": "p(99)<500", "ok": false, "abort_on_fail": false},
                {"metric": "http_req_failed", "expression": "rate<0.1", "ok": false, "abort_on_fail": false}
            ]),
        );
        let k = find(&r).unwrap();
        // p99 = 2 × p95 breaks 500 from second 5 on; errors from 7 on.
        assert_eq!(
            (k.second, k.threshold.as_str()),
            (5, "http_req_duration p(99)<500"),
            "{k:?}"
        );
        let r = run(
            "ramping-arrival-rate",
            rows(),
            json!([{"metric": "http_req_failed", "expression": "rate<0.1", "ok": false, "abort_on_fail": false}]),
        );
        let k = find(&r).unwrap();
        assert_eq!(
            (k.second, k.load.as_str(), k.measured.as_str()),
            (7, "800 req/s", "30.00% failed"),
            "{k:?}"
        );
    }

    #[test]
    fn no_knee_without_a_ramp_or_a_per_second_threshold() {
        let t =
            json!([{"metric": "http_req_duration", "expression": "p(95)<250", "ok": false, "abort_on_fail": false}]);
        assert!(find(&run("constant-arrival-rate", rows(), t)).is_none());
        let t =
            json!([{"metric": "http_req_duration", "expression": "p(90)<250", "ok": false, "abort_on_fail": false}]);
        assert!(find(&run("ramping-vus", rows(), t)).is_none());
    }
}
