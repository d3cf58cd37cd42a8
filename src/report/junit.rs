//! The JUnit XML report of a run (`junit.xml`), written with `quick-junit`
//! in the Jenkins JUnit format that CI test viewers read (GitHub's test
//! reporters, dorny/test-reporter, mikepenz/action-junit-report, Jenkins,
//! GitLab).
//!
//! One `<testsuite>` per kind of check, named `loadcheck.<plan id>.<kind>`,
//! in the order the verdict meets them: `run` (killed or aborted), `rollout`
//! (its status and the zero-downtime rule), `faults` (fault and restore
//! commands), `thresholds`, `requirements` and `regressions` (one case per
//! judged series of every comparison). Each case's `classname` is its
//! suite's name, so viewers that group by suite and those that group by
//! class show the same tree.
//!
//! The failed and errored cases are the verdict's reasons, one for one: the
//! report asks [`crate::verdict::decide_with`] for the verdict of the same
//! files and hangs each reason on the case it is about. A reason with exit
//! code 1 (a check failed) is a `<failure>`; one with exit code 3 (the run
//! itself went wrong: killed, a signal, `--max-duration`, the rollout or a
//! fault command failed) is an `<error>`. A reason no case claims (a kind
//! this file does not know yet) still shows, as a case of a `verdict`
//! suite. A series the comparison found inconclusive is a pass, as it is
//! for the verdict, with the comparison's note in its `<system-out>`.

use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::{Format, Input, Rendered};
use crate::compare::{Class, Comparison, ComparisonFile, Series};
use crate::exit::Exit;
use crate::metrics::RunResult;
use crate::metrics::deploy::RolloutStatus;
use crate::metrics::result::{AbortKind, Reason, ReasonKind, RunStatus, Verdict, VerdictResult};
use crate::plan::units;

/// The JUnit XML format: one file, `junit.xml`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Junit;

impl Format for Junit {
    fn name(&self) -> &'static str {
        "junit"
    }

    fn render(&self, input: &Input<'_>) -> Result<Vec<Rendered>, String> {
        let text = report(input)
            .to_string()
            .map_err(|e| format!("cannot write the JUnit XML: {e}"))?;
        Ok(vec![Rendered {
            file: "junit.xml".to_string(),
            text,
        }])
    }
}

/// The report of `input`, judged by the verdict of the same files.
fn report(input: &Input<'_>) -> Report {
    let run = input.run;
    let verdict = crate::verdict::decide_with(run, input.comparison);
    let mut reasons = Reasons(verdict.reasons.iter().cloned().map(Some).collect());
    let ctx = Ctx::new(run, &verdict);
    let mut report = Report::new(clean(&ctx.prefix));
    if let Some(t) = ctx.time {
        report.set_time(t);
    }
    report.add_test_suite(ctx.suite("run", run_cases(run, &mut reasons), None));
    if let Some(cases) = rollout_cases(run, &mut reasons) {
        report.add_test_suite(ctx.suite("rollout", cases, None));
    }
    let faults = fault_cases(run, &mut reasons);
    if !faults.is_empty() {
        report.add_test_suite(ctx.suite("faults", faults, None));
    }
    if !run.thresholds.is_empty() {
        report.add_test_suite(ctx.suite("thresholds", threshold_cases(run, &mut reasons), None));
    }
    if !run.requirements.is_empty() {
        report.add_test_suite(ctx.suite("requirements", requirement_cases(run, &mut reasons), None));
    }
    if let Some(f) = input.comparison.filter(|f| !f.comparisons.is_empty()) {
        let out = comparisons_out(f);
        report.add_test_suite(ctx.suite("regressions", regression_cases(f, &mut reasons), Some(out)));
    }
    let rest: Vec<TestCase> = reasons
        .0
        .into_iter()
        .flatten()
        .map(|r| failed(&r.name, &r, r.detail.clone(), String::new()))
        .collect();
    if !rest.is_empty() {
        report.add_test_suite(ctx.suite("verdict", rest, None));
    }
    report
}

/// The verdict's reasons not yet hung on a case.
struct Reasons(Vec<Option<Reason>>);

impl Reasons {
    /// The first unclaimed reason of `kind` named `name`, claimed.
    fn take(&mut self, kind: ReasonKind, name: &str) -> Option<Reason> {
        self.0
            .iter_mut()
            .find(|r| r.as_ref().is_some_and(|r| r.kind == kind && r.name == name))
            .and_then(Option::take)
    }

    /// [`Reasons::take`], only when the item failed by the verdict's own
    /// rule (`failing`): an item that held never claims the reason of
    /// another item of the same name.
    fn take_if(&mut self, failing: bool, kind: ReasonKind, name: &str) -> Option<Reason> {
        if failing { self.take(kind, name) } else { None }
    }
}

/// What every suite carries: its name's prefix, the properties, the time
/// and the timestamp.
struct Ctx {
    prefix: String,
    properties: Vec<Property>,
    time: Option<Duration>,
    timestamp: Option<DateTime<FixedOffset>>,
}

