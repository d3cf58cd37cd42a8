//! `loadcheck merge SHARD_DIR… --out DIR`: the shards of a distributed run
//! (`run --shard i/N`) added up into one `run.json` and `timeline.hlog`,
//! judged again with the plan's thresholds and requirements by the same
//! evaluator as `loadcheck verdict`, exiting with the verdict's code.
//!
//! Refused, exit 2, naming the files: shards of different plans (by
//! fingerprint) or of different splits, the same shard twice, a missing
//! shard (unless `--allow-partial`), a shard that did not finish, a folder
//! that is not a shard, and a shard without its per-second histograms.

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use super::failure::Failure;
use crate::cli::MergeArgs;
use crate::exit::Exit;
use crate::metrics::RunResult;
use crate::metrics::hlog::{FILE_NAME, IntervalLog};
use crate::metrics::hlog_read;
use crate::metrics::merge::{ShardInput, merge as merge_shards, start_ms};
use crate::metrics::result::RunStatus;
use crate::plan::record::PlanRecord;
use crate::redact::Redactor;

/// Runs `loadcheck merge`.
pub fn merge(args: &MergeArgs) -> Exit {
    match merge_dirs(args) {
        Ok(result) => {
            print!("{}", crate::report::summary::verdict_lines(&result));
            result
                .verdict
                .as_ref()
                .map_or(Exit::Operational, |v| Exit::from_code(v.exit_code))
        }
        Err(f) => f.exit(),
    }
}

/// A shard as read: where from, its result, its log.
struct Read {
    path: PathBuf,
    input: ShardInput,
}

fn read_shard(dir: &Path) -> Result<Read, Failure> {
    let path = super::run_json(dir);
    let result = super::report::read_run(&path).map_err(|e| {
        // A file that is still the one written at the start does not read
        // as a finished run: say what it is.
        let running = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_some_and(|v| v["status"] == "running");
        Failure::Input(if running { unfinished(&path, "running") } else { e })
    })?;
    if matches!(result.status, RunStatus::Running | RunStatus::Killed) {
        return Err(Failure::Input(unfinished(&path, "killed")));
    }
    if let Some(i) = &result.imported {
        return Err(Failure::Input(format!(
            "{}: a {} import, not a shard of `loadcheck run --shard`; only shards merge",
            path.display(),
            i.tool
        )));
    }
    if result.metadata.shard.is_none() {
        return Err(Failure::Input(format!(
            "{}: not a shard (no metadata.shard): run each part with `loadcheck run --shard i/N`",
            path.display()
        )));
    }
    let Some(log_name) = &result.timeline.interval_log else {
        return Err(Failure::Input(format!(
            "{}: no per-second histograms (timeline.interval_log), so its seconds cannot be merged exactly",
            path.display()
        )));
    };
    let log_path = path.with_file_name(log_name);
    let bytes = std::fs::read(&log_path).map_err(|e| Failure::Input(format!("{}: {e}", log_path.display())))?;
    let (log, _) = hlog_read::read(&bytes).map_err(|e| Failure::Input(format!("{}: {e}", log_path.display())))?;
    Ok(Read {
        path,
        input: ShardInput { result, log },
    })
}

/// Why a shard whose run.json says `status` (`running`, `killed`) is refused.
fn unfinished(path: &Path, status: &str) -> String {
    format!(
        "{}: the shard did not finish (status \"{status}\": its process was killed); merge what finished with \
         --allow-partial, leaving this folder out",
        path.display()
    )
}

