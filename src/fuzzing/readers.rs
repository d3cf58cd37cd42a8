//! Entry points of the fuzz targets that read files and requests from
//! outside (`fuzz/fuzz_targets/{plan,template,run_json,comparison,
//! baseline,sink}.rs`): what those targets need that the crate keeps to
//! itself (the reader `loadcheck verdict` and `report` share, the sink's
//! HTTP server) or that takes types the fuzz crate does not depend on
//! (JSON values, header maps, random number generators).
//!
//! A function that checks an invariant returns `Err` naming what does not
//! hold; the target panics with it, so libFuzzer keeps the input.

pub mod sink;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rand::SeedableRng as _;
use rand::rngs::SmallRng;

use crate::compare::store::Store;
use crate::compare::units::{BINS, Cell, Unit, bin_of};
use crate::compare::{Comparison, ComparisonFile, RunData, Settings};
use crate::metrics::RunResult;
use crate::metrics::result::{RunStatus, Testbed, VerdictResult};
use crate::plan::record::PlanRecord;
use crate::plan::template::{Escape, RenderCtx};
use crate::plan::{Plan, Template, Var};

/// This process's own folder in the temporary directory, for the readers
/// that take a path. libFuzzer's `-fork` and `-jobs` run several
/// processes; each has its own.
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("loadcheck-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch folder in the temporary directory");
        dir
    })
}

/// Writes `bytes` to `name` (a path relative to [`scratch`], whose folders
/// are made) and returns its path.
pub fn on_disk(name: &str, bytes: &[u8]) -> PathBuf {
    let path = scratch().join(name);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("a scratch folder");
    }
    std::fs::write(&path, bytes).expect("writing a scratch file");
    path
}

// ---------------------------------------------------------------- plan

/// The path plan text is read as: `loadcheck.toml` in a folder of its own
/// that holds the files the seeds name (`words.txt`, `order.json`,
/// `payloads/order.json`, `payloads/order.tmpl`), so `file = …` reads
/// something and nothing else.
pub fn plan_path() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        on_disk("plan/words.txt", b"cat\ndog\n  bird  \n\n");
        on_disk("plan/order.json", br#"{"sku":"A-1","qty":2}"#);
        on_disk("plan/payloads/order.json", br#"{"sku":"A-1","qty":2}"#);
        on_disk(
            "plan/payloads/order.tmpl",
            br#"{"id":"{{uuid}}","vu":{{vu}},"word":"{{word}}"}"#,
        );
        scratch().join("plan/loadcheck.toml")
    })
}

/// Whether plan text names a file outside its own folder: an absolute path
/// or one through `..` in a `file` or `template_file` key. Validation reads
/// the files a plan names, and `/dev/zero` or `/dev/stdin` would make the
/// target hang rather than find a bug, so such inputs are skipped. Text
/// that is not TOML never reaches validation.
pub fn names_outside_file(text: &str) -> bool {
    fn walk(v: &toml::Value, key: &str) -> bool {
        match v {
            toml::Value::String(s) => {
                matches!(key, "file" | "template_file")
                    && (s.starts_with('/') || s.starts_with('~') || s.contains(".."))
            }
            toml::Value::Array(items) => items.iter().any(|i| walk(i, key)),
            toml::Value::Table(t) => t.iter().any(|(k, v)| walk(v, k)),
            _ => false,
        }
    }
    match toml::from_str::<toml::Table>(text) {
        Ok(t) => t.iter().any(|(k, v)| walk(v, k)),
        Err(_) => false,
    }
}

/// A validated plan, as `run.json` records it: serializable, read back by
/// `verdict`'s reader with the same names, and its thresholds and
/// requirements validated again to the same selectors and conditions.
pub fn plan_records_itself(plan: &Plan) -> Result<(), String> {
    let value = serde_json::to_value(plan).map_err(|e| format!("the plan does not serialize: {e}"))?;
    let record =
        PlanRecord::from_json(plan_path(), &value).map_err(|e| format!("the recorded plan does not read back: {e}"))?;
    let (ours, theirs) = (plan.roster(), record.roster());
    if ours.endpoints != theirs.endpoints {
        return Err(format!(
            "endpoints {:?} are recorded as {:?}",
            ours.endpoints, theirs.endpoints
        ));
    }
    let names = |r: &crate::plan::roster::Roster| -> Vec<(String, Vec<(usize, u32)>)> {
        r.scenarios
            .iter()
            .map(|s| (s.name.clone(), s.endpoints.clone()))
            .collect()
    };
    if names(&ours) != names(&theirs) || ours.has_rollout != theirs.has_rollout {
        return Err(format!("the roster {ours:?} is recorded as {theirs:?}"));
    }
    let checks = record
        .checks(plan_path())
        .map_err(|e| format!("the recorded thresholds and requirements do not validate again: {e}"))?;
    if checks.thresholds.len() != plan.thresholds.len() || checks.requirements.len() != plan.requirements.len() {
        return Err(format!(
            "{} thresholds and {} requirements are recorded as {} and {}",
            plan.thresholds.len(),
            plan.requirements.len(),
            checks.thresholds.len(),
            checks.requirements.len()
        ));
    }
    for (a, b) in plan.thresholds.iter().zip(&checks.thresholds) {
        if a.metric != b.metric
            || a.expression != b.expression
            || a.abort_on_fail != b.abort_on_fail
            || a.selector != b.selector
            || a.condition != b.condition
        {
            return Err(format!("threshold {a:?} is recorded as {b:?}"));
        }
    }
    for (a, b) in plan.requirements.iter().zip(&checks.requirements) {
        if a.name != b.name || a.check != b.check || a.selector != b.selector || a.condition != b.condition {
            return Err(format!("requirement {a:?} is recorded as {b:?}"));
        }
    }
    Ok(())
}