impl Ctx {
    fn new(run: &RunResult, verdict: &Verdict) -> Ctx {
        let id = run.id.trim();
        let prefix = if id.is_empty() {
            "loadcheck".to_string()
        } else {
            format!("loadcheck.{id}")
        };
        let mut properties = vec![
            Property::new("plan_id", clean(&run.id)),
            Property::new("loadcheck_version", clean(&run.metadata.loadcheck_version)),
        ];
        if let Some(git) = &run.metadata.git {
            properties.push(Property::new("git_sha", clean(&git.sha)));
            if let Some(branch) = &git.branch {
                properties.push(Property::new("git_branch", clean(branch)));
            }
        }
        if !run.started_at.is_empty() {
            properties.push(Property::new("started_at", clean(&run.started_at)));
        }
        let word = match verdict.result {
            VerdictResult::Pass => "pass",
            VerdictResult::Fail => "fail",
            VerdictResult::Error => "error",
        };
        properties.push(Property::new("verdict", word));
        properties.push(Property::new("exit_code", verdict.exit_code.to_string()));
        let timestamp = DateTime::parse_from_rfc3339(run.started_at.trim()).ok().or_else(|| {
            (run.started_at_ms > 0)
                .then(|| DateTime::from_timestamp_millis(run.started_at_ms))
                .flatten()
                .map(|t| t.fixed_offset())
        });
        Ctx {
            prefix,
            properties,
            time: Duration::try_from_secs_f64(run.duration_s).ok(),
            timestamp,
        }
    }

    /// The suite `<prefix>.<kind>` of `cases`, each case's class its name.
    fn suite(&self, kind: &str, cases: Vec<TestCase>, out: Option<String>) -> TestSuite {
        let name = clean(&format!("{}.{kind}", self.prefix));
        let mut suite = TestSuite::new(name.as_str());
        suite.add_properties(self.properties.iter().cloned());
        if let Some(t) = self.time {
            suite.set_time(t);
        }
        if let Some(t) = self.timestamp {
            suite.set_timestamp(t);
        }
        for mut case in cases {
            case.set_classname(name.as_str());
            suite.add_test_case(case);
        }
        if let Some(out) = out.filter(|o| !o.is_empty()) {
            suite.set_system_out(clean(&out));
        }
        suite
    }
}

/// A case that held, with what was measured as its output.
fn passed(name: &str, out: String) -> TestCase {
    let mut case = TestCase::new(clean(name), TestCaseStatus::success());
    if !out.is_empty() {
        case.set_system_out(clean(&out));
    }
    case
}

/// The case of a reason: a `<failure>` when the reason alone exits 1, an
/// `<error>` otherwise.
fn failed(name: &str, reason: &Reason, message: String, body: String) -> TestCase {
    let kind = if Exit::from_code(reason.exit_code) == Exit::Fail {
        NonSuccessKind::Failure
    } else {
        NonSuccessKind::Error
    };
    let mut status = TestCaseStatus::non_success(kind);
    status.set_message(clean(&message)).set_type(kind_name(reason.kind));
    // The verdict's own words first, unless the message already is them.
    let body = if body.is_empty() {
        reason.detail.clone()
    } else if message == reason.detail {
        body
    } else {
        format!("{}\n{body}", reason.detail)
    };
    status.set_description(clean(&body));
    TestCase::new(clean(name), status)
}

fn kind_name(kind: ReasonKind) -> &'static str {
    match kind {
        ReasonKind::Threshold => "threshold",
        ReasonKind::Requirement => "requirement",
        ReasonKind::ZeroDowntime => "zero_downtime",
        ReasonKind::Rollout => "rollout",
        ReasonKind::Fault => "fault",
        ReasonKind::Abort => "abort",
        ReasonKind::Regression => "regression",
    }
}

/// The run itself: killed, aborted, or a passing `completed`.
fn run_cases(run: &RunResult, reasons: &mut Reasons) -> Vec<TestCase> {
    let mut cases = Vec::new();
    let mut claimed = false;
    if let Some(r) = reasons.take_if(
        matches!(run.status, RunStatus::Running | RunStatus::Killed),
        ReasonKind::Abort,
        "killed",
    ) {
        cases.push(failed("killed", &r, r.detail.clone(), String::new()));
        claimed = true;
    }
    if let Some(abort) = &run.abort {
        let name = match abort.kind {
            AbortKind::Signal => "signal",
            AbortKind::MaxDuration => "max_duration",
            AbortKind::Threshold => "threshold",
        };
        if let Some(r) = reasons.take(ReasonKind::Abort, name) {
            let body = format!("the run stopped after {}", secs(run.duration_s));
            cases.push(failed(name, &r, r.detail.clone(), body));
            claimed = true;
        }
    }
    if !claimed {
        let (name, out) = match run.status {
            RunStatus::Aborted => (
                "aborted",
                "the run stopped early; run.json records no reason".to_string(),
            ),
            _ => ("completed", format!("the run completed after {}", secs(run.duration_s))),
        };
        cases.push(passed(name, out));
    }
    cases
}

