//! `loadcheck verdict`: judges a run again from its `run.json` alone —
//! every threshold and requirement of the plan recorded in it (or of
//! another plan's), on the atoms the file keeps — and exits with the
//! verdict's code.

use std::path::Path;

use anyhow::{Context, Result, anyhow};

use crate::cli::VerdictArgs;
use crate::exit::Exit;
use crate::metrics::RunResult;
use crate::metrics::judge::{judge, mark_not_in_file};
use crate::metrics::readback::Decoded;
use crate::metrics::result::RunStatus;
use crate::plan::record::PlanRecord;
use crate::report::summary;

/// Re-judges the run; without `--plan`, writes the verdict, thresholds and
/// requirements back into its file.
pub fn verdict(args: &VerdictArgs) -> Exit {
    let path = super::run_json(&args.run);
    match rejudge(&path, args.plan.as_deref()) {
        Ok(Judged::Killed) => {
            eprintln!(
                "{}: the run did not finish (status \"running\": its process was killed); nothing to judge",
                path.display()
            );
            Exit::Operational
        }
        Ok(Judged::Done(result)) => {
            print!("{}", summary::verdict_lines(&result));
            if args.plan.is_none()
                && let Err(e) = write_back(&path, &result)
            {
                eprintln!("error: {e:#}");
                return Exit::Operational;
            }
            result
                .verdict
                .as_ref()
                .map_or(Exit::Operational, |v| Exit::from_code(v.exit_code))
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            Exit::BadInput
        }
    }
}

/// What re-judging found.
enum Judged {
    /// The file still says `running`.
    Killed,
    /// The run, judged again.
    Done(Box<RunResult>),
}

fn rejudge(path: &Path, plan: Option<&Path>) -> Result<Judged> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read the run", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
    if value.get("status").and_then(|s| s.as_str()) == Some("running") {
        return Ok(Judged::Killed);
    }
    let mut result: RunResult =
        serde_json::from_value(value).with_context(|| format!("{}: not a loadcheck run.json", path.display()))?;
    if result.status == RunStatus::Running {
        return Ok(Judged::Killed);
    }
    judge_file(path, &mut result, plan)?;
    Ok(Judged::Done(Box::new(result)))
}

/// Replaces the file atomically with the judged run.
fn write_back(path: &Path, result: &RunResult) -> Result<()> {
    let text = serde_json::to_string_pretty(result).context("serializing run.json")?;
    super::replace_file(path, &text)
}

/// Judges `result` (read from, or to be written to, `path`) with its
/// recorded plan's thresholds and requirements, or with `plan`'s, on what
/// the file holds, and sets its verdict (with the comparisons beside it):
/// what `verdict` and `merge` share.
pub(crate) fn judge_file(path: &Path, result: &mut RunResult, plan: Option<&Path>) -> Result<()> {
    let record = PlanRecord::from_json(path, &result.plan).map_err(|e| anyhow!("{e}"))?;
    let roster = record.roster();
    let checks = match plan {
        Some(p) => crate::plan::load_checks(p, &record.names()).map_err(|e| anyhow!("{e}"))?,
        None => record.checks(path).map_err(|e| anyhow!("{e}"))?,
    };
    let decoded = Decoded::of(result, &roster).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let (mut thresholds, mut requirements) = judge(
        &checks.thresholds,
        &checks.requirements,
        &decoded.view(result, &roster),
        &result.stats,
    );
    mark_not_in_file(&checks, &mut thresholds, &mut requirements, &|m| decoded.holds(m));
    if plan.is_none() {
        // An imported run's own thresholds are in its tool's grammar and
        // were judged by its rules: they stand. `--plan` judges with
        // loadcheck's instead.
        let imported = result.thresholds.iter().filter(|t| t.tool.is_some()).cloned();
        thresholds.splice(0..0, imported);
    }
    result.thresholds = thresholds;
    result.requirements = requirements;
    // The comparisons beside the run count as they did when it ran.
    let beside = path.with_file_name(crate::compare::FILE_NAME);
    let comparison = if beside.exists() {
        Some(crate::compare::read_file(&beside).map_err(|e| anyhow!("{e}"))?)
    } else {
        None
    };
    result.verdict = Some(crate::verdict::decide_with(result, comparison.as_ref()));
    Ok(())
}
