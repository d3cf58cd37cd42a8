//! `loadcheck verdict`: judges a run again from its `run.json` alone —
//! every threshold and requirement of the plan recorded in it (or of
//! another plan's), on the atoms the file keeps — and exits with the
//! verdict's code. A run whose process was killed (its run.json still says
//! `running`, and no `loadcheck run` holds its folder) is read back from
//! its files first (`metrics::recover`): `killed`, exit 3.

use std::path::Path;

use anyhow::{Context, Result, anyhow};

use crate::cli::VerdictArgs;
use crate::exit::Exit;
use crate::metrics::RunResult;
use crate::metrics::hlog::FILE_NAME;
use crate::metrics::judge::{judge, mark_not_in_file};
use crate::metrics::readback::Decoded;
use crate::metrics::recover::recover;
use crate::metrics::result::RunStart;
use crate::plan::record::PlanRecord;
use crate::report::summary;

/// Re-judges the run; without `--plan`, writes the verdict, thresholds and
/// requirements back into its file (a killed run's file, whole: it then
/// says `killed`).
pub fn verdict(args: &VerdictArgs) -> Exit {
    let path = super::run_json(&args.run);
    match rejudge(&path, args.plan.as_deref()) {
        Ok(None) => {
            eprintln!("{}: {LIVE}; nothing to judge yet", path.display());
            Exit::Operational
        }
        Ok(Some(result)) => {
            print!("{}", summary::verdict_lines(&result));
            if let Some(r) = &result.recovered {
                eprintln!("{}: the run was killed: {r}", path.display());
            }
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

/// What a `running` file whose folder a live `loadcheck run` holds is.
pub(crate) const LIVE: &str =
    "the run is still going (run.json says \"running\", and the `loadcheck run` writing it holds its folder)";

/// The run judged again; `None` while it is still going.
fn rejudge(path: &Path, plan: Option<&Path>) -> Result<Option<Box<RunResult>>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read the run", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
    match unfinished(path, &value, plan)? {
        Some(Unfinished::Live) => return Ok(None),
        Some(Unfinished::Killed(result)) => return Ok(Some(result)),
        None => {}
    }
    let mut result: RunResult =
        serde_json::from_value(value).with_context(|| format!("{}: not a loadcheck run.json", path.display()))?;
    judge_file(path, &mut result, plan)?;
    Ok(Some(Box::new(result)))
}

/// A `running` run.json, as `verdict` and `report` take it.
pub(crate) enum Unfinished {
    /// A `loadcheck run` still holds its folder: the run is going.
    Live,
    /// Its process was killed: the run read back from the files it left,
    /// `killed`, and judged.
    Killed(Box<RunResult>),
}

/// `value`, read from `path`, when it is a `running` run.json (`None`
/// otherwise): still going, or killed and read back from its files (the
/// run.json and the `timeline.hlog` beside it), then judged with its plan's
/// checks or `plan`'s.
pub(crate) fn unfinished(path: &Path, value: &serde_json::Value, plan: Option<&Path>) -> Result<Option<Unfinished>> {
    if value.get("status").and_then(|s| s.as_str()) != Some("running") {
        return Ok(None);
    }
    if super::folder_held(path) {
        return Ok(Some(Unfinished::Live));
    }
    let start: RunStart = serde_json::from_value(value.clone())
        .with_context(|| format!("{}: says \"running\", but is not a loadcheck run.json", path.display()))?;
    let record = PlanRecord::from_json(path, &start.plan).map_err(|e| anyhow!("{e}"))?;
    let log_path = path.with_file_name(FILE_NAME);
    let log = match std::fs::read(&log_path) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(anyhow!("{}: {e}", log_path.display())),
    };
    let mut result =
        recover(start, &record.roster(), log.as_deref()).map_err(|e| anyhow!("{}: {e}", log_path.display()))?;
    judge_file(path, &mut result, plan)?;
    Ok(Some(Unfinished::Killed(Box::new(result))))
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
    mark_not_in_file(&checks, &mut thresholds, &mut requirements, &|s| decoded.holds(s));
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