/// The rollout's status and the zero-downtime rule; `None` without a
/// rollout.
fn rollout_cases(run: &RunResult, reasons: &mut Reasons) -> Option<Vec<TestCase>> {
    let ro = run.rollout.as_ref()?;
    let t = &ro.trigger;
    let mut cases = Vec::new();
    let status = match t.status {
        RolloutStatus::Succeeded => "succeeded",
        RolloutStatus::Failed => "failed",
        RolloutStatus::TimedOut => "timed out",
        RolloutStatus::Unfinished => "did not finish before the run ended",
    };
    let mut case = match reasons.take_if(t.status != RolloutStatus::Succeeded, ReasonKind::Rollout, "rollout") {
        Some(r) => {
            let mut body = format!("trigger: {}", t.trigger);
            if let Some(code) = t.exit_code {
                body.push_str(&format!("\nexit code: {code}"));
            }
            failed("rollout", &r, r.detail.clone(), body)
        }
        None => passed(
            "rollout",
            format!(
                "the rollout ({}) {status}{}",
                t.trigger,
                t.detail.as_deref().map_or(String::new(), |d| format!(": {d}"))
            ),
        ),
    };
    if let Some(output) = t.output.as_deref().filter(|o| !o.is_empty()) {
        case.set_system_out(clean(output));
    }
    cases.push(case);
    if let Some(z) = &ro.zero_downtime {
        let what = format!(
            "{} in the rollout ({} reset); {} allowed",
            count(z.failed_requests, "failed request"),
            z.reset_requests,
            count(z.tolerance, "request")
        );
        cases.push(
            match reasons.take_if(!z.ok, ReasonKind::ZeroDowntime, "zero_downtime") {
                Some(r) => failed("zero_downtime", &r, r.detail.clone(), String::new()),
                None => passed("zero_downtime", what),
            },
        );
    }
    Some(cases)
}

/// One case per fault or restore command that ended.
fn fault_cases(run: &RunResult, reasons: &mut Reasons) -> Vec<TestCase> {
    run.events
        .iter()
        .filter(|e| matches!(e.kind.as_str(), "fault_end" | "restore"))
        .map(|e| {
            let what = if e.kind == "restore" { "restore" } else { "fault" };
            let output = run
                .commands
                .iter()
                .find(|c| c.name == e.name && c.kind == what)
                .map(|c| c.output.as_str())
                .filter(|o| !o.is_empty());
            let mut case = match reasons.take_if(e.ok == Some(false), ReasonKind::Fault, &e.name) {
                Some(r) => failed(&e.name, &r, r.detail.clone(), format!("at {}", secs(e.at_s))),
                None => passed(
                    &e.name,
                    match e.ok {
                        Some(_) => format!("the {what} command succeeded at {}", secs(e.at_s)),
                        None => format!("the {what} command ended at {} (no result recorded)", secs(e.at_s)),
                    },
                ),
            };
            if let Some(o) = output {
                case.set_system_out(clean(o));
            }
            case
        })
        .collect()
}

fn threshold_cases(run: &RunResult, reasons: &mut Reasons) -> Vec<TestCase> {
    run.thresholds
        .iter()
        .map(|t| {
            let name = format!("{}: {}", t.metric, t.expression);
            let parts = units::check_parts(&t.metric, &t.expression);
            match reasons.take_if(!t.ok, ReasonKind::Threshold, &name) {
                Some(r) => {
                    let body = if t.abort_on_fail {
                        "abort_on_fail: its failure stops the run".to_string()
                    } else {
                        String::new()
                    };
                    failed(&name, &r, r.detail.clone(), body)
                }
                None => passed(
                    &name,
                    crate::verdict::measured(parts, t.value, t.not_in_file, &t.expression),
                ),
            }
        })
        .collect()
}

fn requirement_cases(run: &RunResult, reasons: &mut Reasons) -> Vec<TestCase> {
    run.requirements
        .iter()
        .map(|q| {
            let parts = units::requirement_parts(&q.check);
            let mut context = format!("target: {}\nvalidated: {}", q.target, q.validated);
            if let Some(note) = &q.note {
                context.push_str(&format!("\nnote: {note}"));
            }
            match reasons.take_if(!q.ok, ReasonKind::Requirement, &q.name) {
                Some(r) => failed(&q.name, &r, r.detail.clone(), context),
                None => passed(
                    &q.name,
                    format!(
                        "{}\n{context}",
                        crate::verdict::measured(parts, q.value, q.not_in_file, &q.check)
                    ),
                ),
            }
        })
        .collect()
}

/// One case per judged series (new and missing series are not judged):
/// a gating comparison's regression fails; an improvement, an unchanged
/// series, an inconclusive one and a regression of a comparison that only
/// reports pass, as they do for the verdict, saying what they were.
fn regression_cases(f: &ComparisonFile, reasons: &mut Reasons) -> Vec<TestCase> {
    let mut cases = Vec::new();
    for c in &f.comparisons {
        for s in &c.series {
            if matches!(s.class, Class::New | Class::Missing) {
                continue;
            }
            let name = format!("{} {} {} ({})", s.endpoint, s.phase, s.metric.name(), c.source.label());
            let gating = c.gating && s.class == Class::Regression;
            cases.push(match reasons.take_if(gating, ReasonKind::Regression, &name) {
                Some(r) => {
                    let message = format!("{}; {}", r.detail, series_values(s));
                    failed(&name, &r, message, String::new())
                }
                None => passed(&name, series_out(c, s)),
            });
        }
    }
    cases
}

