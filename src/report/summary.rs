//! The end-of-run summary printed to stdout: per-endpoint latency, errors,
//! pacing health, thresholds and requirements. The first of the report
//! formats; it reads only a `RunResult`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::compare::{Class, ComparisonFile, Series};
use crate::metrics::result::{ReasonKind, RunStatus, StatsSummary, VerdictResult};
use crate::metrics::{ErrorClass, RunResult};

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

/// The status codes an error class holds, as ` (404)` or
/// ` (502 ×7, 503 ×5)` (most frequent first); empty for a class that is
/// not about statuses. Counted per endpoint, leaving out the statuses the
/// endpoint expects, so a 404 one endpoint expects is not listed as another
/// one's error.
fn status_codes(r: &RunResult, class: &str) -> String {
    let Some(class) = ErrorClass::ALL.iter().copied().find(|c| c.name() == class) else {
        return String::new();
    };
    let mut codes: BTreeMap<u16, u64> = BTreeMap::new();
    for (name, s) in &r.stats.endpoints {
        if s.errors.get(class.name()).copied().unwrap_or(0) == 0 {
            continue;
        }
        let expect = expected_statuses(r, name);
        for (code, n) in &s.status {
            let Ok(code) = code.parse::<u16>() else { continue };
            let expected = match &expect {
                Some(list) if !list.is_empty() => list.contains(&code),
                _ => (200..=399).contains(&code),
            };
            if ErrorClass::of_status(code) == class && !expected {
                *codes.entry(code).or_default() += n;
            }
        }
    }
    let mut codes: Vec<(u16, u64)> = codes.into_iter().collect();
    codes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    match codes.as_slice() {
        [] => String::new(),
        [(code, _)] => format!(" ({code})"),
        _ => {
            let list: Vec<String> = codes.iter().map(|(code, n)| format!("{code} ×{n}")).collect();
            format!(" ({})", list.join(", "))
        }
    }
}

/// The `expect` list of an endpoint, read from the plan `run.json` holds.
fn expected_statuses(r: &RunResult, endpoint: &str) -> Option<Vec<u16>> {
    let ep = r
        .plan
        .get("endpoints")?
        .as_array()?
        .iter()
        .find(|e| e.get("name").and_then(|n| n.as_str()) == Some(endpoint))?;
    let list = ep.get("expect")?.as_array()?;
    Some(
        list.iter()
            .filter_map(|v| v.as_u64().and_then(|v| u16::try_from(v).ok()))
            .collect(),
    )
}

/// Renders the summary.
pub fn render(r: &RunResult) -> String {
    render_with(r, None)
}

/// [`render`], with the run's comparisons, regressions first, before the
/// thresholds and the verdict.
pub fn render_with(r: &RunResult, comparison: Option<&ComparisonFile>) -> String {
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
        .map(|(c, n)| format!("{c} {n}{}", status_codes(r, c)))
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
    if let Some(c) = comparison {
        out.push_str(&comparison_lines(c));
    }
    out.push_str(&verdict_lines(r));
    out
}

/// The comparisons: per source, its counts, then regressions with their
/// intervals, improvements, series that could not rule out a change
/// bigger than the minimum effect, and the notes.
pub fn comparison_lines(f: &ComparisonFile) -> String {
    let mut out = String::new();
    for c in &f.comparisons {
        let n = &c.counts;
        let _ = writeln!(
            out,
            "\n  compared with {} ({}{}): {} regression{}, {} improvement{}, {} unchanged, {} inconclusive{}{}",
            c.baseline.description,
            c.source.label(),
            if c.gating { "" } else { ", reported only" },
            n.regression,
            if n.regression == 1 { "" } else { "s" },
            n.improvement,
            if n.improvement == 1 { "" } else { "s" },
            n.unchanged,
            n.inconclusive,
            if n.new > 0 {
                format!(", {} new", n.new)
            } else {
                String::new()
            },
            if n.missing > 0 {
                format!(", {} missing", n.missing)
            } else {
                String::new()
            },
        );
        for (class, mark) in [(Class::Regression, "✗"), (Class::Improvement, "✓")] {
            for s in c.series.iter().filter(|s| s.class == class) {
                let _ = writeln!(out, "    {mark} {} {}", class.name(), series_line(s));
            }
        }
        let wide: Vec<&Series> = c
            .series
            .iter()
            .filter(|s| s.class == Class::Inconclusive && s.note.is_some())
            .collect();
        for s in wide.iter().take(5) {
            let _ = writeln!(
                out,
                "    ? inconclusive {}: {}",
                series_name(s),
                s.note.as_deref().unwrap_or_default()
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
    out
}

fn series_name(s: &Series) -> String {
    format!("{} {} {}", s.endpoint, s.phase, s.metric.name())
}

/// `search tail p95 +31.2% [+24.0%, +38.5%] (5.1 → 6.7 ms; minimum effect 5.0%)`.
fn series_line(s: &Series) -> String {
    let pct = |x: f64| {
        if s.metric.relative() {
            format!("{:+.1}%", x * 100.0)
        } else {
            format!("{:+.2} pts", x * 100.0)
        }
    };
    let val = |x: Option<f64>| match (x, s.unit.as_str()) {
        (Some(v), "ms") => format!("{v:.2}"),
        (Some(v), "fraction") => format!("{:.2}%", v * 100.0),
        (Some(v), _) => format!("{v:.1}"),
        (None, _) => "-".into(),
    };
    let unit = match s.unit.as_str() {
        "ms" => " ms",
        "req/s" => " req/s",
        _ => "",
    };
    format!(
        "{} {}{} ({} → {}{unit}; minimum effect {})",
        series_name(s),
        s.change.map_or("?".into(), pct),
        s.interval
            .map_or(String::new(), |[a, b]| format!(" [{}, {}]", pct(a), pct(b))),
        val(s.baseline),
        val(s.value),
        pct(s.threshold).trim_start_matches('+'),
    )
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
        ReasonKind::Regression => "regression",
    }
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
