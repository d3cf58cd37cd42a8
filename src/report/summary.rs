//! The terminal summary printed at the end of a run: the verdict line
//! first, then per-endpoint latency, errors, pacing health, the deployment
//! windows, delivery, the comparisons, the thresholds and requirements,
//! and the verdict with its reasons. One format among the others: it
//! renders the same [`Model`] as the Markdown reports, with every value in
//! its unit.

use std::fmt::Write as _;

use super::model::{ComparisonView, EndpointRow, Model};
use super::{Format, Input, Rendered};
use crate::compare::ComparisonFile;
use crate::metrics::RunResult;

/// The terminal summary as a format: `summary.txt`.
pub struct Terminal;

impl Format for Terminal {
    fn name(&self) -> &'static str {
        "terminal"
    }

    fn render(&self, input: &Input<'_>) -> Result<Vec<Rendered>, String> {
        Ok(vec![Rendered {
            file: "summary.txt".into(),
            text: text(&Model::of(input)),
        }])
    }
}

/// Renders the summary.
pub fn render(r: &RunResult) -> String {
    render_with(r, None)
}

/// [`render`], with the run's comparisons.
pub fn render_with(r: &RunResult, comparison: Option<&ComparisonFile>) -> String {
    text(&Model::of(&Input {
        run: r,
        comparison,
        baseline: None,
    }))
}

/// The model as text for a terminal.
pub fn text(m: &Model) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}\n", m.verdict.plain);
    let _ = writeln!(out, "  {}", m.title);
    let _ = writeln!(out, "  {}\n", run_line(m));
    let _ = writeln!(
        out,
        "  {:<16} {:>9} {:>9} {:>11} {:>11} {:>10} {:>10} {:>10} {:>10}",
        "endpoint", "requests", "failed", "req/s", "max req/s", "p50", "p95", "p99", "max"
    );
    for e in &m.endpoints {
        row(&mut out, e);
    }
    row(&mut out, &m.total);
    if !m.errors.is_empty() {
        let errors: Vec<String> = m
            .errors
            .iter()
            .map(|e| {
                if e.statuses.is_empty() {
                    format!("{} {}", e.class, e.count)
                } else {
                    format!("{} {} ({})", e.class, e.count, e.statuses)
                }
            })
            .collect();
        let _ = writeln!(out, "\n  errors: {}", errors.join(", "));
    }
    if let Some(k) = &m.knee {
        let _ = writeln!(out, "\n  knee: {}", k.replace('`', ""));
    }
    if let Some(g) = &m.generator {
        let _ = writeln!(
            out,
            "\n  generator: {} sends scheduled, {} dropped (max_in_flight full), {} late (> {}), send lag p50 {}, p99 {}",
            g.scheduled, g.dropped, g.late, g.late_after, g.lag_p50, g.lag_p99
        );
    }
    deployment(&mut out, m);
    delivery(&mut out, m);
    comparisons(&mut out, &m.comparisons);
    out.push_str(&checks(m));
    out
}

fn run_line(m: &Model) -> String {
    let mut s = format!(
        "{}, {}, {}; loadcheck {}",
        m.run.started_at, m.run.duration, m.run.status, m.run.version
    );
    if let Some(g) = &m.run.git {
        let _ = write!(s, ", commit {g}");
    }
    s
}

fn row(out: &mut String, e: &EndpointRow) {
    let _ = writeln!(
        out,
        "  {:<16} {:>9} {:>9} {:>11} {:>11} {:>10} {:>10} {:>10} {:>10}",
        e.name, e.requests, e.failed, e.rps, e.max_rps, e.p50, e.p95, e.p99, e.max
    );
}

fn mark(ok: bool) -> &'static str {
    if ok { "✓" } else { "✗" }
}