/// What a passing series was, for its `<system-out>`.
fn series_out(c: &Comparison, s: &Series) -> String {
    let detail = crate::verdict::regression_detail(c, s);
    let values = series_values(s);
    match s.class {
        Class::Regression => format!("regression, reported only (this comparison does not gate): {detail}; {values}"),
        Class::Inconclusive => format!(
            "inconclusive, not a regression for the verdict: {}; {detail}; {values}",
            s.note.as_deref().unwrap_or("the interval straddles the minimum effect")
        ),
        class => format!("{}: {detail}; {values}", class.name()),
    }
}

/// `measured 6.7 ms against a baseline of 5.1 ms`.
fn series_values(s: &Series) -> String {
    let v = |x: Option<f64>| match (x, s.unit.as_str()) {
        (None, _) => "no data".to_string(),
        (Some(x), "ms") => units::ms(x),
        (Some(x), "fraction") => units::percent(x),
        (Some(x), "req/s") => units::per_second(x, "requests"),
        (Some(x), "") => number(x),
        (Some(x), u) => format!("{} {u}", number(x)),
    };
    format!("measured {} against a baseline of {}", v(s.value), v(s.baseline))
}

/// The comparisons' counts and notes, for the regressions suite's
/// `<system-out>`.
fn comparisons_out(f: &ComparisonFile) -> String {
    let mut out = Vec::new();
    for c in &f.comparisons {
        let n = &c.counts;
        out.push(format!(
            "compared with {} ({}{}): {} regression(s), {} improvement(s), {} unchanged, {} inconclusive, {} new, {} missing",
            c.baseline.description,
            c.source.label(),
            if c.gating { "" } else { ", reported only" },
            n.regression,
            n.improvement,
            n.unchanged,
            n.inconclusive,
            n.new,
            n.missing
        ));
        out.extend(c.notes.iter().map(|note| format!("  note: {note}")));
    }
    out.join("\n")
}

