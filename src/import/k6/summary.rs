//! k6's end-of-test summary, from either of its two JSON forms:
//!
//! - `k6 run --summary-export FILE`: each metric's statistics flat beside a
//!   `thresholds` map whose `true` means the threshold **failed**; a rate
//!   metric as `{passes, fails, value}`, where `passes` counts non-zero
//!   samples;
//! - `handleSummary(data)` (`JSON.stringify(data)`): each metric as
//!   `{type, contains, values, thresholds}`, where a threshold's `ok: true`
//!   means it **passed**.
//!
//! Both are read into one [`Summary`]: statistics under k6's names
//! (`avg`, `med`, `p(95)`, `count`, `rate`, …), metric kinds, threshold
//! outcomes as "passed", and the checks of every group.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

use super::error::ImportError;

/// Which file k6 wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `--summary-export`.
    SummaryExport,
    /// `handleSummary(data)`.
    HandleSummary,
}

/// A k6 metric's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Summed values (`http_reqs`, `data_sent`).
    Counter,
    /// Samples with statistics (`http_req_duration`).
    Trend,
    /// The share of non-zero samples (`http_req_failed`, `checks`).
    Rate,
    /// The last value, with min and max (`vus`).
    Gauge,
}

impl Kind {
    /// A kind by k6's name for it (`counter`, `trend`, `rate`, `gauge`).
    pub(super) fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "counter" => Kind::Counter,
            "trend" => Kind::Trend,
            "rate" => Kind::Rate,
            "gauge" => Kind::Gauge,
            _ => return None,
        })
    }
}

/// A threshold and whether it passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Threshold {
    /// The expression, as written in the script (`p(95)<500`).
    pub expression: String,
    /// Whether k6 found it met.
    pub passed: bool,
}

/// One metric (or sub-metric, `http_req_duration{name:search}`).
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// Its kind.
    pub kind: Kind,
    /// Its statistics under k6's names. A rate has `rate`, `passes` (the
    /// non-zero samples) and `fails`, in both formats.
    pub values: BTreeMap<String, f64>,
    /// Its thresholds, in the file's order.
    pub thresholds: Vec<Threshold>,
}

/// A check of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// `::group::check`.
    pub path: String,
    /// The check's name.
    pub name: String,
    /// Times it held.
    pub passes: u64,
    /// Times it did not.
    pub fails: u64,
}

/// A k6 summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Which file it was.
    pub format: Format,
    /// How long the test ran, when the file says (handleSummary's
    /// `state.testRunDurationMs`), in seconds.
    pub duration_s: Option<f64>,
    /// Metrics by name.
    pub metrics: BTreeMap<String, Metric>,
    /// Every check, depth first.
    pub checks: Vec<Check>,
}

impl Summary {
    /// How long the test ran: the file's own figure, else `http_reqs`'
    /// count over its rate (or `iterations`').
    pub fn duration(&self) -> Option<f64> {
        self.duration_s.or_else(|| {
            ["http_reqs", "iterations"].iter().find_map(|m| {
                let v = &self.metrics.get(*m)?.values;
                let (count, rate) = (*v.get("count")?, *v.get("rate")?);
                (rate > 0.0).then(|| count / rate)
            })
        })
    }
}

/// Reads a summary from `text` (the contents of `file`, named in errors).
pub fn read(file: &Path, text: &str) -> Result<Summary, ImportError> {
    let root: Value = serde_json::from_str(text)
        .map_err(|e| ImportError::at(file, e.line() as u64, format!("column {}: not JSON: {e}", e.column())))?;
    let root = root
        .as_object()
        .ok_or_else(|| ImportError::new(file, "expected a JSON object (a k6 summary), found something else"))?;
    let metrics = root.get("metrics").and_then(Value::as_object).ok_or_else(|| {
        ImportError::new(
            file,
            "field `metrics`: missing or not an object; expected k6's --summary-export or handleSummary JSON",
        )
    })?;
    let handle = root.contains_key("state")
        || root.contains_key("options")
        || metrics.values().any(|m| m.get("values").is_some_and(Value::is_object));
    let format = if handle {
        Format::HandleSummary
    } else {
        Format::SummaryExport
    };
    let mut out = BTreeMap::new();
    for (name, m) in metrics {
        let at = |what: &str| ImportError::new(file, format!("metrics.{name}: {what}"));
        let m = m.as_object().ok_or_else(|| at("expected an object"))?;
        let metric = match format {
            Format::HandleSummary => handle_metric(m).map_err(|e| at(&e))?,
            Format::SummaryExport => export_metric(m).map_err(|e| at(&e))?,
        };
        out.insert(name.clone(), metric);
    }
    let mut checks = Vec::new();
    if let Some(group) = root.get("root_group") {
        collect_checks(group, &mut checks).map_err(|e| ImportError::new(file, format!("root_group: {e}")))?;
    }
    let duration_s = root
        .get("state")
        .and_then(|s| s.get("testRunDurationMs"))
        .and_then(Value::as_f64)
        .map(|ms| ms / 1000.0);
    Ok(Summary {
        format,
        duration_s,
        metrics: out,
        checks,
    })
}