/// Phases, the rollout, availability, versions and probes.
fn deployment(out: &mut String, m: &Model) {
    if !m.phases.is_empty() {
        let _ = writeln!(
            out,
            "\n  {:<10} {:<14} {:>9} {:>9} {:>11} {:>10} {:>10} {:>10}  versions",
            "phase", "window", "requests", "failed", "req/s", "p50", "p95", "p99"
        );
        for p in &m.phases {
            let _ = writeln!(
                out,
                "  {:<10} {:<14} {:>9} {:>9} {:>11} {:>10} {:>10} {:>10}  {}",
                p.name, p.span, p.requests, p.failed, p.rps, p.p50, p.p95, p.p99, p.versions
            );
        }
    }
    if let Some(ro) = &m.rollout {
        let _ = writeln!(
            out,
            "\n  rollout ({}): {} {}{}",
            ro.trigger,
            mark(ro.ok),
            ro.status,
            ro.detail.as_ref().map_or(String::new(), |d| format!(", {d}"))
        );
        if let (Some(z), Some(ok)) = (&ro.zero_downtime, ro.zero_downtime_ok) {
            let _ = writeln!(out, "    {} zero downtime: {z}", mark(ok));
        }
        if let Some(v) = &ro.versions {
            let _ = writeln!(out, "    versions: {v}");
        }
    }
    if let Some(a) = &m.availability {
        let _ = writeln!(
            out,
            "\n  availability (SLO {}, resolution {}): downtime {} in {} outage(s), longest {}",
            a.slo, a.resolution, a.downtime, a.outages, a.longest
        );
        for e in &a.events {
            let _ = writeln!(
                out,
                "    {} at {}: time to detect {}, RTO {}",
                e.event, e.at, e.time_to_detect, e.rto
            );
        }
    }
    for p in &m.probes {
        let _ = writeln!(out, "  probe {p}");
    }
}

/// The sink's figures.
fn delivery(out: &mut String, m: &Model) {
    let Some(d) = &m.delivery else { return };
    let _ = writeln!(
        out,
        "\n  sink: {} POSTs, {} accepted, {} failed as programmed ({} resets, {} hangs), {} duplicates, {} ids",
        d.posts, d.accepted, d.failed, d.resets, d.hangs, d.duplicates, d.ids
    );
    if let Some(bad) = &d.bad_input {
        let _ = writeln!(out, "    bad input: {bad}");
    }
    if let Some(sig) = &d.signatures {
        let _ = writeln!(
            out,
            "    signatures: {sig}{}",
            d.verified
                .as_ref()
                .map_or(String::new(), |v| format!(" ({v} verified)"))
        );
    }
    if let Some(c) = &d.correlation {
        let _ = writeln!(
            out,
            "    delivery: {} submitted, {} delivered, {} lost, {} late (> {}); POSTs per event {}; end to end p50 {}, p95 {}, p99 {}",
            c.submitted, c.delivered, c.lost, c.late, c.deadline, c.posts_per_event, c.p50, c.p95, c.p99
        );
    }
}

/// The comparisons: counts, then regressions and improvements, then up to
/// five inconclusive series with their reason, then the notes.
fn comparisons(out: &mut String, views: &[ComparisonView]) {
    for c in views {
        let _ = writeln!(
            out,
            "\n  compared with {} ({}{}): {}",
            c.description,
            c.source,
            if c.gating { "" } else { ", reported only" },
            c.counts
        );
        for d in c
            .rows
            .iter()
            .filter(|d| d.class == "regression" || d.class == "improvement")
        {
            let _ = writeln!(out, "    {} {} {}", d.mark, d.class, d.line());
        }
        let wide: Vec<_> = c
            .rows
            .iter()
            .filter(|d| d.class == "inconclusive" && d.note.is_some())
            .collect();
        for d in wide.iter().take(5) {
            let _ = writeln!(
                out,
                "    ? inconclusive {}: {}",
                d.series,
                d.note.as_deref().unwrap_or_default()
            );
        }
        if wide.len() > 5 {
            let _ = writeln!(
                out,
                "    ? … and {} more inconclusive (comparison.json)",
                wide.len() - 5
            );
        }
        for note in &c.notes {
            let _ = writeln!(out, "    note: {note}");
        }
    }
}

/// The comparisons alone, as `loadcheck compare` prints them.
pub fn comparison_lines(f: &ComparisonFile) -> String {
    let mut out = String::new();
    comparisons(&mut out, &super::model::comparison_views(f));
    out
}

