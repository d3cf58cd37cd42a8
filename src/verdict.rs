//! The verdict: one pure function from a run's result to pass, fail or
//! error, its exit code, and every reason. `run` uses it, and so does
//! every command that judges a run from its files, so they all reach the
//! same exit code from the same file.

use crate::compare::{Comparison, ComparisonFile, Series};
use crate::exit::Exit;
use crate::metrics::deploy::RolloutStatus;
use crate::metrics::result::{AbortKind, Reason, ReasonKind, RunResult, RunStatus, Verdict, VerdictResult};
use crate::plan::registry::MetricDef;
use crate::plan::{Aggregation, units};

/// Decides a run's verdict from its result. When several reasons apply,
/// the exit code is the first of 3, 1 (DESIGN.md's order; 2 never comes
/// from a result).
pub fn decide(result: &RunResult) -> Verdict {
    decide_with(result, None)
}

/// [`decide`], with the run's comparisons: every regression in a
/// comparison that gates is a reason (exit 1).
pub fn decide_with(result: &RunResult, comparison: Option<&ComparisonFile>) -> Verdict {
    let mut reasons = Vec::new();
    if result.status == RunStatus::Running {
        reasons.push(reason(
            ReasonKind::Abort,
            "killed",
            None,
            "the run did not finish: its run.json still says `running` (the process was killed)".into(),
            Exit::Operational,
        ));
    }
    if result.status == RunStatus::Killed {
        let recovered = result
            .recovered
            .as_ref()
            .map_or_else(|| "nothing recovered".to_string(), ToString::to_string);
        reasons.push(reason(
            ReasonKind::Abort,
            "killed",
            None,
            format!(
                "the run was killed: its process ended without writing its result; {recovered}. The log holds the \
                 latencies of responses only: errors, status codes and pacing are not known"
            ),
            Exit::Operational,
        ));
    }
    if let Some(abort) = &result.abort {
        let (name, code) = match abort.kind {
            AbortKind::Signal => ("signal", Exit::Operational),
            AbortKind::MaxDuration => ("max_duration", Exit::Operational),
            AbortKind::Threshold => ("threshold", Exit::Fail),
        };
        reasons.push(reason(ReasonKind::Abort, name, None, format!("aborted: {abort}"), code));
    }
    if let Some(r) = &result.rollout {
        if r.trigger.status != RolloutStatus::Succeeded {
            let status = match r.trigger.status {
                RolloutStatus::Succeeded => "succeeded",
                RolloutStatus::Failed => "failed",
                RolloutStatus::TimedOut => "timed out",
                RolloutStatus::Unfinished => "did not finish before the run ended",
            };
            let detail = match &r.trigger.detail {
                Some(d) => format!("the rollout ({}) {status}: {d}", r.trigger.trigger),
                None => format!("the rollout ({}) {status}", r.trigger.trigger),
            };
            reasons.push(reason(ReasonKind::Rollout, "rollout", None, detail, Exit::Operational));
        }
        if let Some(z) = r.zero_downtime.as_ref().filter(|z| !z.ok) {
            reasons.push(reason(
                ReasonKind::ZeroDowntime,
                "zero_downtime",
                Some(z.failed_requests as f64),
                format!(
                    "{} requests failed during the rollout ({} reset); {} allowed",
                    z.failed_requests, z.reset_requests, z.tolerance
                ),
                Exit::Fail,
            ));
        }
    }
    for e in &result.events {
        if matches!(e.kind.as_str(), "fault_end" | "restore") && e.ok == Some(false) {
            let what = if e.kind == "restore" { "restore" } else { "fault" };
            reasons.push(reason(
                ReasonKind::Fault,
                &e.name,
                None,
                format!(
                    "the {what} command of \"{}\" failed ({})",
                    e.name,
                    e.detail.as_deref().unwrap_or("no detail")
                ),
                Exit::Operational,
            ));
        }
    }
    for t in result.thresholds.iter().filter(|t| !t.ok) {
        let name = format!("{}: {}", t.metric, t.expression);
        reasons.push(reason(
            ReasonKind::Threshold,
            &name,
            t.value,
            measured(
                units::check_parts(&t.metric, &t.expression),
                t.value,
                t.not_in_file,
                &t.expression,
            ),
            Exit::Fail,
        ));
    }
    for r in result.requirements.iter().filter(|r| !r.ok) {
        reasons.push(reason(
            ReasonKind::Requirement,
            &r.name,
            r.value,
            measured(units::requirement_parts(&r.check), r.value, r.not_in_file, &r.check),
            Exit::Fail,
        ));
    }
    for (c, s) in comparison.iter().flat_map(|f| f.gating_regressions()) {
        reasons.push(reason(
            ReasonKind::Regression,
            &format!("{} {} {} ({})", s.endpoint, s.phase, s.metric.name(), c.source.label()),
            s.change,
            regression_detail(c, s),
            Exit::Fail,
        ));
    }
    let code = reasons
        .iter()
        .map(|r| Exit::from_code(r.exit_code))
        .fold(Exit::Pass, Exit::combine);
    Verdict {
        result: match code {
            Exit::Pass => VerdictResult::Pass,
            Exit::Fail => VerdictResult::Fail,
            Exit::BadInput | Exit::Operational => VerdictResult::Error,
        },
        exit_code: i32::from(code.code()),
        reasons,
    }
}

fn reason(kind: ReasonKind, name: &str, value: Option<f64>, detail: String, code: Exit) -> Reason {
    Reason {
        kind,
        name: name.to_string(),
        value,
        detail,
        exit_code: i32::from(code.code()),
    }
}

/// `search tail p95 +31% [+24%, +38%] against the head (threshold 5%)`.
pub fn regression_detail(c: &Comparison, s: &Series) -> String {
    let fmt = |x: f64| {
        if s.metric.relative() {
            format!("{:+.1}%", x * 100.0)
        } else {
            format!("{:+.2} points", x * 100.0)
        }
    };
    let interval = s
        .interval
        .map_or(String::new(), |[a, b]| format!(" [{}, {}]", fmt(a), fmt(b)));
    format!(
        "{} {} {} {}{} against {} (minimum effect {})",
        s.endpoint,
        s.phase,
        s.metric.name(),
        s.change.map_or("?".to_string(), fmt),
        interval,
        c.baseline.description,
        fmt(s.threshold).trim_start_matches('+'),
    )
}

/// What a check measured, with its unit: `measured p(95) 263.2 ms
/// against p(95)<250`. JUnit words a passing check the same way.
pub fn measured(
    parts: Option<(&'static MetricDef, Aggregation)>,
    value: Option<f64>,
    not_in_file: bool,
    condition: &str,
) -> String {
    match value {
        _ if not_in_file => format!("not in this file: it does not hold the data {condition} needs"),
        Some(v) => format!("measured {} against {condition}", units::measured(parts, Some(v))),
        None => format!("not measured (no samples) against {condition}"),
    }
}