/// The plan as `run.json` records it, as text (to compare two readings).
pub fn plan_json(plan: &Plan) -> String {
    serde_json::to_string(plan).unwrap_or_else(|e| format!("does not serialize: {e}"))
}

// ------------------------------------------------------------ template

/// The value every `[vars]` variable has when [`render`] renders a
/// template: it needs escaping in a URL.
pub const VAR_VALUE: &str = "a b/é&";
/// `{{vu}}` in [`render`].
pub const VU: u64 = 7;
/// `{{iteration}}` in [`render`].
pub const ITERATION: u64 = 42;
/// `{{timestamp}}` in [`render`].
pub const NOW: u64 = 1_700_000_000;

/// Renders `t` as a request would: every variable it names set to
/// [`VAR_VALUE`], randomness from `seed`.
pub fn render(t: &Template, escape: Escape, seed: u64) -> String {
    let vars: BTreeMap<String, Var> = t
        .var_names()
        .map(|n| (n.to_string(), Var::List(vec![VAR_VALUE.to_string()])))
        .collect();
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut ctx = RenderCtx {
        vars: &vars,
        vu: VU,
        iteration: ITERATION,
        rng: &mut rng,
        now_unix: NOW,
    };
    let mut out = String::new();
    t.render(&mut ctx, escape, &mut out);
    out
}

// ------------------------------------------------------------ run.json

/// What [`run_json`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunRead {
    /// The reader refused the file.
    Refused,
    /// Read, but judging it failed (its plan or atoms are wrong).
    NotJudged,
    /// Read and judged: the verdict.
    Judged(VerdictResult),
}

/// The bytes as a `run.json`, read as `loadcheck verdict` and `report`
/// read one (a `running` file read back from what its killed process left,
/// any other through `read_run`), then judged as `verdict` judges it.
/// `Err` when an invariant breaks:
///
/// - a run read is written back (as `verdict` rewrites it) and reads the
///   same;
/// - a run judged once, written and judged again, gets the same verdict.
pub fn run_json(bytes: &[u8]) -> Result<RunRead, String> {
    let path = on_disk("run/run.json", bytes);
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) {
        // No `timeline.hlog` beside it: a killed run recovers nothing.
        let _ = crate::cmd::verdict::unfinished(&path, &value, None);
    }
    let Ok(mut run) = crate::cmd::report::read_run(&path) else {
        return Ok(RunRead::Refused);
    };
    let text = write_run(&run)?;
    let again = crate::cmd::report::read_run(&on_disk("run/run.json", text.as_bytes()))
        .map_err(|e| format!("a run written back does not read: {e}"))?;
    let text2 = write_run(&again)?;
    if text != text2 {
        return Err(format!("a run written back reads differently:\n{text}\nthen\n{text2}"));
    }
    if crate::cmd::verdict::judge_file(&path, &mut run, None).is_err() {
        return Ok(RunRead::NotJudged);
    }
    let verdict = run.verdict.clone().ok_or("judged, but the run has no verdict")?;
    let text = write_run(&run)?;
    let path = on_disk("run/run.json", text.as_bytes());
    let mut again = crate::cmd::report::read_run(&path).map_err(|e| format!("the judged run does not read: {e}"))?;
    crate::cmd::verdict::judge_file(&path, &mut again, None)
        .map_err(|e| format!("the judged run does not judge again: {e:#}"))?;
    let verdict2 = again.verdict.ok_or("judged again, but the run has no verdict")?;
    if verdict.result != verdict2.result || verdict.exit_code != verdict2.exit_code {
        return Err(format!("judged twice: {verdict:?}, then {verdict2:?}"));
    }
    Ok(RunRead::Judged(verdict.result))
}

fn write_run(run: &RunResult) -> Result<String, String> {
    serde_json::to_string_pretty(run).map_err(|e| format!("a run read does not serialize: {e}"))
}

// ------------------------------------------------------ comparison.json