/// The verdict's part of the summary: thresholds, requirements, and the
/// verdict with its reasons. `loadcheck verdict` prints it, after the
/// verdict line.
pub fn verdict_lines(r: &RunResult) -> String {
    let m = Model::of(&Input {
        run: r,
        comparison: None,
        baseline: None,
    });
    format!("{}\n{}", m.verdict.plain, checks(&m))
}

fn checks(m: &Model) -> String {
    let mut out = String::new();
    if !m.thresholds.is_empty() {
        let _ = writeln!(out, "\n  thresholds");
        for t in &m.thresholds {
            let _ = writeln!(
                out,
                "    {} {} {}  ({})",
                mark(t.ok),
                t.metric,
                t.expression,
                t.measured
            );
        }
    }
    if !m.requirements.is_empty() {
        let _ = writeln!(
            out,
            "\n  | Requirement | Target | Validated | Result |\n  |---|---|---|---|"
        );
        for q in &m.requirements {
            let _ = writeln!(out, "  | {} | {} | {} | {} |", q.name, q.target, q.validated, q.result);
        }
    }
    if let Some(code) = m.verdict.exit_code {
        let _ = writeln!(out, "\n  verdict: {} (exit {code})", m.verdict.word);
        for reason in &m.verdict.reasons {
            let _ = writeln!(out, "    ✗ {reason}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn stats(errors: Value, status: Value) -> Value {
        let requests: u64 = status.as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
        json!({
            "requests": requests, "ok": 0, "failed": 0, "errors": errors, "status": status,
            "rps": 0.0, "clamped": 0,
            "histograms": {"http_req_duration": "", "http_req_service_duration": "", "http_req_failure_duration": ""}
        })
    }

    fn result(endpoints: &[(&str, Value, Value)], plan: Value, total: Value) -> RunResult {
        let endpoints: serde_json::Map<String, Value> = endpoints
            .iter()
            .map(|(n, e, s)| (n.to_string(), stats(e.clone(), s.clone())))
            .collect();
        serde_json::from_value(json!({
            "schema": "loadcheck.run/v1", "plan": plan, "plan_fingerprint": "", "started_at": "",
            "started_at_ms": 0, "duration_s": 1.0, "status": "completed", "metadata": {
                "loadcheck_version": "0", "workers": 1, "seed": 0,
                "testbed": {"os": "linux", "arch": "x86_64", "cpus": 1}
            },
            "id": "plan",
            "stats": {"total": total, "endpoints": endpoints, "scenarios": {}},
            "timeline": {"resolution_s": 1, "approximate_percentiles": false, "total": [], "endpoints": {}},
            "generator": {"scheduled_sends": 0, "dropped_sends": 0, "late_sends": 0, "late_after_ms": 0.0},
            "thresholds": [], "requirements": []
        }))
        .unwrap()
    }

    fn errors_line(r: &RunResult) -> String {
        render(r)
            .lines()
            .find(|l| l.trim_start().starts_with("errors:"))
            .unwrap_or_else(|| panic!("no errors line in {}", render(r)))
            .trim()
            .to_string()
    }

    #[test]
    fn error_classes_name_their_status_codes() {
        let r = result(
            &[
                (
                    "a",
                    json!({"status_4xx": 88, "timeout": 2}),
                    json!({"200": 10, "404": 88}),
                ),
                (
                    "b",
                    json!({"status_4xx": 3, "status_5xx": 12}),
                    json!({"404": 5, "410": 3, "502": 7, "503": 5}),
                ),
            ],
            // b expects its 404s: they are not b's errors.
            json!({"endpoints": [{"name": "a", "expect": []}, {"name": "b", "expect": [404]}]}),
            stats(
                json!({"timeout": 2, "status_4xx": 91, "status_5xx": 12, "status_429": 0}),
                json!({"200": 10, "404": 93, "410": 3, "502": 7, "503": 5}),
            ),
        );
        assert_eq!(
            errors_line(&r),
            "errors: status_4xx 91 (404 ×88, 410 ×3), status_5xx 12 (502 ×7, 503 ×5), timeout 2"
        );
        let one = result(
            &[("a", json!({"status_4xx": 88}), json!({"404": 88}))],
            json!({}),
            stats(json!({"status_4xx": 88}), json!({"404": 88})),
        );
        assert_eq!(errors_line(&one), "errors: status_4xx 88 (404)");
    }
}
