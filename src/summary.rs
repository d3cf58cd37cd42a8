//! The end-of-run summary printed to stdout: per-endpoint latency, errors,
//! pacing health, thresholds and requirements.

use std::fmt::Write as _;

use crate::metrics::RunResult;
use crate::metrics::result::{RunStatus, StatsSummary};

fn ms(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |v| {
        if v < 10.0 {
            format!("{v:.2}ms")
        } else {
            format!("{v:.1}ms")
        }
    })
}

fn row(out: &mut String, name: &str, s: &StatsSummary) {
    let l = s.latency_ms.as_ref();
    let _ = writeln!(
        out,
        "  {name:<16} {:>9} {:>9} {:>7} {:>9.1} {:>9} {:>9} {:>9} {:>9}",
        s.requests,
        s.ok,
        s.failed,
        s.rps,
        ms(l.map(|l| l.p50)),
        ms(l.map(|l| l.p95)),
        ms(l.map(|l| l.p99)),
        ms(l.map(|l| l.max)),
    );
}

/// Renders the summary.
pub fn render(r: &RunResult) -> String {
    let mut out = String::new();
    let name = r.plan.get("name").and_then(|v| v.as_str()).unwrap_or("plan");
    let status = match r.status {
        RunStatus::Completed => "completed".to_string(),
        RunStatus::Aborted => format!("ABORTED ({})", r.abort_reason.as_deref().unwrap_or("unknown")),
    };
    let _ = writeln!(out, "\nloadcheck: {name}, {status} after {:.1} s\n", r.duration_s);
    let _ = writeln!(
        out,
        "  {:<16} {:>9} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "endpoint", "requests", "ok", "failed", "req/s", "p50", "p95", "p99", "max"
    );
    for (name, s) in &r.stats.endpoints {
        row(&mut out, name, s);
    }
    row(&mut out, "total", &r.stats.total);
    let errors: Vec<String> = r
        .stats
        .total
        .errors
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(c, n)| format!("{c} {n}"))
        .collect();
    if !errors.is_empty() {
        let _ = writeln!(out, "\n  errors: {}", errors.join(", "));
    }
    let g = &r.generator;
    if g.scheduled_sends > 0 {
        let lag = g.send_lag_ms.as_ref();
        let _ = writeln!(
            out,
            "\n  generator: {} sends scheduled, {} dropped (max_in_flight full), {} late (> {} ms), send lag p99 {}",
            g.scheduled_sends,
            g.dropped_sends,
            g.late_sends,
            g.late_after_ms,
            ms(lag.map(|l| l.p99)),
        );
    }
    if r.stats.total.clamped > 0 {
        let _ = writeln!(out, "  {} values above 60 s were clamped", r.stats.total.clamped);
    }
    if !r.thresholds.is_empty() {
        let _ = writeln!(out, "\n  thresholds");
        for t in &r.thresholds {
            let mark = if t.ok { "✓" } else { "✗" };
            let value = t.value.map_or("no data".to_string(), |v| format!("{v:.3}"));
            let _ = writeln!(out, "    {mark} {} {}  (measured {value})", t.metric, t.expression);
        }
    }
    if !r.requirements.is_empty() {
        let _ = writeln!(
            out,
            "\n  | Requirement | Target | Validated | Result |\n  |---|---|---|---|"
        );
        for q in &r.requirements {
            let value = q.value.map_or("no data".to_string(), |v| format!("{v:.3}"));
            let verdict = if q.ok { "✓ pass" } else { "✗ fail" };
            let _ = writeln!(
                out,
                "  | {} | {} | {} | {verdict} ({value}) |",
                q.name, q.target, q.validated
            );
        }
    }
    out
}
