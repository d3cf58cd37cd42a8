//! Several runs side by side: `loadcheck report A B C --label 1x,3x,5x`.
//! The before/after and 1×/3×/5× studies: req/s, p95, p99 and errors per
//! run, as a table (`scaling.md`) with a Mermaid chart, and an SVG chart
//! (`scaling.svg`).

use std::fmt::Write as _;

use super::Rendered;
use crate::metrics::RunResult;
use crate::metrics::result::VerdictResult;
use crate::plan::units::{count, ms, per_second, percent};

/// One run's row.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Its label.
    pub label: String,
    /// Mean requests per second.
    pub rps: f64,
    /// p95 of `http_req_duration`, ms.
    pub p95: Option<f64>,
    /// p99, ms.
    pub p99: Option<f64>,
    /// Failed requests.
    pub failed: u64,
    /// Requests.
    pub requests: u64,
    /// The verdict's word.
    pub verdict: &'static str,
}

/// The rows of `runs`, in order.
pub fn points(runs: &[(String, RunResult)]) -> Vec<Point> {
    runs.iter()
        .map(|(label, r)| {
            let t = &r.stats.total;
            Point {
                label: label.clone(),
                rps: t.rps,
                p95: t.latency_ms.as_ref().map(|l| l.p95),
                p99: t.latency_ms.as_ref().map(|l| l.p99),
                failed: t.failed,
                requests: t.requests,
                verdict: match r.verdict.as_ref().map(|v| v.result) {
                    Some(VerdictResult::Pass) => "✓ pass",
                    Some(VerdictResult::Fail) => "✗ fail",
                    Some(VerdictResult::Error) => "⚠ error",
                    None => "-",
                },
            }
        })
        .collect()
}

/// `scaling.md` and `scaling.svg`.
pub fn render(runs: &[(String, RunResult)]) -> Result<Vec<Rendered>, String> {
    let points = points(runs);
    let labels: Vec<String> = points.iter().map(|p| p.label.clone()).collect();
    let rps: Vec<f64> = points.iter().map(|p| p.rps).collect();
    let p95: Vec<Option<f64>> = points.iter().map(|p| p.p95).collect();
    let p99: Vec<Option<f64>> = points.iter().map(|p| p.p99).collect();
    Ok(vec![
        Rendered {
            file: "scaling.md".into(),
            text: markdown(&points),
        },
        Rendered {
            file: "scaling.svg".into(),
            text: super::svg::scaling(&labels, &rps, &p95, &p99)?,
        },
    ])
}

fn markdown(points: &[Point]) -> String {
    let mut s =
        String::from("## Scaling\n\n| Run | req/s | p95 | p99 | Failed | Verdict |\n|---|--:|--:|--:|--:|---|\n");
    let first = points.first();
    for p in points {
        let vs = |now: Option<f64>, then: Option<f64>| match (now, then) {
            (Some(a), Some(b)) if b > 0.0 && !std::ptr::eq(p, first.unwrap_or(p)) => {
                format!(" ({:+.0}%)", (a / b - 1.0) * 100.0)
            }
            _ => String::new(),
        };
        let _ = writeln!(
            s,
            "| {} | {}{} | {}{} | {}{} | {} ({}) | {} |",
            p.label.replace('|', "\\|"),
            per_second(p.rps, "requests"),
            vs(Some(p.rps), first.map(|f| f.rps)),
            p.p95.map_or_else(|| "-".into(), ms),
            vs(p.p95, first.and_then(|f| f.p95)),
            p.p99.map_or_else(|| "-".into(), ms),
            vs(p.p99, first.and_then(|f| f.p99)),
            count(p.failed),
            if p.requests == 0 {
                "-".into()
            } else {
                percent(p.failed as f64 / p.requests as f64)
            },
            p.verdict
        );
    }
    if points.len() > 1 {
        let _ = writeln!(s, "\nChanges are against the first run, {}.", points[0].label);
        let labels: Vec<String> = points
            .iter()
            .map(|p| format!("\"{}\"", p.label.replace('"', "'")))
            .collect();
        let line = |f: &dyn Fn(&Point) -> f64| -> String {
            points
                .iter()
                .map(|p| format!("{:.3}", f(p)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let top = points.iter().filter_map(|p| p.p99).fold(0.0, f64::max).max(1.0) * 1.1;
        let _ = write!(
            s,
            "\n```mermaid\nxychart-beta\n    title \"p95 (lower line) and p99 latency (ms) per run\"\n    x-axis [{}]\n    y-axis \"latency (ms)\" 0 --> {:.0}\n    line [{}]\n    line [{}]\n```\n",
            labels.join(", "),
            top.ceil(),
            line(&|p| p.p95.unwrap_or(0.0)),
            line(&|p| p.p99.unwrap_or(0.0)),
        );
    }
    s
}
