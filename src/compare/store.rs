//! The baseline store, `baselines/<id>.json`: the last N accepted runs of
//! one plan, each reduced to its per-endpoint × phase values and a coarse
//! histogram, with the testbed it ran on.
//!
//! It is written whole and atomically (a temporary file, synced, then
//! renamed), so a crash at any point leaves the old store; it is read
//! strictly, and a damaged one is an error naming the file and the place,
//! never a silent reset.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::pair::{Merger, Values};
use super::units::{Cell, RunData};
use crate::metrics::result::{RunStatus, Testbed};

/// The `schema` value of this version of the store.
pub const SCHEMA: &str = "loadcheck.baseline/v1";

/// A store file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Store {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The plan's id the runs belong to.
    pub id: String,
    /// How many runs it keeps.
    pub history: usize,
    /// The runs, oldest first.
    pub runs: Vec<StoredRun>,
}

/// One accepted run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredRun {
    /// `sha256:` of its `run.json` as added: the run's identity (two runs
    /// can start in the same millisecond).
    pub digest: String,
    /// When its load started (RFC 3339).
    pub started_at: String,
    /// The same, unix ms.
    pub started_at_ms: i64,
    /// `completed`, or `aborted` when added with `--force`.
    pub status: RunStatus,
    /// The verdict's result when it was added (`pass` unless forced).
    pub verdict: String,
    /// The commit, when known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub git_sha: Option<String>,
    /// Where it ran.
    pub testbed: Testbed,
    /// Whether every scenario was closed-model.
    pub closed_model: bool,
    /// Open model: sends scheduled, run-wide.
    pub scheduled: u64,
    /// Of which dropped.
    pub dropped: u64,
    /// Per endpoint × phase.
    pub cells: Vec<StoredCell>,
}

/// One endpoint × phase of a stored run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredCell {
    /// The endpoint.
    pub endpoint: String,
    /// The phase (`run`, `head`, `rollout`, `tail` after its warm-up).
    pub phase: String,
    /// Requests.
    pub requests: u64,
    /// Failed requests.
    pub errors: u64,
    /// Seconds covered.
    pub seconds: f64,
    /// p50 of `http_req_duration`, ms (null with no latency).
    pub p50_ms: Option<f64>,
    /// p95, ms.
    pub p95_ms: Option<f64>,
    /// p99, ms.
    pub p99_ms: Option<f64>,
    /// Requests per second.
    pub throughput: f64,
    /// The latency histogram in 1% log bins: `[bin, count]` pairs
    /// (a bin's value is e^(bin × ln 1.01) µs).
    pub bins: Vec<(u16, u64)>,
}

impl StoredCell {
    /// The values comparing reads.
    pub fn values(&self) -> Values {
        Values {
            quantiles: [self.p50_ms, self.p95_ms, self.p99_ms].map(|v| v.unwrap_or(f64::NAN)),
            error_rate: if self.requests > 0 {
                self.errors as f64 / self.requests as f64
            } else {
                0.0
            },
            throughput: self.throughput,
        }
    }

    fn of(cell: &Cell) -> StoredCell {
        let n = cell.units.len();
        let per_unit = if n > 0 { cell.seconds / n as f64 } else { 1.0 };
        let v = Merger::new().values(cell, 0..n, per_unit);
        let mut bins: std::collections::BTreeMap<u16, u64> = Default::default();
        for u in &cell.units {
            for (b, c) in &u.bins {
                *bins.entry(*b).or_default() += u64::from(*c);
            }
        }
        let q = |x: f64| x.is_finite().then_some((x * 1e6).round() / 1e6);
        StoredCell {
            endpoint: cell.endpoint.clone(),
            phase: cell.phase.clone(),
            requests: cell.units.iter().map(|u| u.requests).sum(),
            errors: cell.units.iter().map(|u| u.errors).sum(),
            seconds: cell.seconds,
            p50_ms: q(v.quantiles[0]),
            p95_ms: q(v.quantiles[1]),
            p99_ms: q(v.quantiles[2]),
            throughput: (v.throughput * 1e6).round() / 1e6,
            bins: bins.into_iter().collect(),
        }
    }
}

impl StoredRun {
    /// A run, reduced for the store.
    pub fn of(run: &RunData, verdict: &str, git_sha: Option<String>) -> StoredRun {
        StoredRun {
            digest: run.digest.clone().unwrap_or_default(),
            started_at: run.started_at.clone(),
            started_at_ms: run.started_at_ms,
            status: run.status,
            verdict: verdict.to_string(),
            git_sha,
            testbed: run.testbed.clone(),
            closed_model: run.closed_model,
            scheduled: run.scheduled,
            dropped: run.dropped,
            cells: run.cells.iter().map(StoredCell::of).collect(),
        }
    }

