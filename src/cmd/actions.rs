//! Inside a GitHub Actions job (`GITHUB_ACTIONS=true`): after a command,
//! the step summary, the step's outputs and the annotations, all read from
//! the files the command wrote (the files are the contract); before
//! anything is printed, `::add-mask::` for every secret.

use std::path::Path;
use std::time::SystemTime;

use crate::exit::Exit;
use crate::github::runner::{self, Level, Location};
use crate::metrics::RunResult;
use crate::metrics::result::VerdictResult;
use crate::plan::PlanError;

/// Masks secrets in the job's log, the moment they are known.
pub fn mask(secrets: &[String]) {
    runner::mask(secrets);
}

/// `::error file=…,line=…,col=…::` on the plan's line, so that a bad plan
/// shows in the pull request's diff.
pub fn plan_error(e: &PlanError) {
    if !runner::in_actions() {
        return;
    }
    let at = Location {
        file: runner::workspace_relative(&e.file),
        line: e.line,
        col: e.column,
    };
    let mut message = if e.field.is_empty() {
        e.message.clone()
    } else {
        format!("{}: {}", e.field, e.message)
    };
    if let Some(s) = &e.suggestion {
        message.push_str(&format!(" (did you mean `{s}`?)"));
    }
    runner::annotate(Level::Error, Some("loadcheck plan"), Some(&at), &message);
}

/// The step's outputs, the step summary and the annotations of a command
/// that started at `since`, wrote (or failed to write) its files to `out`,
/// and exited `code`. Files older than `since` are a previous run's, and
/// are not read.
pub fn finish(out: &Path, since: SystemTime, code: Exit) {
    if !runner::in_actions() {
        return;
    }
    let fresh = |name: &str| {
        let path = out.join(name);
        let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok()?;
        (modified >= since).then_some(path)
    };
    let run = fresh("run.json").and_then(|p| super::report::read_run(&p).ok());
    let comparison = fresh(crate::compare::FILE_NAME).and_then(|p| crate::compare::read_file(&p).ok());
    let regressions = comparison.as_ref().map_or(0, |c| c.gating_regressions().count());
    let mut pairs = vec![
        ("verdict".to_string(), verdict_word(run.as_ref(), code).to_string()),
        ("exit-code".to_string(), code.code().to_string()),
        ("regressions".to_string(), regressions.to_string()),
        (
            "report-dir".to_string(),
            std::path::absolute(out)
                .unwrap_or_else(|_| out.to_path_buf())
                .display()
                .to_string(),
        ),
    ];
    if let Some(run) = &run {
        pairs.push(("p95".to_string(), p95(run).to_string()));
    }
    if let Err(e) = runner::write_outputs(&pairs) {
        eprintln!("warning: GITHUB_OUTPUT: {e}");
    }
    if let Some(summary) = fresh("summary.md").and_then(|p| std::fs::read_to_string(p).ok())
        && let Err(e) = runner::write_step_summary(&summary)
    {
        eprintln!("warning: GITHUB_STEP_SUMMARY: {e}");
    }
    if let Some(v) = run.as_ref().and_then(|r| r.verdict.as_ref()) {
        for reason in &v.reasons {
            let level = if reason.exit_code == 0 {
                Level::Warning
            } else {
                Level::Error
            };
            let title = format!("loadcheck: {}", reason.name);
            runner::annotate(level, Some(&title), None, &reason.detail);
        }
    }
}

/// `pass`, `fail` or `error`: the run's verdict, or `error` when the
/// command ended before one (bad input, an operational failure).
fn verdict_word(run: Option<&RunResult>, code: Exit) -> &'static str {
    match (code, run.and_then(|r| r.verdict.as_ref()).map(|v| v.result)) {
        (Exit::BadInput | Exit::Operational, _) => "error",
        (_, Some(VerdictResult::Pass)) => "pass",
        (_, Some(VerdictResult::Fail)) => "fail",
        (Exit::Pass, None) => "pass",
        (Exit::Fail, None) => "fail",
        (_, Some(VerdictResult::Error)) => "error",
    }
}

/// Each endpoint's p95 in milliseconds, as a JSON object.
fn p95(run: &RunResult) -> serde_json::Value {
    let map: serde_json::Map<String, serde_json::Value> = run
        .stats
        .endpoints
        .iter()
        .filter_map(|(name, s)| {
            let p95 = s.latency_ms.as_ref()?.p95;
            Some((name.clone(), serde_json::json!((p95 * 1000.0).round() / 1000.0)))
        })
        .collect();
    serde_json::Value::Object(map)
}