/// A finished run that passed, from `tests/fixtures/report/pass.run.json`.
pub fn passing_run() -> &'static RunResult {
    static RUN: OnceLock<RunResult> = OnceLock::new();
    RUN.get_or_init(|| {
        let mut run: RunResult = serde_json::from_str(include_str!("../../tests/fixtures/report/pass.run.json"))
            .expect("tests/fixtures/report/pass.run.json is a run.json");
        run.thresholds.retain(|t| t.ok);
        run.requirements.retain(|r| r.ok);
        assert_eq!(
            crate::verdict::decide(&run).result,
            VerdictResult::Pass,
            "the fixture passes"
        );
        run
    })
}

/// A `comparison.json` written and read back (as `compare` writes it and
/// `verdict` reads it): equal, and readable at all (a value JSON cannot
/// hold, such as NaN, is written as `null`, which does not read back).
pub fn comparison_round_trip(file: &ComparisonFile) -> Result<(), String> {
    let text = serde_json::to_string_pretty(file).map_err(|e| format!("a comparison does not serialize: {e}"))?;
    let path = on_disk("comparison/comparison.json", text.as_bytes());
    let again =
        crate::compare::read_file(&path).map_err(|e| format!("a comparison written does not read: {e}\n{text}"))?;
    // NaN is unequal to itself: compare the text.
    let text2 = serde_json::to_string_pretty(&again).map_err(|e| format!("does not serialize again: {e}"))?;
    if text != text2 {
        return Err(format!(
            "a comparison written reads differently:\n{text}\nthen\n{text2}"
        ));
    }
    Ok(())
}

/// The comparison file with `comparisons`, for the passing run.
pub fn comparison_file(comparisons: Vec<Comparison>) -> ComparisonFile {
    let run = passing_run();
    ComparisonFile {
        schema: crate::compare::SCHEMA.to_string(),
        run: crate::compare::RunRef {
            id: run.id.clone(),
            started_at: run.started_at.clone(),
            path: None,
        },
        comparisons,
    }
}

// ------------------------------------------------------------ baseline

/// A run like the store's last one, second by second: each of its cells
/// spread over its seconds (at most 120 units), with its latency bins
/// (those a run can have).
/// What `baseline update` then `compare` see when the same plan runs
/// again on the same testbed.
pub fn run_like(store: &Store) -> RunData {
    let last = store.runs.last();
    let cells = last
        .map(|r| {
            r.cells
                .iter()
                .map(|c| {
                    let n = (c.seconds.clamp(1.0, 120.0)) as u64;
                    let per = |x: u64, i: u64| x / n + u64::from(i < x % n);
                    let units = (0..n)
                        .map(|i| Unit {
                            requests: per(c.requests, i),
                            errors: per(c.errors.min(c.requests), i),
                            // A run's bins come from `bin_of`: below BINS (a
                            // store's are not checked, and compare never
                            // reads them).
                            bins: c
                                .bins
                                .iter()
                                .filter(|(b, _)| usize::from(*b) < BINS)
                                .filter_map(|&(b, count)| {
                                    let k = per(count, i);
                                    (k > 0).then(|| (b, u32::try_from(k).unwrap_or(u32::MAX)))
                                })
                                .collect(),
                        })
                        .collect();
                    Cell {
                        endpoint: c.endpoint.clone(),
                        phase: c.phase.clone(),
                        units,
                        seconds: n as f64,
                    }
                })
                .collect()
        })
        .unwrap_or_else(|| {
            vec![Cell {
                endpoint: "search".into(),
                phase: "run".into(),
                units: vec![
                    Unit {
                        requests: 100,
                        errors: 1,
                        bins: vec![(bin_of(20_000), 100)],
                    };
                    30
                ],
                seconds: 30.0,
            }]
        });
    let mut cells: Vec<Cell> = cells;
    cells.sort_by(|a, b| (&a.endpoint, &a.phase).cmp(&(&b.endpoint, &b.phase)));
    cells.dedup_by(|a, b| a.endpoint == b.endpoint && a.phase == b.phase);
    RunData {
        path: None,
        digest: Some("sha256:fuzz".into()),
        id: store.id.clone(),
        started_at: "2026-01-01T00:00:00Z".into(),
        // A day after the newest: appended, it is the last.
        started_at_ms: store
            .runs
            .iter()
            .map(|r| r.started_at_ms)
            .max()
            .map_or(0, |t| t.saturating_add(86_400_000)),
        testbed: last.map_or_else(Testbed::default, |r| r.testbed.clone()),
        status: RunStatus::Completed,
        closed_model: last.is_none_or(|r| r.closed_model),
        scheduled: last.map_or(0, |r| r.scheduled),
        dropped: last.map_or(0, |r| r.dropped.min(r.scheduled)),
        warmup: None,
        settings: Settings::recorded(&serde_json::Value::Null),
        cells,
    }
}