fn numbers(values: &Map<String, Value>) -> Result<BTreeMap<String, f64>, String> {
    values
        .iter()
        .filter(|(k, _)| k.as_str() != "thresholds")
        .map(|(k, v)| {
            v.as_f64()
                .map(|n| (k.clone(), n))
                .ok_or_else(|| format!("`{k}`: expected a number, found {v}"))
        })
        .collect()
}

fn handle_metric(m: &Map<String, Value>) -> Result<Metric, String> {
    let kind = m
        .get("type")
        .and_then(Value::as_str)
        .and_then(Kind::parse)
        .ok_or("`type`: expected counter, trend, rate or gauge")?;
    let values = m
        .get("values")
        .and_then(Value::as_object)
        .ok_or("`values`: expected an object of statistics")?;
    let mut thresholds = Vec::new();
    if let Some(t) = m.get("thresholds") {
        let t = t.as_object().ok_or("`thresholds`: expected an object")?;
        for (expression, outcome) in t {
            let passed = outcome
                .get("ok")
                .and_then(Value::as_bool)
                .ok_or_else(|| format!("thresholds.{expression:?}: expected {{\"ok\": true|false}}"))?;
            thresholds.push(Threshold {
                expression: expression.clone(),
                passed,
            });
        }
    }
    Ok(Metric {
        kind,
        values: numbers(values)?,
        thresholds,
    })
}

fn export_metric(m: &Map<String, Value>) -> Result<Metric, String> {
    let mut values = numbers(m)?;
    let has = |k: &str| values.contains_key(k);
    let kind = if has("passes") || has("fails") {
        Kind::Rate
    } else if has("avg") || has("med") || values.keys().any(|k| k.starts_with("p(")) {
        Kind::Trend
    } else if has("min") && has("max") && has("value") {
        Kind::Gauge
    } else if has("count") {
        Kind::Counter
    } else {
        return Err("expected a counter (count, rate), trend (avg, med, p(…)), rate (passes, fails) or gauge".into());
    };
    if kind == Kind::Rate
        && let Some(rate) = values.remove("value")
    {
        values.insert("rate".into(), rate);
    }
    let mut thresholds = Vec::new();
    if let Some(t) = m.get("thresholds") {
        let t = t.as_object().ok_or("`thresholds`: expected an object")?;
        for (expression, failed) in t {
            let failed = failed
                .as_bool()
                .ok_or_else(|| format!("thresholds.{expression:?}: expected true (failed) or false"))?;
            thresholds.push(Threshold {
                expression: expression.clone(),
                passed: !failed,
            });
        }
    }
    Ok(Metric {
        kind,
        values,
        thresholds,
    })
}

/// The checks of a group and its groups: objects by name in
/// `--summary-export`, arrays in handleSummary.
fn collect_checks(group: &Value, out: &mut Vec<Check>) -> Result<(), String> {
    let items = |v: Option<&Value>| -> Vec<Value> {
        match v {
            Some(Value::Array(a)) => a.clone(),
            Some(Value::Object(o)) => o.values().cloned().collect(),
            _ => Vec::new(),
        }
    };
    for c in items(group.get("checks")) {
        let text = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let count = |k: &str| {
            c.get(k)
                .and_then(Value::as_u64)
                .ok_or_else(|| format!("check {:?}: `{k}`: expected a count", text("name")))
        };
        out.push(Check {
            path: text("path"),
            name: text("name"),
            passes: count("passes")?,
            fails: count("fails")?,
        });
    }
    for g in items(group.get("groups")) {
        collect_checks(&g, out)?;
    }
    Ok(())
}
