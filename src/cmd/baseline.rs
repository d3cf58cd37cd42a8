//! `loadcheck baseline update DIR`: appends a finished, passing run to
//! the plan's store, atomically, trimmed to its history.

use std::path::{Path, PathBuf};

use crate::cli::{BaselineArgs, BaselineCommand, BaselineUpdateArgs};
use crate::compare::RunData;
use crate::compare::git_store::{GitStore, WriteError};
use crate::compare::store::{self, StoredRun};
use crate::exit::Exit;

use super::failure::Failure;
use crate::metrics::RunResult;
use crate::metrics::result::{RunStatus, VerdictResult};
use crate::plan::baseline::{DEFAULT_HISTORY, MAX_HISTORY};

/// Dispatches `baseline …`.
pub fn baseline(args: &BaselineArgs) -> Exit {
    match &args.command {
        BaselineCommand::Update(u) => match update(u) {
            Ok(msg) => {
                println!("{msg}");
                Exit::Pass
            }
            Err(failure) => failure.exit(),
        },
    }
}

fn update(args: &BaselineUpdateArgs) -> Result<String, Failure> {
    let file = if args.run.is_dir() {
        args.run.join("run.json")
    } else {
        args.run.clone()
    };
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let result: RunResult = serde_json::from_str(&text)
        .map_err(|e| format!("{}: line {} column {}: {e}", file.display(), e.line(), e.column()))?;
    let verdict = result.verdict.as_ref().map(|v| v.result);
    let accepted = result.status == RunStatus::Completed && verdict == Some(VerdictResult::Pass);
    if !accepted && !args.force {
        let why = match (result.status, verdict) {
            (RunStatus::Running | RunStatus::Killed, _) => "did not finish (its process was killed)".to_string(),
            (RunStatus::Aborted, _) => "was aborted".to_string(),
            (_, Some(VerdictResult::Fail)) => "failed its verdict".to_string(),
            (_, Some(VerdictResult::Error)) => "ended in an error".to_string(),
            _ => "has no verdict".to_string(),
        };
        return Err(Failure::Input(format!(
            "{}: the run {why}; a baseline keeps only good runs (pass --force to add it anyway)",
            file.display()
        )));
    }
    let plan_baseline = result.plan.get("baseline");
    let history = match args.history {
        Some(h) if !(1..=MAX_HISTORY).contains(&h) => {
            return Err(Failure::Input(format!(
                "--history {h} must be between 1 and {MAX_HISTORY}"
            )));
        }
        Some(h) => h,
        None => plan_baseline
            .and_then(|b| b.get("history"))
            .and_then(serde_json::Value::as_u64)
            .map_or(DEFAULT_HISTORY, |h| h as usize),
    };
    let dir = file.parent().unwrap_or(Path::new("."));
    let mut data = RunData::of(&result, dir).map_err(|e| format!("{}: {e}", file.display()))?;
    data.digest = Some(crate::compare::units::digest_of(text.as_bytes()));
    let verdict_name = match verdict {
        Some(VerdictResult::Pass) => "pass",
        Some(VerdictResult::Fail) => "fail",
        Some(VerdictResult::Error) => "error",
        None => "none",
    };
    let sha = result.metadata.git.as_ref().map(|g| g.sha.clone());
    let stored = StoredRun::of(&data, verdict_name, sha);
    let spec = args.store.as_ref().map(|p| p.to_string_lossy().into_owned());
    if let Some(git) = spec
        .as_deref()
        .and_then(|s| GitStore::parse(s, &default_store(&result), Path::new(".")))
    {
        return update_git(&git?, &result, history, stored);
    }
    let path = args.store.clone().unwrap_or_else(|| default_store(&result));
    // A damaged store is reported and left exactly as it is.
    let existing = if path.exists() { Some(store::load(&path)?) } else { None };
    let updated =
        store::append(existing, &result.id, history, stored).map_err(|e| format!("{}: {e}", path.display()))?;
    store::save(&path, &updated)?;
    Ok(format!(
        "{}: {} run(s) of plan \"{}\" (keeps {history})",
        path.display(),
        updated.runs.len(),
        updated.id
    ))
}

/// The same into a git branch: read the store from the branch's tip,
/// append, commit on top, push; when another job pushed first, read again
/// and retry (three times in all).
fn update_git(git: &GitStore, result: &RunResult, history: usize, stored: StoredRun) -> Result<String, Failure> {
    let name = format!("git:{}:{}", git.branch, git.path);
    let mut last = String::new();
    for _ in 0..3 {
        let tip = git.tip().map_err(Failure::Operational)?;
        let existing = match git.read_at(tip.as_deref()).map_err(Failure::Operational)? {
            Some(text) => Some(store::parse(Path::new(&name), &text)?),
            None => None,
        };
        let updated =
            store::append(existing, &result.id, history, stored.clone()).map_err(|e| format!("{name}: {e}"))?;
        let text = store::to_text(&updated)?;
        let message = format!("loadcheck: baseline of {} += run of {}", result.id, result.started_at);
        match git.write(tip.as_deref(), &text, &message) {
            Ok(commit) => {
                return Ok(format!(
                    "{name}: {} run(s) of plan \"{}\" (keeps {history}), commit {}",
                    updated.runs.len(),
                    updated.id,
                    &commit[..commit.len().min(12)]
                ));
            }
            Err(WriteError::Raced(e)) => {
                eprintln!("{name}: another job pushed first; reading the branch again");
                last = e;
            }
            Err(WriteError::Failed(e)) => return Err(Failure::Operational(e)),
        }
    }
    Err(Failure::Operational(format!(
        "{name}: the branch kept moving (three pushes refused): {last}"
    )))
}

/// The plan's `[baseline] path` as recorded, else `baselines/<id>.json`.
fn default_store(result: &RunResult) -> PathBuf {
    result
        .plan
        .pointer("/baseline/path")
        .and_then(|p| p.as_str())
        .map_or_else(
            || PathBuf::from("baselines").join(format!("{}.json", result.id)),
            PathBuf::from,
        )
}