    /// The cell of an endpoint and phase.
    pub fn cell(&self, endpoint: &str, phase: &str) -> Option<&StoredCell> {
        self.cells.iter().find(|c| c.endpoint == endpoint && c.phase == phase)
    }
}

/// Whether two testbeds are the same machine class: OS, architecture,
/// CPU count and memory (within 5%) must match. A different CPU model is
/// returned as a warning: hosted runners change it between jobs.
pub fn same_testbed(a: &Testbed, b: &Testbed) -> Result<Option<String>, String> {
    if a.os != b.os || a.arch != b.arch {
        return Err(format!("another platform ({}/{} vs {}/{})", a.os, a.arch, b.os, b.arch));
    }
    if a.cpus != b.cpus {
        return Err(format!("{} CPUs, not {}", a.cpus, b.cpus));
    }
    if let (Some(x), Some(y)) = (a.memory_bytes, b.memory_bytes) {
        let (lo, hi) = (x.min(y) as f64, x.max(y) as f64);
        if hi > lo * 1.05 {
            return Err(format!(
                "{:.1} GiB of memory, not {:.1} GiB",
                x as f64 / (1u64 << 30) as f64,
                y as f64 / (1u64 << 30) as f64
            ));
        }
    }
    Ok(match (&a.cpu_model, &b.cpu_model) {
        (Some(x), Some(y)) if x != y => Some(format!("another CPU model ({x} vs {y})")),
        _ => None,
    })
}

/// Reads a store; every failure names the file and what is wrong.
pub fn load(path: &Path) -> Result<Store, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(path, &text)
}

/// Parses a store's text.
pub fn parse(path: &Path, text: &str) -> Result<Store, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        format!(
            "{}: line {} column {}: not a baseline store: {e}",
            path.display(),
            e.line(),
            e.column()
        )
    })?;
    match value.get("schema").and_then(|s| s.as_str()) {
        Some(SCHEMA) => {}
        Some(other) => {
            return Err(format!(
                "{}: field `schema`: \"{other}\" is not a baseline store ({SCHEMA} expected)",
                path.display()
            ));
        }
        None => {
            return Err(format!(
                "{}: field `schema` is missing: not a baseline store ({SCHEMA} expected)",
                path.display()
            ));
        }
    }
    let store: Store = serde_path_json(path, text)?;
    if store.history < 1 {
        return Err(format!("{}: field `history`: must be at least 1", path.display()));
    }
    for (i, r) in store.runs.iter().enumerate() {
        for (j, c) in r.cells.iter().enumerate() {
            let bad = [c.p50_ms, c.p95_ms, c.p99_ms]
                .iter()
                .flatten()
                .chain([&c.seconds, &c.throughput])
                .any(|v| !v.is_finite() || *v < 0.0)
                || c.errors > c.requests;
            if bad {
                return Err(format!(
                    "{}: runs[{i}].cells[{j}] ({} {}): a value is negative, not finite, or more errors than requests",
                    path.display(),
                    c.endpoint,
                    c.phase
                ));
            }
        }
    }
    Ok(store)
}

fn serde_path_json(path: &Path, text: &str) -> Result<Store, String> {
    serde_json::from_str(text).map_err(|e| format!("{}: line {} column {}: {e}", path.display(), e.line(), e.column()))
}

/// Writes a store atomically.
pub fn save(path: &Path, store: &Store) -> Result<(), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let text = to_text(store)?;
    crate::atomic::replace(path, text.as_bytes()).map_err(|e| e.to_string())
}

/// A store as its file holds it: pretty JSON and a final newline.
pub fn to_text(store: &Store) -> Result<String, String> {
    let mut text = serde_json::to_string_pretty(store).map_err(|e| e.to_string())?;
    text.push('\n');
    Ok(text)
}

/// Appends a run to a store (a new one when `existing` is `None`) and
/// trims it to `history` runs, oldest out first.
pub fn append(existing: Option<Store>, id: &str, history: usize, run: StoredRun) -> Result<Store, String> {
    let mut store = existing.unwrap_or_else(|| Store {
        schema: SCHEMA.to_string(),
        id: id.to_string(),
        history,
        runs: Vec::new(),
    });
    if store.id != id {
        return Err(format!(
            "the store belongs to plan \"{}\", the run to plan \"{id}\"",
            store.id
        ));
    }
    if store.runs.iter().any(|r| r.digest == run.digest) {
        return Err(format!("the run of {} is already in the store", run.started_at));
    }
    store.history = history;
    store.runs.push(run);
    store.runs.sort_by_key(|r| r.started_at_ms);
    let excess = store.runs.len().saturating_sub(history);
    store.runs.drain(..excess);
    Ok(store)
}