/// `3 failed requests`, `1 failed request`.
fn count(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

fn secs(v: f64) -> String {
    format!("{} s", number(v))
}

/// A number to a precision that suits its size: whole numbers as they
/// are, three significant digits below 1, two decimals below 100, one
/// above; trailing zeros dropped.
fn number(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let a = v.abs();
    if v == 0.0 {
        return "0".to_string();
    }
    if v.fract() == 0.0 && a < 1e15 {
        return format!("{v:.0}");
    }
    let decimals = if a >= 100.0 {
        1
    } else if a >= 1.0 {
        2
    } else {
        // 0.5 → 3, 0.05 → 4, … three significant digits, at most 12.
        (2 - a.log10().floor() as i64).clamp(3, 12) as usize
    };
    let s = format!("{v:.decimals$}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".to_string() } else { s.to_string() }
}

/// `s` with the characters XML 1.0 cannot hold left out (`quick-junit`
/// drops control characters and ANSI escapes, not U+FFFE and U+FFFF).
fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}'))
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn stats() -> Value {
        json!({
            "requests": 0, "ok": 0, "failed": 0, "errors": {}, "status": {}, "rps": 0.0, "clamped": 0,
            "histograms": {"http_req_duration": "", "http_req_service_duration": "", "http_req_failure_duration": ""}
        })
    }

    /// A run.json with `extra`'s fields laid over a completed, empty run.
    fn run(extra: Value) -> RunResult {
        let mut v = json!({
            "schema": "loadcheck.run/v1", "plan": {"name": "shop"}, "plan_fingerprint": "",
            "started_at": "2026-03-01T12:00:00.250Z", "started_at_ms": 1_772_366_400_250_i64,
            "duration_s": 42.5, "status": "completed", "id": "shop",
            "metadata": {
                "loadcheck_version": "0.1.0", "workers": 1, "seed": 0,
                "testbed": {"os": "linux", "arch": "x86_64", "cpus": 2},
                "git": {"sha": "0123abcd", "branch": "main"}
            },
            "stats": {"total": stats(), "endpoints": {}, "scenarios": {}},
            "timeline": {"resolution_s": 1, "approximate_percentiles": false, "total": [], "endpoints": {}},
            "generator": {"scheduled_sends": 0, "dropped_sends": 0, "late_sends": 0, "late_after_ms": 0.0},
            "thresholds": [], "requirements": []
        });
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        serde_json::from_value(v).unwrap()
    }

    fn series(endpoint: &str, metric: &str, class: &str, values: [f64; 3], note: Option<&str>) -> Value {
        let [baseline, value, change] = values;
        let unit = match metric {
            "error_rate" | "dropped" => "fraction",
            "throughput" => "req/s",
            _ => "ms",
        };
        json!({
            "endpoint": endpoint, "phase": "tail", "metric": metric, "unit": unit,
            "baseline": baseline, "value": value, "change": change,
            "interval": [change - 0.02, change + 0.02], "threshold": 0.05, "threshold_from": "min_effect",
            "mde": 0.03, "p_value": 0.01, "class": class, "note": note
        })
    }

    fn comparison(parts: &[(&str, bool, Vec<Value>)]) -> ComparisonFile {
        let comparisons: Vec<Value> = parts
            .iter()
            .map(|(source, gating, series)| {
                let counts = |c: &str| series.iter().filter(|s| s["class"] == c).count();
                json!({
                    "source": source, "gating": gating,
                    "baseline": {"description": "the head (v1) of this run", "runs": 1},
                    "method": {"name": "block_bootstrap", "confidence": 0.95, "alpha": 0.05, "resamples": 2000, "min_effect": 0.05},
                    "series": series,
                    "counts": {
                        "regression": counts("regression"), "improvement": counts("improvement"),
                        "unchanged": counts("unchanged"), "inconclusive": counts("inconclusive"),
                        "new": counts("new"), "missing": counts("missing")
                    },
                    "notes": ["the tail's first 5 s are its warm-up"]
                })
            })
            .collect();
        serde_json::from_value(json!({
            "schema": "loadcheck.comparison/v1",
            "run": {"id": "shop", "started_at": "2026-03-01T12:00:00.250Z"},
            "comparisons": comparisons
        }))
        .unwrap()
    }

    /// Everything holds: thresholds, requirements, the rollout, zero
    /// downtime, a fault and its restore, and a comparison with no
    /// regression (an inconclusive series and a regression that only
    /// reports among them).
    fn passing() -> (RunResult, ComparisonFile) {
        let r = run(json!({
            "thresholds": [
                {"metric": "http_req_duration{endpoint:search}", "expression": "p(95)<500", "value": 212.44, "ok": true, "abort_on_fail": false},
                {"metric": "http_req_failed", "expression": "rate<0.01", "value": 0.0022, "ok": true, "abort_on_fail": true}
            ],
            "requirements": [
                {"name": "search p99", "target": "< 1 s", "check": "http_req_duration{endpoint:search}: p(99)<1000", "value": 640.0, "ok": true, "validated": "steady, 100 req/s for 40 s"}
            ],
            "phases": [{"name": "head", "start_s": 0.0, "end_s": 10.0}, {"name": "rollout", "start_s": 10.0, "end_s": 20.0}, {"name": "tail", "start_s": 20.0}],
            "rollout": {"trigger": "command", "status": "succeeded", "started_before_head": false, "exit_code": 0,
                        "zero_downtime": {"ok": true, "failed_requests": 1, "reset_requests": 1, "tolerance": 2}},
            "events": [
                {"kind": "fault", "name": "kill-db", "at_s": 12.0},
                {"kind": "fault_end", "name": "kill-db", "at_s": 13.0, "ok": true},
                {"kind": "restore", "name": "kill-db", "at_s": 20.0, "ok": true}
            ]
        }));
        let c = comparison(&[
            (
                "head_vs_tail",
                true,
                vec![
                    series("search", "p95", "improvement", [10.0, 8.0, -0.2], None),
                    series("search", "p99", "unchanged", [20.0, 20.2, 0.01], None),
                    series(
                        "search",
                        "error_rate",
                        "inconclusive",
                        [0.001, 0.004, 0.003],
                        Some("too few failures to tell"),
                    ),
                    series("search", "throughput", "new", [0.0, 0.0, 0.0], None),
                ],
            ),
            (
                "duet",
                false,
                vec![series("search", "p95", "regression", [10.0, 13.0, 0.3], None)],
            ),
        ]);
        (r, c)
    }

    /// Every kind of failure at once: thresholds (one over, one with no
    /// samples, one not in the file), a requirement, zero downtime, a gating
    /// regression; and every kind of error: a failed rollout, a failed fault
    /// command and restore, a signal.
    fn failing() -> (RunResult, ComparisonFile) {
        let r = run(json!({
            "status": "aborted", "abort": {"kind": "signal", "detail": "SIGTERM"},
            "thresholds": [
                {"metric": "http_req_duration{endpoint:search}", "expression": "p(95)<500", "value": 612.345678, "ok": false, "abort_on_fail": false},
                {"metric": "http_req_failed", "expression": "rate<0.01", "value": 0.025, "ok": false, "abort_on_fail": false},
                {"metric": "http_reqs", "expression": "rate>100", "value": 87.25, "ok": false, "abort_on_fail": false},
                {"metric": "http_errors{class:timeout}", "expression": "count<10", "value": 17.0, "ok": false, "abort_on_fail": false},
                {"metric": "downtime_seconds", "expression": "value<1", "value": 3.25, "ok": false, "abort_on_fail": false},
                {"metric": "send_lag", "expression": "p(99)<10", "value": null, "ok": false, "abort_on_fail": false},
                {"metric": "delivery_duration", "expression": "p(99)<100", "value": null, "ok": false, "abort_on_fail": false, "not_in_file": true},
                {"metric": "http_req_duration", "expression": "p(50)<500", "value": 20.0, "ok": true, "abort_on_fail": false}
            ],
            "requirements": [
                {"name": "search p99", "target": "< 1 s", "check": "http_req_duration{endpoint:search}: p(99)<1000", "value": 1200.5, "ok": false, "validated": "steady, 100 req/s for 40 s", "note": "the SLO"},
                {"name": "errors", "target": "< 1%", "check": "http_req_failed: rate<0.01", "value": 0.005, "ok": true, "validated": "steady"}
            ],
            "rollout": {"trigger": "command", "status": "failed", "started_before_head": false, "exit_code": 2, "output": "deploy: error",
                        "detail": "exit code 2", "zero_downtime": {"ok": false, "failed_requests": 7, "reset_requests": 3, "tolerance": 0}},
            "events": [
                {"kind": "fault_end", "name": "kill-db", "at_s": 13.0, "ok": false, "detail": "exit 1"},
                {"kind": "restore", "name": "kill-db", "at_s": 20.0, "ok": false, "detail": "exit 1"},
                {"kind": "fault_end", "name": "slow-net", "at_s": 14.0, "ok": true}
            ],
            "commands": [{"name": "kill-db", "kind": "restore", "output": "cannot reach the db"}]
        }));
        let c = comparison(&[
            (
                "head_vs_tail",
                true,
                vec![
                    series("search", "p95", "regression", [5.1, 6.7, 0.312], None),
                    series("search", "error_rate", "regression", [0.001, 0.03, 0.029], None),
                    series(
                        "search",
                        "p99",
                        "inconclusive",
                        [20.0, 24.0, 0.2],
                        Some("the interval straddles 5%"),
                    ),
                ],
            ),
            // The same series, reported only: not a reason, a pass.
            (
                "duet",
                false,
                vec![series("search", "p95", "regression", [5.0, 7.0, 0.4], None)],
            ),
        ]);
        (r, c)
    }

    /// Every non-passing case, in order: (suite, name, kind, message).
    fn non_passing(report: &Report) -> Vec<(String, String, NonSuccessKind, String)> {
        report
            .test_suites
            .iter()
            .flat_map(|s| s.test_cases.iter().map(move |c| (s, c)))
            .filter_map(|(s, c)| match &c.status {
                TestCaseStatus::NonSuccess { kind, message, .. } => Some((
                    s.name.as_str().to_string(),
                    c.name.as_str().to_string(),
                    *kind,
                    message.as_deref().unwrap_or_default().to_string(),
                )),
                _ => None,
            })
            .collect()
    }

    /// The report's failures and errors are the verdict's reasons, one for
    /// one, in the verdict's order, exit 1 a failure and 3 an error.
    fn assert_matches_verdict(r: &RunResult, c: Option<&ComparisonFile>) -> Report {
        let input = Input {
            run: r,
            comparison: c,
            baseline: None,
        };
        let report = report(&input);
        let verdict = crate::verdict::decide_with(r, c);
        let cases = non_passing(&report);
        assert_eq!(report.failures + report.errors, verdict.reasons.len(), "{cases:#?}");
        let names: Vec<&str> = cases.iter().map(|c| c.1.as_str()).collect();
        let reasons: Vec<&str> = verdict.reasons.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, reasons);
        for (case, reason) in cases.iter().zip(&verdict.reasons) {
            let want = if reason.exit_code == 1 {
                NonSuccessKind::Failure
            } else {
                NonSuccessKind::Error
            };
            assert_eq!(case.2, want, "{case:?} for {reason:?}");
            assert!(!case.0.ends_with(".verdict"), "every reason has its case: {case:?}");
        }
        assert_eq!(
            report.errors,
            verdict.reasons.iter().filter(|r| r.exit_code != 1).count()
        );
        report
    }

    fn suite<'a>(report: &'a Report, kind: &str) -> &'a TestSuite {
        report
            .test_suites
            .iter()
            .find(|s| s.name.as_str() == format!("loadcheck.shop.{kind}"))
            .unwrap_or_else(|| panic!("no {kind} suite"))
    }

    fn out<'a>(s: &'a TestSuite, name: &str) -> &'a str {
        let case = s.test_cases.iter().find(|c| c.name.as_str() == name).unwrap();
        case.system_out.as_deref().unwrap_or_default()
    }

    #[test]
    fn a_passing_run_has_no_failures() {
        let (r, c) = passing();
        assert_eq!(crate::verdict::decide_with(&r, Some(&c)).result, VerdictResult::Pass);
        let report = assert_matches_verdict(&r, Some(&c));
        assert_eq!((report.failures, report.errors, report.skipped), (0, 0, 0));
        let suites: Vec<&str> = report.test_suites.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            suites,
            [
                "loadcheck.shop.run",
                "loadcheck.shop.rollout",
                "loadcheck.shop.faults",
                "loadcheck.shop.thresholds",
                "loadcheck.shop.requirements",
                "loadcheck.shop.regressions"
            ]
        );
        // 1 run + 2 rollout + 2 fault commands + 2 + 1 + 4 judged series
        // (the new one is not judged).
        assert_eq!(report.tests, 12);
        assert!(out(suite(&report, "run"), "completed").contains("42.5 s"));
        assert_eq!(
            out(suite(&report, "thresholds"), "http_req_failed: rate<0.01"),
            "measured rate 0.22% against rate<0.01"
        );
        // A run with nothing but its completion still has one passing test.
        let bare = assert_matches_verdict(&run(json!({})), None);
        assert_eq!((bare.tests, bare.failures, bare.errors), (1, 0, 0));
    }

    #[test]
    fn every_failure_and_error_is_a_reason_of_the_verdict() {
        let (r, c) = failing();
        let report = assert_matches_verdict(&r, Some(&c));
        // 7 thresholds, 1 requirement, zero downtime, 2 regressions fail;
        // the signal, the rollout, the fault and the restore are errors.
        assert_eq!((report.failures, report.errors), (11, 4));
        // Without the comparison, its regressions are no reasons either.
        let without = assert_matches_verdict(&r, None);
        assert_eq!((without.failures, without.errors), (9, 4));
        assert!(without.test_suites.iter().all(|s| !s.name.ends_with(".regressions")));
    }

    #[test]
    fn aborts_and_a_killed_run_are_their_verdicts_reasons() {
        for (status, abort, failures, errors) in [
            ("running", Value::Null, 0, 1),
            ("killed", Value::Null, 0, 1),
            ("aborted", json!({"kind": "max_duration"}), 0, 1),
            (
                "aborted",
                json!({"kind": "threshold", "detail": "http_req_failed: rate<0.5"}),
                1,
                0,
            ),
            ("running", json!({"kind": "signal"}), 0, 2),
            // Aborted, but with no record of why: the verdict passes, so
            // does the report.
            ("aborted", Value::Null, 0, 0),
        ] {
            let r = run(json!({"status": status, "abort": abort}));
            let report = assert_matches_verdict(&r, None);
            assert_eq!((report.failures, report.errors), (failures, errors), "{status} {abort}");
        }
        for status in ["unfinished", "timed_out"] {
            let r =
                run(json!({"rollout": {"trigger": "github_workflow", "status": status, "started_before_head": true}}));
            let report = assert_matches_verdict(&r, None);
            assert_eq!((report.failures, report.errors), (0, 1), "{status}");
        }
    }

    #[test]
    fn failure_messages_carry_the_measured_value_with_its_unit() {
        let (r, c) = failing();
        let report = assert_matches_verdict(&r, Some(&c));
        let messages: Vec<(String, String)> = non_passing(&report).into_iter().map(|c| (c.1, c.3)).collect();
        let message = |name: &str| {
            messages
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, m)| m.as_str())
                .unwrap_or_else(|| panic!("no failure {name}: {messages:#?}"))
        };
        assert_eq!(
            message("http_req_duration{endpoint:search}: p(95)<500"),
            "measured p(95) 612.3 ms against p(95)<500"
        );
        assert_eq!(
            message("http_req_failed: rate<0.01"),
            "measured rate 2.50% against rate<0.01"
        );
        assert_eq!(
            message("http_reqs: rate>100"),
            "measured rate 87.2 req/s against rate>100"
        );
        assert_eq!(
            message("http_errors{class:timeout}: count<10"),
            "measured count 17 requests against count<10"
        );
        assert_eq!(
            message("downtime_seconds: value<1"),
            "measured value 3.25 s against value<1"
        );
        assert_eq!(
            message("send_lag: p(99)<10"),
            "not measured (no samples) against p(99)<10"
        );
        assert!(message("delivery_duration: p(99)<100").starts_with("not in this file"));
        assert_eq!(
            message("search p99"),
            "measured p(99) 1,201 ms against http_req_duration{endpoint:search}: p(99)<1000"
        );
        assert_eq!(
            message("zero_downtime"),
            "7 requests failed during the rollout (3 reset); 0 allowed"
        );
        let p95 = message("search tail p95 (head vs tail)");
        assert!(
            p95.starts_with("search tail p95 +31.2% [+29.2%, +33.2%] against the head (v1)"),
            "{p95}"
        );
        assert!(
            p95.ends_with("; measured 6.70 ms against a baseline of 5.10 ms"),
            "{p95}"
        );
        let rate = message("search tail error_rate (head vs tail)");
        assert!(rate.ends_with("; measured 3.00% against a baseline of 0.10%"), "{rate}");
        assert_eq!(message("signal"), "aborted: SIGTERM received");
        assert_eq!(message("rollout"), "the rollout (command) failed: exit code 2");
        // The body holds the context (the message is the verdict's own words).
        let search = suite(&report, "requirements")
            .test_cases
            .iter()
            .find(|c| c.name.as_str() == "search p99")
            .unwrap();
        let TestCaseStatus::NonSuccess { description, ty, .. } = &search.status else {
            panic!("search p99 failed")
        };
        assert_eq!(ty.as_deref(), Some("requirement"));
        assert_eq!(
            description.as_deref(),
            Some("target: < 1 s\nvalidated: steady, 100 req/s for 40 s\nnote: the SLO")
        );
        assert_eq!(out(suite(&report, "faults"), "kill-db"), "");
        let restore = &suite(&report, "faults").test_cases[1];
        assert_eq!(restore.system_out.as_deref(), Some("cannot reach the db"));
    }

    #[test]
    fn inconclusive_and_reported_only_series_pass_saying_what_they_were() {
        let (r, c) = failing();
        let report = assert_matches_verdict(&r, Some(&c));
        let s = suite(&report, "regressions");
        let inconclusive = out(s, "search tail p99 (head vs tail)");
        assert!(
            inconclusive.starts_with("inconclusive, not a regression for the verdict: the interval straddles 5%;"),
            "{inconclusive}"
        );
        assert!(
            inconclusive.contains("measured 24.00 ms against a baseline of 20.00 ms"),
            "{inconclusive}"
        );
        let reported = out(s, "search tail p95 (duet)");
        assert!(reported.starts_with("regression, reported only"), "{reported}");
        let notes = s.system_out.as_deref().unwrap();
        assert!(notes.contains("compared with the head (v1) of this run (duet, reported only): 1 regression(s)"));
        assert!(notes.contains("note: the tail's first 5 s are its warm-up"));
    }

    #[test]
    fn a_series_that_held_never_claims_the_reason_of_its_namesake() {
        // Two comparisons of one source, the same series: an improvement in
        // the first, a regression in the second. Only the second fails.
        let c = comparison(&[
            (
                "run",
                true,
                vec![series("a", "p95", "improvement", [10.0, 8.0, -0.2], None)],
            ),
            (
                "run",
                true,
                vec![series("a", "p95", "regression", [10.0, 13.0, 0.3], None)],
            ),
        ]);
        let r = run(json!({}));
        let report = assert_matches_verdict(&r, Some(&c));
        let cases = &suite(&report, "regressions").test_cases;
        assert!(matches!(cases[0].status, TestCaseStatus::Success { .. }));
        assert!(matches!(cases[1].status, TestCaseStatus::NonSuccess { .. }));
    }

    #[test]
    fn suites_carry_the_properties_the_duration_and_the_start() {
        let (r, c) = failing();
        let report = report(&Input {
            run: &r,
            comparison: Some(&c),
            baseline: None,
        });
        assert_eq!(report.name.as_deref(), Some("loadcheck.shop"));
        assert_eq!(report.time, Some(Duration::from_millis(42_500)));
        for s in &report.test_suites {
            assert_eq!(s.time, Some(Duration::from_millis(42_500)));
            assert_eq!(
                s.timestamp.map(|t| t.to_rfc3339()).as_deref(),
                Some("2026-03-01T12:00:00.250+00:00")
            );
            let props: Vec<(&str, &str)> = s
                .properties
                .iter()
                .map(|p| (p.name.as_str(), p.value.as_str()))
                .collect();
            assert_eq!(
                props,
                [
                    ("plan_id", "shop"),
                    ("loadcheck_version", "0.1.0"),
                    ("git_sha", "0123abcd"),
                    ("git_branch", "main"),
                    ("started_at", "2026-03-01T12:00:00.250Z"),
                    ("verdict", "error"),
                    ("exit_code", "3"),
                ]
            );
            assert!(
                s.test_cases
                    .iter()
                    .all(|c| c.classname.as_deref() == Some(s.name.as_str()))
            );
        }
        // No git, a start only in milliseconds.
        let mut bare = run(json!({"started_at": "not a time"}));
        bare.metadata.git = None;
        let report = super::report(&Input {
            run: &bare,
            comparison: None,
            baseline: None,
        });
        let s = &report.test_suites[0];
        assert!(s.properties.iter().all(|p| !p.name.starts_with("git")));
        assert_eq!(
            s.timestamp.map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-03-01T12:00:00.250+00:00")
        );
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(number(-0.0), "0");
        assert_eq!(number(1234.56), "1234.6");
        assert_eq!(number(f64::NAN), "NaN");
    }

    #[test]
    fn a_hostile_run_json_renders_well_formed_xml_and_never_panics() {
        let (mut r, mut c) = failing();
        r.id = "bad\u{0}id\u{FFFF}<&>\"".into();
        r.duration_s = -1.0;
        r.started_at = "\u{1b}[31m".into();
        r.started_at_ms = i64::MIN;
        r.thresholds[0].value = Some(f64::NAN);
        r.thresholds[1].metric = "no_such_metric{{".into();
        r.thresholds[2].expression = "p(95)<<".into();
        r.requirements[0].check = ":::".into();
        r.requirements[0].name = "]]> \u{FFFE} </testcase>".into();
        r.events[0].name = "\u{7}bell".into();
        c.comparisons[0].series[0].value = Some(f64::INFINITY);
        c.comparisons[0].series[0].unit = "parsecs".into();
        let input = Input {
            run: &r,
            comparison: Some(&c),
            baseline: None,
        };
        let files = Junit.render(&input).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].file, "junit.xml");
        let back = Report::deserialize_from_str(&files[0].text).unwrap_or_else(|e| panic!("{e}\n{}", files[0].text));
        let verdict = crate::verdict::decide_with(&r, Some(&c));
        assert_eq!(back.failures + back.errors, verdict.reasons.len());
        assert!(
            back.test_suites
                .iter()
                .all(|s| s.time.is_none() && s.timestamp.is_none())
        );
        assert!(
            files[0]
                .text
                .contains("<testsuites name=\"loadcheck.badid&lt;&amp;&gt;&quot;\"")
        );
    }
}