fn merge_dirs(args: &MergeArgs) -> Result<RunResult, Failure> {
    let mut shards = Vec::new();
    for dir in &args.shards {
        shards.push(read_shard(dir)?);
    }
    let shard_of = |r: &Read| r.input.result.metadata.shard.clone().expect("checked in read_shard");
    let Some(first) = shards.first() else {
        return Err(Failure::Input("no shard folder given".into()));
    };
    let (fingerprint, count) = (first.input.result.plan_fingerprint.clone(), shard_of(first).count);
    let first_path = first.path.clone();
    for s in &shards[1..] {
        if s.input.result.plan_fingerprint != fingerprint {
            return Err(Failure::Input(format!(
                "{} and {}: shards of different plans (fingerprints {} and {}); merge only the shards of one run",
                first_path.display(),
                s.path.display(),
                fingerprint,
                s.input.result.plan_fingerprint
            )));
        }
        if shard_of(s).count != count {
            return Err(Failure::Input(format!(
                "{} and {}: split into {} and into {} shards",
                first_path.display(),
                s.path.display(),
                count,
                shard_of(s).count
            )));
        }
    }
    shards.sort_by_key(|s| shard_of(s).index);
    for pair in shards.windows(2) {
        if shard_of(&pair[0]).index == shard_of(&pair[1]).index {
            return Err(Failure::Input(format!(
                "{} and {}: shard {}/{count} twice",
                pair[0].path.display(),
                pair[1].path.display(),
                shard_of(&pair[0]).index
            )));
        }
    }
    let missing: Vec<String> = (1..=count)
        .filter(|i| !shards.iter().any(|s| shard_of(s).index == *i))
        .map(|i| i.to_string())
        .collect();
    if !missing.is_empty() && !args.allow_partial {
        return Err(Failure::Input(format!(
            "missing shard(s) {} of {count}; --allow-partial merges the shards given (the merged run then says \
             it is partial)",
            missing.join(", ")
        )));
    }
    let record = PlanRecord::from_json(&shards[0].path, &shard_of(&shards[0]).plan)
        .map_err(|e| Failure::Input(e.to_string()))?;
    let roster = record.roster();
    std::fs::create_dir_all(&args.out)
        .map_err(|e| Failure::Operational(format!("creating {}: {e}", args.out.display())))?;
    let inputs: Vec<ShardInput> = shards.into_iter().map(|s| s.input).collect();
    // Written beside, renamed once the merge has succeeded: a refused merge
    // leaves an existing folder as it was.
    let log_path = args.out.join(format!("{FILE_NAME}.partial"));
    let started_at = UNIX_EPOCH + Duration::from_millis(start_ms(&inputs).max(0) as u64);
    let scenarios: Vec<&str> = roster.scenarios.iter().map(|s| s.name.as_str()).collect();
    let endpoints: Vec<&str> = roster.endpoints.iter().map(String::as_str).collect();
    let mut log = IntervalLog::create(&log_path, started_at, &scenarios, &endpoints)
        .map_err(|e| Failure::Operational(format!("{}: {e}", log_path.display())))?;
    let mut write_failed = None;
    let merged = merge_shards(inputs, &roster, count, &mut |second, cells| {
        log.write_second(second, cells)
            .inspect_err(|e| write_failed = Some(format!("{}: {e}", log_path.display())))
    });
    drop(log);
    let merged = match (write_failed, merged) {
        (Some(e), _) => Err(Failure::Operational(e)),
        (None, Err(e)) => Err(Failure::Input(e)),
        (None, Ok(r)) => std::fs::rename(&log_path, args.out.join(FILE_NAME))
            .map(|()| r)
            .map_err(|e| Failure::Operational(format!("{}: {e}", log_path.display()))),
    };
    let mut result = merged.inspect_err(|_| {
        let _ = std::fs::remove_file(&log_path);
    })?;
    result.timeline.interval_log = Some(FILE_NAME.to_string());
    let out_file = args.out.join("run.json");
    super::verdict::judge_file(&out_file, &mut result, None).map_err(|e| Failure::Input(format!("{e:#}")))?;
    crate::cmd::run::write_run_json(&args.out, &result, &Redactor::new(Vec::new()))
        .map_err(|e| Failure::Operational(format!("{e:#}")))?;
    Ok(result)
}
