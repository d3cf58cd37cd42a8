//! `loadcheck compare BASELINE RUN`: a run against a store or another
//! run, written to `comparison.json`; exit 1 on a regression, 2 on a bad
//! file.

use std::path::Path;

use crate::cli::CompareArgs;
use crate::compare::{self, ComparisonFile, RunData, Source, store};
use crate::exit::Exit;
use crate::report::summary;

/// Compares and writes `comparison.json`.
pub fn compare(args: &CompareArgs) -> Exit {
    match compare_files(&args.baseline, &args.run) {
        Ok(file) => {
            let out = &args.out;
            if let Err(e) = write(out, &file) {
                eprintln!("error: {e}");
                return Exit::Operational;
            }
            print!("{}", summary::comparison_lines(&file));
            let regressions = file.gating_regressions().count();
            println!(
                "\n  {}: {}",
                out.join(compare::FILE_NAME).display(),
                if regressions > 0 {
                    format!("{regressions} regression(s)")
                } else {
                    "no regression".into()
                }
            );
            if regressions > 0 { Exit::Fail } else { Exit::Pass }
        }
        Err(e) => {
            eprintln!("error: {e}");
            Exit::BadInput
        }
    }
}

/// Reads both sides and compares them.
fn compare_files(baseline: &Path, run_path: &Path) -> Result<ComparisonFile, String> {
    let run = RunData::load(run_path)?;
    let settings = run.settings.clone();
    let comparison = if is_store(baseline)? {
        let st = store::load(baseline)?;
        if st.id != run.id {
            return Err(format!(
                "{}: the store belongs to plan \"{}\", the run to plan \"{}\"",
                baseline.display(),
                st.id,
                run.id
            ));
        }
        compare::against_store(&st, baseline, &run, &settings)
    } else {
        let base = RunData::load(baseline)?;
        compare::runs(Source::Run, &base, &run, &settings)
    };
    Ok(compare::file(&run, vec![comparison]))
}

/// Whether a baseline path is a store rather than a run: a folder, or a
/// file whose `schema` is a run's, is a run; anything else is read as a
/// store (so a damaged one gets the store's errors).
fn is_store(path: &Path) -> Result<bool, String> {
    if path.is_dir() {
        return Ok(false);
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let schema = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("schema").and_then(|s| s.as_str()).map(str::to_string));
    Ok(schema.as_deref() != Some(crate::metrics::result::SCHEMA))
}

/// Writes `DIR/comparison.json` atomically.
pub fn write(dir: &Path, file: &ComparisonFile) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut text = serde_json::to_string_pretty(file).map_err(|e| e.to_string())?;
    text.push('\n');
    let path = dir.join(compare::FILE_NAME);
    crate::atomic::replace(&path, text.as_bytes()).map_err(|e| e.to_string())
}
