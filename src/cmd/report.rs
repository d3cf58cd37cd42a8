//! `loadcheck report RUN… --out DIR`: renders every report format from a
//! run's files (its run.json, and the comparison.json beside it or given),
//! and exits with the verdict those files reach. Several runs make a
//! scaling report.

use std::path::{Path, PathBuf};

use crate::cli::ReportArgs;
use crate::compare;
use crate::exit::Exit;
use crate::metrics::RunResult;
use crate::report::{self, Input};

use super::failure::Failure;
use super::verdict::Unfinished;

/// Renders the reports.
pub fn report(args: &ReportArgs) -> Exit {
    render(args).unwrap_or_else(Failure::exit)
}

fn render(args: &ReportArgs) -> Result<Exit, Failure> {
    if args.runs.len() > 1 {
        return scaling(args);
    }
    let path = super::run_json(&args.runs[0]);
    let mut run = load(&path)?;
    let comparison = match &args.comparison {
        Some(p) => Some(compare::read_file(p).map_err(Failure::Input)?),
        None => beside(&path, compare::FILE_NAME)
            .map(|p| compare::read_file(&p))
            .transpose()
            .map_err(Failure::Input)?,
    };
    // A duet's baseline side, laid over the run's charts.
    let baseline = match beside(&path, "baseline")
        .map(|d| d.join("run.json"))
        .filter(|p| p.is_file())
    {
        Some(p) => Some(read_run(&p).map_err(Failure::Input)?),
        None => None,
    };
    // The verdict these files reach, the same as `verdict` would.
    run.verdict = Some(crate::verdict::decide_with(&run, comparison.as_ref()));
    let input = Input {
        run: &run,
        comparison: comparison.as_ref(),
        baseline: baseline.as_ref(),
    };
    let files = report::render_all(&input, args.templates.as_deref()).map_err(Failure::Input)?;
    report::write_all(&args.out, &files).map_err(|e| Failure::Operational(format!("{e:#}")))?;
    print!("{}", crate::report::summary::render_with(&run, comparison.as_ref()));
    eprintln!("wrote {} report files to {}", files.len(), args.out.display());
    Ok(run
        .verdict
        .as_ref()
        .map_or(Exit::Operational, |v| Exit::from_code(v.exit_code)))
}

fn scaling(args: &ReportArgs) -> Result<Exit, Failure> {
    if !args.label.is_empty() && args.label.len() != args.runs.len() {
        return Err(Failure::Input(format!(
            "--label: {} labels for {} runs; give one per run, in the same order",
            args.label.len(),
            args.runs.len()
        )));
    }
    let mut runs = Vec::with_capacity(args.runs.len());
    for (i, r) in args.runs.iter().enumerate() {
        let path = super::run_json(r);
        let mut run = load(&path)?;
        run.verdict = Some(crate::verdict::decide(&run));
        let label = args.label.get(i).cloned().unwrap_or_else(|| folder_name(&path, i));
        runs.push((label, run));
    }
    let files = report::scaling::render(&runs).map_err(Failure::Input)?;
    report::write_all(&args.out, &files).map_err(|e| Failure::Operational(format!("{e:#}")))?;
    if let Some(table) = files.iter().find(|f| f.file == "scaling.md") {
        print!("{}", table.text);
    }
    eprintln!("wrote {} report files to {}", files.len(), args.out.display());
    // The worst verdict of the runs, in DESIGN.md's order.
    Ok(runs
        .iter()
        .map(|(_, r)| {
            r.verdict
                .as_ref()
                .map_or(Exit::Operational, |v| Exit::from_code(v.exit_code))
        })
        .fold(Exit::Pass, Exit::combine))
}

/// A file beside `run.json`, when it exists.
fn beside(run_json: &Path, name: &str) -> Option<PathBuf> {
    Some(run_json.with_file_name(name)).filter(|p| p.exists())
}

/// The run's folder name, for a label.
fn folder_name(run_json: &Path, i: usize) -> String {
    run_json
        .parent()
        .and_then(|p| p.file_name())
        .map_or_else(|| format!("run {}", i + 1), |n| n.to_string_lossy().into_owned())
}

/// The run to render from `path`: as its file holds it, or, when the file
/// still says `running` and no `loadcheck run` holds its folder, read back
/// from the files its killed process left (`killed`).
fn load(path: &Path) -> Result<RunResult, Failure> {
    let value = std::fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok());
    let unfinished = match &value {
        Some(v) => super::verdict::unfinished(path, v, None).map_err(|e| Failure::Input(format!("{e:#}")))?,
        None => None,
    };
    match unfinished {
        Some(Unfinished::Live) => Err(Failure::Operational(format!(
            "{}: {}; render it once it has ended",
            path.display(),
            super::verdict::LIVE
        ))),
        Some(Unfinished::Killed(run)) => Ok(*run),
        None => read_run(path).map_err(Failure::Input),
    }
}

/// Reads a run.json, naming the file, line and column of what is wrong.
pub fn read_run(path: &Path) -> Result<RunResult, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read the run: {e}", path.display()))?;
    let run: RunResult = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}: line {} column {}: not a loadcheck run.json: {e}",
            path.display(),
            e.line(),
            e.column()
        )
    })?;
    if run.schema != crate::metrics::result::SCHEMA {
        return Err(format!(
            "{}: field `schema`: \"{}\" is not {}",
            path.display(),
            run.schema,
            crate::metrics::result::SCHEMA
        ));
    }
    Ok(run)
}
