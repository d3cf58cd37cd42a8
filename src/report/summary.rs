//! The end-of-run summary printed to stdout: per-endpoint latency, errors,
//! pacing health, thresholds and requirements. The first of the report
//! formats; it reads only a `RunResult`.

use std::fmt::Write as _;

use crate::metrics::RunResult;
use crate::metrics::result::{ReasonKind, RunStatus, StatsSummary, VerdictResult};

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

fn secs(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |v| format!("{v:.3} s"))
}

/// Phases, the rollout's verdict, availability, versions and probes.
fn deployment(out: &mut String, r: &RunResult) {
    if !r.stats.phases.is_empty() {
        let _ = writeln!(
            out,
            "\n  {:<16} {:>9} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "phase", "requests", "ok", "failed", "req/s", "p50", "p95", "p99", "max"
        );
        for p in &r.phases {
            if let Some(s) = r.stats.phases.get(&p.name) {
                row(
                    out,
                    &format!("{} ({:.1}s)", p.name, p.end_s.unwrap_or(r.duration_s) - p.start_s),
                    s,
                );
            }
        }
    }
    if let Some(ro) = &r.rollout {
        let t = &ro.trigger;
        let _ = writeln!(
            out,
            "\n  rollout ({}): {}{}{}",
            t.trigger,
            serde_json::to_value(t.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            t.detail.as_ref().map_or(String::new(), |d| format!(", {d}")),
            if t.started_before_head {
                " (began before the head's end)"
            } else {
                ""
            }
        );
        if let Some(z) = &ro.zero_downtime {
            let mark = if z.ok { "✓" } else { "✗" };
            let _ = writeln!(
                out,
                "    {mark} zero downtime: {} failed requests in the rollout ({} reset), {} allowed",
                z.failed_requests, z.reset_requests, z.tolerance
            );
        }
    }
    if let Some(a) = &r.availability
        && (!a.outages.is_empty() || !a.events.is_empty())
    {
        let _ = writeln!(
            out,
            "\n  availability (SLO {}%, resolution {:.1} ms): downtime {:.3} s in {} outage(s), longest {:.3} s",
            a.slo * 100.0,
            a.resolution_ms,
            a.downtime_s,
            a.outages.len(),
            a.longest_outage_s
        );
        for e in &a.events {
            let _ = writeln!(
                out,
                "    {} at {:.3} s: time to detect {}, RTO {}{}",
                e.event,
                e.at_s,
                secs(e.time_to_detect_s),
                secs(e.rto_s),
                if e.recovered { "" } else { " (not recovered)" }
            );
        }
    }
    if let Some(v) = &r.versions {
        let seen: Vec<String> = v
            .seen
            .iter()
            .map(|s| format!("{} {} ({:.1}–{:.1} s)", s.version, s.responses, s.first_s, s.last_s))
            .collect();
        let _ = writeln!(
            out,
            "\n  versions ({}): {}; served together {:.3} s",
            v.header,
            seen.join(", "),
            v.overlap_s
        );
    }
    for p in &r.probes {
        let _ = writeln!(
            out,
            "  probe {}: {} checks, {} failed, down {:.3} s in {} interval(s)",
            p.name,
            p.checks,
            p.failed_checks,
            p.down_s,
            p.intervals.len()
        );
    }
}

/// The sink's figures, when the plan has `[sink]`.
fn delivery(out: &mut String, r: &RunResult) {
    let Some(d) = &r.delivery else { return };
    let _ = writeln!(
        out,
        "\n  sink: {} POSTs, {} accepted, {} failed as programmed ({} resets, {} hangs), {} duplicates, {} ids",
        d.stats.posts, d.stats.accepted, d.stats.failed, d.stats.resets, d.stats.hangs, d.stats.duplicates, d.stats.ids
    );
    let sig = &d.stats.signatures;
    if sig.verified {
        let _ = writeln!(
            out,
            "    signatures: {} valid, {} invalid, {} missing",
            sig.valid, sig.invalid, sig.missing
        );
    }
    if d.stats.too_large + d.stats.malformed > 0 {
        let _ = writeln!(
            out,
            "    bad input: {} over the body limit, {} malformed",
            d.stats.too_large, d.stats.malformed
        );
    }
    if let Some(c) = &d.correlation {
        let lat = c.latency_ms.as_ref();
        let _ = writeln!(
            out,
            "    delivery: {} submitted, {} delivered, {} lost, {} late (> {} ms); POSTs per event {}; end to end p50 {}, p95 {}, p99 {}",
            c.submitted,
            c.delivered,
            c.lost,
            c.late,
            c.deadline_ms,
            c.posts_per_event.map_or_else(|| "-".to_string(), |p| format!("{p:.3}")),
            ms(lat.map(|l| l.p50)),
            ms(lat.map(|l| l.p95)),
            ms(lat.map(|l| l.p99)),
        );
    }
}

/// Renders the summary.
pub fn render(r: &RunResult) -> String {
    let mut out = String::new();
    let name = r.plan.get("name").and_then(|v| v.as_str()).unwrap_or("plan");
    let status = match r.status {
        RunStatus::Completed => "completed".to_string(),
        RunStatus::Aborted => format!(
            "ABORTED ({})",
            r.abort
                .as_ref()
                .map_or_else(|| "unknown".to_string(), ToString::to_string)
        ),
        RunStatus::Running => "still running or killed".to_string(),
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
    deployment(&mut out, r);
    delivery(&mut out, r);
    if r.stats.total.clamped > 0 {
        let _ = writeln!(out, "  {} values above 60 s were clamped", r.stats.total.clamped);
    }
    out.push_str(&verdict_lines(r));
    out
}

/// The verdict's part of the summary: thresholds, requirements, and the
/// verdict with its reasons. `loadcheck verdict` prints it alone.
pub fn verdict_lines(r: &RunResult) -> String {
    let mut out = String::new();
    if !r.thresholds.is_empty() {
        let _ = writeln!(out, "\n  thresholds");
        for t in &r.thresholds {
            let mark = if t.ok { "✓" } else { "✗" };
            let value = t.value.map_or("no data".to_string(), |v| format!("{v:.3}"));
            if t.not_in_file {
                let _ = writeln!(out, "    {mark} {} {}  (not in this file)", t.metric, t.expression);
            } else {
                let _ = writeln!(out, "    {mark} {} {}  (measured {value})", t.metric, t.expression);
            }
        }
    }
    if !r.requirements.is_empty() {
        let _ = writeln!(
            out,
            "\n  | Requirement | Target | Validated | Result |\n  |---|---|---|---|"
        );
        for q in &r.requirements {
            let value = if q.not_in_file {
                "not in this file".to_string()
            } else {
                q.value.map_or("no data".to_string(), |v| format!("{v:.3}"))
            };
            let verdict = if q.ok { "✓ pass" } else { "✗ fail" };
            let _ = writeln!(
                out,
                "  | {} | {} | {} | {verdict} ({value}) |",
                q.name, q.target, q.validated
            );
        }
    }
    if let Some(v) = &r.verdict {
        let word = match v.result {
            VerdictResult::Pass => "PASS",
            VerdictResult::Fail => "FAIL",
            VerdictResult::Error => "ERROR",
        };
        let _ = writeln!(out, "\n  verdict: {word} (exit {})", v.exit_code);
        for reason in &v.reasons {
            let _ = match reason.kind {
                ReasonKind::Threshold | ReasonKind::Requirement | ReasonKind::Fault => writeln!(
                    out,
                    "    ✗ {} {}: {}",
                    kind_name(reason.kind),
                    reason.name,
                    reason.detail
                ),
                _ => writeln!(out, "    ✗ {}: {}", kind_name(reason.kind), reason.detail),
            };
        }
    }
    out
}

fn kind_name(kind: ReasonKind) -> &'static str {
    match kind {
        ReasonKind::Threshold => "threshold",
        ReasonKind::Requirement => "requirement",
        ReasonKind::ZeroDowntime => "zero downtime",
        ReasonKind::Rollout => "rollout",
        ReasonKind::Fault => "fault",
        ReasonKind::Abort => "abort",
    }
}
