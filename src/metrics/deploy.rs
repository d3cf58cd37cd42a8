//! What a rollout records for `run.json`: the phases' spans, the events
//! (rollout, faults, probes going down and up), the trigger's record, and
//! each probe's result. The `rollout` stage produces them; they live here,
//! below it, because `RunResult` and the evaluator read them.

use serde::{Deserialize, Serialize};

/// A phase's span, in seconds from the run's start.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PhaseSpan {
    /// `head`, `rollout` or `tail`.
    pub name: String,
    /// When requests started being tagged with it.
    pub start_s: f64,
    /// When they stopped (`None`: at the end of the run).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub end_s: Option<f64>,
}

/// Something that happened during the run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Event {
    /// `rollout_start`, `rollout_end`, `fault`, `fault_end`, `restore`,
    /// `probe_down`, `probe_up`.
    pub kind: String,
    /// `rollout`, a fault's name or a probe's name.
    pub name: String,
    /// Seconds from the run's start.
    pub at_s: f64,
    /// Whether it succeeded, for ends of commands and rollouts.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ok: Option<bool>,
    /// For people.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detail: Option<String>,
}

/// How the rollout went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutStatus {
    /// It ended and reported success.
    Succeeded,
    /// It ended and reported failure (or could not start).
    Failed,
    /// It did not end within `timeout` (or never started).
    TimedOut,
    /// The run ended (a signal, `--max-duration`, the scenarios' end) before
    /// the rollout did.
    Unfinished,
}

/// The trigger's record.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TriggerRecord {
    /// `command`, `github_workflow`, `github_deployment` or `version_header`.
    pub trigger: String,
    /// How it went.
    pub status: RolloutStatus,
    /// A watcher saw the rollout start before the head's end.
    pub started_before_head: bool,
    /// The command's exit code.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub exit_code: Option<i32>,
    /// The last part of the command's output, redacted.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub output: Option<String>,
    /// For people: what ended it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detail: Option<String>,
}

/// What a probe saw over the run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProbeResult {
    /// The probe's name.
    pub name: String,
    /// The URL polled.
    pub url: String,
    /// The polling interval in milliseconds.
    pub interval_ms: u64,
    /// Checks completed.
    pub checks: u64,
    /// Of those, how many were down.
    pub failed_checks: u64,
    /// Total length of the down intervals in seconds; one still open at the
    /// end counts up to the end.
    pub down_s: f64,
    /// The down intervals, in time order.
    pub intervals: Vec<ProbeInterval>,
    /// The metric selector, for metric probes.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub metric: Option<String>,
    /// Metric probes: each reading, as (milliseconds since the run's start
    /// at the check's send time, value).
    #[serde(skip)]
    pub values: Vec<(u64, f64)>,
    /// Why the last failed check failed (`status 503`, `connect: …`,
    /// `timeout after 500 ms`, `metric: …`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_error: Option<String>,
}

/// A time the probe was down.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeInterval {
    /// The send time of the first failing check, in seconds since the run's
    /// start.
    pub start_s: f64,
    /// The send time of the first passing check after it; `None` when it
    /// was still down at the end.
    pub end_s: Option<f64>,
}

impl ProbeResult {
    /// The probe's transitions in time order, as (seconds since the run's
    /// start, up): `false` when it went down, `true` when it came back.
    /// For the controller's `probe_down` / `probe_up` events.
    pub fn transitions(&self) -> Vec<(f64, bool)> {
        let mut out = Vec::with_capacity(self.intervals.len() * 2);
        for interval in &self.intervals {
            out.push((interval.start_s, false));
            if let Some(end) = interval.end_s {
                out.push((end, true));
            }
        }
        out
    }
}
