//! Comparing a run with a baseline: its own head (head vs tail), a duet
//! peer measured at the same time, a store's history, or another run.
//!
//! `units` reduces a run to per-second units per endpoint × phase; `pair`
//! bootstraps two runs' units against each other; `history` puts a run in
//! a prediction interval of a store's runs since their last change point;
//! `decide` turns every series' change and spread into an interval, a
//! Holm-adjusted p-value, a minimum detectable effect and a class; `store`
//! reads and writes `baselines/<id>.json`. `docs/baselines.md` explains
//! the method in plain words.

pub mod decide;
pub mod git_store;
pub mod history;
pub mod pair;
pub mod settings;
pub mod stats;
pub mod store;
#[cfg(test)]
mod testing;
pub mod types;
pub mod units;

use std::path::Path;

pub use settings::Settings;
pub use types::{Class, Comparison, ComparisonFile, Metric, RunRef, SCHEMA, Series, Source};
pub use units::RunData;

use self::decide::{Rules, Test, Untested};
use self::types::{BaselineRef, Counts, Method};
use crate::plan::baseline::HeadVsTail;

/// The file's name in the output folder.
pub const FILE_NAME: &str = "comparison.json";

fn method(name: &str, s: &Settings, resamples: usize, warmup_s: Option<f64>) -> Method {
    let r = Rules::default();
    Method {
        name: name.to_string(),
        confidence: r.confidence,
        alpha: r.alpha,
        resamples,
        min_effect: s.min_effect,
        warmup_s,
    }
}

fn finish(
    source: Source,
    gating: bool,
    baseline: BaselineRef,
    method: Method,
    (tests, untested): (Vec<Test>, Vec<Untested>),
    notes: Vec<String>,
) -> Comparison {
    let rules = Rules {
        min_effect: method.min_effect,
        ..Rules::default()
    };
    let series = decide::finish(tests, untested, rules);
    Comparison {
        source,
        gating,
        baseline,
        method,
        counts: Counts::of(&series),
        series,
        notes,
    }
}

/// The tail against the head of one rollout run; `None` when the plan
/// turns it off or the run has no head and tail.
pub fn head_vs_tail(run: &RunData, s: &Settings) -> Option<Comparison> {
    if s.head_vs_tail == HeadVsTail::Off {
        return None;
    }
    if !run.cells.iter().any(|c| c.phase == "head") || !run.cells.iter().any(|c| c.phase == "tail") {
        return None;
    }
    let found = pair::compare(run, run, &[("head", "tail")], s.min_effect, &s.floors);
    let warmup = run.warmup.map(|w| w.as_secs_f64());
    Some(finish(
        Source::HeadVsTail,
        s.head_vs_tail == HeadVsTail::Fail,
        BaselineRef {
            description: "the head of this run (the version before the rollout)".into(),
            path: None,
            runs: 1,
            left_out: Vec::new(),
        },
        method("block_bootstrap", s, pair::RESAMPLES, warmup),
        found,
        Vec::new(),
    ))
}

/// Two runs, phase by phase (`Duet` for a peer measured at the same time,
/// `Run` for another run.json). Regressions gate.
pub fn runs(source: Source, base: &RunData, run: &RunData, s: &Settings) -> Comparison {
    let mut phases: Vec<&str> = run.cells.iter().map(|c| c.phase.as_str()).collect();
    phases.extend(base.cells.iter().map(|c| c.phase.as_str()));
    phases.sort_by_key(|p| match *p {
        "run" => 0,
        "head" => 1,
        "rollout" => 2,
        "tail" => 3,
        _ => 4,
    });
    phases.dedup();
    let pairs: Vec<(&str, &str)> = phases.iter().map(|p| (*p, *p)).collect();
    let found = pair::compare(base, run, &pairs, s.min_effect, &s.floors);
    let mut notes = Vec::new();
    if let Err(why) = store::same_testbed(&base.testbed, &run.testbed) {
        notes.push(format!(
            "the baseline ran on {why}: the difference may be the machine's"
        ));
    }
    finish(
        source,
        true,
        BaselineRef {
            description: match source {
                Source::Duet => "the baseline target, sent the same requests at the same time".into(),
                _ => format!("the run of {}", base.started_at),
            },
            path: base.path.as_ref().map(|p| p.display().to_string()),
            runs: 1,
            left_out: Vec::new(),
        },
        method("block_bootstrap", s, pair::RESAMPLES, None),
        found,
        notes,
    )
}

/// A run against a store. Regressions gate.
pub fn against_store(st: &store::Store, path: &Path, run: &RunData, s: &Settings) -> Comparison {
    let (tests, untested, found) = history::compare(st, run, s.min_effect, &s.floors);
    let pi = tests.iter().any(|t| matches!(t.spread, decide::Spread::T { .. }));
    finish(
        Source::History,
        true,
        BaselineRef {
            description: format!("{} run(s) of {}", found.used, path.display()),
            path: Some(path.display().to_string()),
            runs: found.used,
            left_out: found.left_out,
        },
        method(
            if pi { "prediction_interval" } else { "block_bootstrap" },
            s,
            if pi { 0 } else { pair::RESAMPLES },
            None,
        ),
        (tests, untested),
        found.notes,
    )
}

/// The file for a run and its comparisons.
pub fn file(run: &RunData, comparisons: Vec<Comparison>) -> ComparisonFile {
    ComparisonFile {
        schema: SCHEMA.to_string(),
        run: RunRef {
            id: run.id.clone(),
            started_at: run.started_at.clone(),
            path: run.path.as_ref().map(|p| p.display().to_string()),
        },
        comparisons,
    }
}

/// Reads a `comparison.json`.
pub fn read_file(path: &Path) -> Result<ComparisonFile, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let f: ComparisonFile = serde_json::from_str(&text)
        .map_err(|e| format!("{}: line {} column {}: {e}", path.display(), e.line(), e.column()))?;
    if f.schema != SCHEMA {
        return Err(format!(
            "{}: field `schema`: \"{}\" is not {SCHEMA}",
            path.display(),
            f.schema
        ));
    }
    Ok(f)
}
