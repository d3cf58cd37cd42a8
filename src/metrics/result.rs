//! `RunResult`: what a run measured, as written to `run.json`
//! (`"schema": "loadcheck.run/v1"`, JSON Schema in `schema/run.schema.json`).
//!
//! Fields appear only once an issue measures them; nothing here is ever a
//! placeholder.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::availability::AvailabilityResult;
use super::delivery::DeliveryReport;
use super::deploy::{Event, PhaseSpan, ProbeResult, TriggerRecord};
use super::hist::{Hist, Latency, ms};
use super::recorder::GenStats;
use super::setup::SetupRecord;
use super::stats::Stats;
use crate::plan::registry::ErrorClass;

/// The `schema` value of this version of `run.json`.
pub const SCHEMA: &str = "loadcheck.run/v1";

/// Everything a run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The resolved plan, with no secret in it.
    pub plan: serde_json::Value,
    /// `sha256:` of the resolved plan's canonical JSON.
    pub plan_fingerprint: String,
    /// The plan's id (a slug: file names and markers use it).
    pub id: String,
    /// When the load started (RFC 3339, UTC, ms).
    pub started_at: String,
    /// The same instant in unix milliseconds.
    pub started_at_ms: i64,
    /// How long the load ran, in seconds.
    pub duration_s: f64,
    /// `running` (written at the start), `completed`, `aborted` by a
    /// signal, an `abort_on_fail` threshold or `--max-duration`, or
    /// `killed` when read back from the files of a run whose process was
    /// killed.
    pub status: RunStatus,
    /// Why the run was aborted.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub abort: Option<AbortRecord>,
    /// The verdict: pass, fail or error, the exit code, and why.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub verdict: Option<Verdict>,
    /// Where and with what the run was made.
    pub metadata: Metadata,
    /// Request statistics.
    pub stats: StatsSet,
    /// One row per second.
    pub timeline: Timeline,
    /// Open-model pacing: late and dropped sends, send lag. Absent from a
    /// killed run's file: the files it is read back from do not hold it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub generator: Option<Generator>,
    /// Every threshold with its measured value.
    #[serde(default)]
    pub thresholds: Vec<CheckResult>,
    /// Every requirement with its measured value.
    #[serde(default)]
    pub requirements: Vec<RequirementResult>,
    /// The phases (head, rollout, tail), when the plan has a rollout.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub phases: Vec<PhaseSpan>,
    /// Rollout, fault and probe events, by time.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub events: Vec<Event>,
    /// How the rollout went, and the zero-downtime rule.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub rollout: Option<RolloutResult>,
    /// Outages, downtime, RTO and time to detect.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub availability: Option<AvailabilityResult>,
    /// The app versions seen, when the plan names a version header.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub versions: Option<Versions>,
    /// The probes' up and down intervals.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub probes: Vec<ProbeResult>,
    /// Output of fault and restore commands, redacted.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub commands: Vec<CommandOutput>,
    /// `[[setup]]` requests: name, status, time and what they captured
    /// (names only).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub setup: Vec<SetupRecord>,
    /// The sink's figures, when the plan has `[sink]`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub delivery: Option<DeliveryReport>,
    /// Which side of a duet run this is, and the other side's URL.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub duet: Option<super::duet::Duet>,
    /// Where the statistics came from when another tool measured the run
    /// (`loadcheck import`): which statistics the file holds and how its
    /// percentiles were computed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub imported: Option<Imported>,
    /// What was read back from the files of a run that was killed
    /// (`status: killed`), and what they could not give.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub recovered: Option<Recovered>,
}

/// A killed run read back from the files it left: its `running` run.json
/// and the seconds its `timeline.hlog` holds whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recovered {
    /// The file the statistics were rebuilt from (`timeline.hlog`).
    pub from: String,
    /// The seconds recovered, from the start through `last_whole_second`
    /// (0 when the log holds no whole second): the run's `duration_s`.
    pub seconds: u64,
    /// The last second whose intervals the log holds whole, counted from
    /// the start; absent when there is none.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_whole_second: Option<u64>,
    /// Whether the log ended in the middle of a record (the kill came while
    /// a second was being written): that second is left out.
    pub cut: bool,
    /// What the files cannot give, in words: the statistics hold only what
    /// the log does (the latencies of responses).
    pub not_recovered: Vec<String>,
}

impl std::fmt::Display for Recovered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = if self.seconds == 1 { "" } else { "s" };
        match self.last_whole_second {
            Some(last) => write!(
                f,
                "{} second{s} recovered from {}, seconds 0 to {last}",
                self.seconds, self.from
            )?,
            None => write!(f, "0 seconds recovered: {} holds no whole second", self.from)?,
        }
        if self.cut {
            write!(f, "; its last record was cut, and its second left out")?;
        }
        Ok(())
    }
}

/// A run another tool measured, read by `loadcheck import`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Imported {
    /// The tool (`k6`).
    pub tool: String,
    /// The files read, in the order given.
    pub files: Vec<ImportedFile>,
    /// Which statistics the run holds.
    pub statistics: StatisticsKind,
    /// How the percentiles of `stats`' views were computed: `k6` (linear
    /// interpolation between the sorted samples, as k6's summary) or `hdr`
    /// (nearest rank over the HDR histograms, as loadcheck's own runs).
    /// Whatever is judged again from the atoms uses their histograms.
    pub percentiles: String,
    /// What `http_req_duration` holds here, in words.
    pub http_req_duration: String,
    /// The tool's own statistics by metric (and sub-metric) name, under
    /// its names (`avg`, `med`, `p(95)`, `count`, `rate`, …): as its summary
    /// gave them, or recomputed from its samples the way it computes them.
    pub metrics: BTreeMap<String, BTreeMap<String, f64>>,
}

/// One file an import read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedFile {
    /// Its path, as given.
    pub path: String,
    /// `summary-export`, `handle-summary` or `ndjson`.
    pub format: String,
}

/// Which statistics a run holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatisticsKind {
    /// Per-request samples filled the histograms: the atoms, the timeline
    /// and `timeline.hlog` are whole, and the run merges and compares
    /// exactly.
    Histograms,
    /// Only the tool's own summary numbers: no atoms, no histograms, no
    /// timeline. Thresholds on request metrics cannot be judged again, a
    /// comparison has no per-second data, and `merge` refuses it.
    Summary,
}

/// `run.json` as written at a run's start (`status: running`), replaced
/// at its end by the [`RunResult`]. A file still in this form after the
/// run is one whose process was killed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunStart {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The resolved plan, with no secret in it.
    pub plan: serde_json::Value,
    /// `sha256:` of the resolved plan's canonical JSON.
    pub plan_fingerprint: String,
    /// The plan's id.
    pub id: String,
    /// When the load starts (RFC 3339, UTC, ms).
    pub started_at: String,
    /// The same instant in unix milliseconds.
    pub started_at_ms: i64,
    /// Always `running`.
    pub status: RunStatus,
    /// Where and with what the run is made.
    pub metadata: Metadata,
}

impl RunStart {
    /// The result of the run this file started: its header (the plan, its
    /// fingerprint and id, the start, the metadata) as written at the
    /// start, with `status` and what was measured, and nothing else yet.
    pub fn into_result(
        self,
        status: RunStatus,
        duration_s: f64,
        stats: StatsSet,
        timeline: Timeline,
        generator: Option<Generator>,
    ) -> RunResult {
        let RunStart {
            schema,
            plan,
            plan_fingerprint,
            id,
            started_at,
            started_at_ms,
            status: _,
            metadata,
        } = self;
        RunResult {
            schema,
            plan,
            plan_fingerprint,
            id,
            started_at,
            started_at_ms,
            duration_s,
            status,
            abort: None,
            verdict: None,
            metadata,
            stats,
            timeline,
            generator,
            thresholds: Vec::new(),
            requirements: Vec::new(),
            phases: Vec::new(),
            events: Vec::new(),
            rollout: None,
            availability: None,
            versions: None,
            probes: Vec::new(),
            commands: Vec::new(),
            setup: Vec::new(),
            delivery: None,
            duet: None,
            imported: None,
            recovered: None,
        }
    }
}

/// The rollout's record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RolloutResult {
    /// The trigger and how it went.
    #[serde(flatten)]
    pub trigger: TriggerRecord,
    /// The zero-downtime rule, when the rollout started.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub zero_downtime: Option<ZeroDowntime>,
}

/// The zero-downtime rule: the rollout phase may have at most `tolerance`
/// failed requests.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ZeroDowntime {
    /// Whether it held.
    pub ok: bool,
    /// Failed requests sent during the rollout.
    pub failed_requests: u64,
    /// Of which were reset (in flight when a backend died).
    pub reset_requests: u64,
    /// Failed requests allowed.
    pub tolerance: u64,
}

/// App versions seen in responses.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Versions {
    /// The header.
    pub header: String,
    /// How long two or more versions served at once, in seconds.
    pub overlap_s: f64,
    /// Each version, by first appearance.
    pub seen: Vec<VersionSeen>,
}

/// One version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VersionSeen {
    /// The header's value.
    pub version: String,
    /// First response with it, seconds from the start.
    pub first_s: f64,
    /// Last response with it.
    pub last_s: f64,
    /// Responses with it.
    pub responses: u64,
}

/// A fault or restore command's output.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommandOutput {
    /// The fault's name.
    pub name: String,
    /// `fault` or `restore`.
    pub kind: String,
    /// The last part of its output, redacted.
    pub output: String,
}

/// How the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Written at the start; a file still saying so after the run is one
    /// whose process was killed.
    Running,
    /// Every scenario ran to its end.
    Completed,
    /// Stopped early.
    Aborted,
    /// Read back from the files of a run whose process was killed (its
    /// run.json still said `running`): see [`Recovered`].
    Killed,
}

/// Why a run stopped early.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbortRecord {
    /// What stopped it.
    pub kind: AbortKind,
    /// The signal's name or the threshold (`metric: condition`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detail: Option<String>,
}

/// What stopped a run early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AbortKind {
    /// SIGINT or SIGTERM.
    Signal,
    /// An `abort_on_fail` threshold failed.
    Threshold,
    /// `--max-duration` cut the plan short.
    MaxDuration,
}

impl std::fmt::Display for AbortRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.kind, &self.detail) {
            (AbortKind::Signal, Some(s)) => write!(f, "{s} received"),
            (AbortKind::Signal, None) => write!(f, "a signal was received"),
            (AbortKind::Threshold, Some(t)) => write!(f, "abort_on_fail threshold failed: {t}"),
            (AbortKind::Threshold, None) => write!(f, "an abort_on_fail threshold failed"),
            (AbortKind::MaxDuration, _) => write!(f, "--max-duration reached before the plan's end"),
        }
    }
}

/// The verdict of a run: what the exit code is, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// `pass`, `fail` or `error`.
    pub result: VerdictResult,
    /// The exit code: 0 pass, 1 fail, 3 error.
    pub exit_code: i32,
    /// Everything that did not pass, in the order the run met them.
    pub reasons: Vec<Reason>,
}

/// The outcome of a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictResult {
    /// Everything passed (exit 0).
    Pass,
    /// A threshold, a requirement or the zero-downtime rule failed (exit 1).
    Fail,
    /// The run itself went wrong: a signal, `--max-duration`, the rollout
    /// or a fault command failed, or the run was killed (exit 3).
    Error,
}

/// One reason a verdict is not a pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    /// What failed.
    pub kind: ReasonKind,
    /// The threshold (`metric: condition`), the requirement's name, the
    /// fault's name, `rollout`, or the abort's kind.
    pub name: String,
    /// The measured value, when there is one (absent: not measured).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub value: Option<f64>,
    /// For people.
    pub detail: String,
    /// The exit code this reason alone would give.
    pub exit_code: i32,
}

/// The kinds of [`Reason`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonKind {
    /// A threshold failed.
    Threshold,
    /// A requirement failed.
    Requirement,
    /// The rollout phase had more failed requests than its tolerance.
    ZeroDowntime,
    /// The rollout failed, timed out or did not finish.
    Rollout,
    /// A fault or restore command failed.
    Fault,
    /// The run stopped early.
    Abort,
    /// A comparison with a baseline found a regression that gates
    /// (`comparison.json`).
    Regression,
}

/// The run's environment.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Metadata {
    /// loadcheck's version.
    pub loadcheck_version: String,
    /// Engine worker threads.
    pub workers: usize,
    /// The `--seed` used for random choices.
    pub seed: u64,
    /// The machine: what must match for two runs to be compared.
    pub testbed: Testbed,
    /// The code's revision, from the Actions variables or from `git` in the
    /// plan's folder.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub git: Option<GitInfo>,
    /// The Actions run, when inside one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub github: Option<GithubRun>,
    /// `RUNNER_NAME`, when set. Not part of the testbed: it changes on every
    /// hosted job.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub runner_name: Option<String>,
    /// The shard this run was, with `run --shard i/N`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub shard: Option<ShardRecord>,
    /// The shards this run was merged from, by `loadcheck merge`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub merged: Option<MergedRecord>,
}

/// One shard of a distributed run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardRecord {
    /// 1 to `count`.
    pub index: u32,
    /// How many shards the plan was split into.
    pub count: u32,
    /// The plan before it was split: `plan_fingerprint` is of it, and
    /// `merge` writes it as the merged run's plan.
    pub plan: serde_json::Value,
    /// `--start-at`, unix ms, when given.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub start_at_ms: Option<i64>,
    /// How long after `--start-at` the load started, in ms, when it could
    /// not start on time (absent when it did).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub late_ms: Option<u64>,
}

/// What `loadcheck merge` merged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergedRecord {
    /// How many shards the plan was split into.
    pub count: u32,
    /// The shards merged, by index.
    pub shards: Vec<u32>,
    /// Whether shards were missing (`--allow-partial`).
    pub partial: bool,
    /// What the shards' histograms and counts cannot give, and where the
    /// merged run's figure came from instead (`availability: shard 1`).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub not_merged: Vec<String>,
}

/// The machine a run was made on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Testbed {
    /// `linux`, `macos`, …
    pub os: String,
    /// The kernel's release, when known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub os_release: Option<String>,
    /// `x86_64`, `aarch64`, …
    pub arch: String,
    /// The CPU's model name, when known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cpu_model: Option<String>,
    /// CPUs available to loadcheck.
    pub cpus: usize,
    /// Total memory, in bytes, when known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub memory_bytes: Option<u64>,
}

/// The code's revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GitInfo {
    /// The commit.
    pub sha: String,
    /// The branch (on a PR, its head branch), when known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub branch: Option<String>,
}

/// The GitHub Actions run a run was made in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GithubRun {
    /// `GITHUB_SERVER_URL`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub server_url: Option<String>,
    /// `GITHUB_REPOSITORY` (`owner/name`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub repository: Option<String>,
    /// `GITHUB_RUN_ID`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub run_id: Option<String>,
    /// `GITHUB_RUN_ATTEMPT`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub run_attempt: Option<String>,
    /// The pull request's number, when the run is for one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pr_number: Option<u64>,
}

/// Statistics for the total, each endpoint and each scenario.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatsSet {
    /// Every request.
    pub total: StatsSummary,
    /// By endpoint name.
    pub endpoints: BTreeMap<String, StatsSummary>,
    /// By scenario name.
    pub scenarios: BTreeMap<String, StatsSummary>,
    /// By phase (`head`, `rollout`, `tail`), when the plan has a rollout;
    /// rates are over each phase's own length.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub phases: BTreeMap<String, StatsSummary>,
    /// By endpoint, then phase.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub endpoint_phases: BTreeMap<String, BTreeMap<String, StatsSummary>>,
    /// The atoms everything above is summed from: one per scenario ×
    /// endpoint × phase that saw requests, with its histograms, so any
    /// selector can be judged from the file.
    #[serde(default)]
    pub atoms: Vec<Atom>,
}

/// One scenario × endpoint × phase that saw requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Atom {
    /// The scenario.
    pub scenario: String,
    /// The endpoint.
    pub endpoint: String,
    /// The phase, when the plan has a rollout.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub phase: Option<String>,
    /// Requests sent.
    pub requests: u64,
    /// Requests with an expected status.
    pub ok: u64,
    /// Failed requests by class (classes with none are left out).
    pub errors: BTreeMap<String, u64>,
    /// Responses by status code.
    pub status: BTreeMap<String, u64>,
    /// Responses that came over HTTP/2.
    pub http2: u64,
    /// Values above 60 s, clamped in the histograms, by histogram.
    #[serde(skip_serializing_if = "Clamped::is_zero", default)]
    pub clamped: Clamped,
    /// The histograms (µs, V2 deflate, base64).
    pub histograms: Histograms,
}

/// Clamped values, by histogram.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clamped {
    /// In `http_req_duration`.
    pub http_req_duration: u64,
    /// In `http_req_service_duration`.
    pub http_req_service_duration: u64,
    /// In `http_req_failure_duration`.
    pub http_req_failure_duration: u64,
}

impl Clamped {
    fn is_zero(&self) -> bool {
        *self == Clamped::default()
    }
}

impl Atom {
    /// The atom of one key's statistics.
    pub fn of(scenario: &str, endpoint: &str, phase: Option<&str>, s: &Stats) -> Atom {
        Atom {
            scenario: scenario.to_string(),
            endpoint: endpoint.to_string(),
            phase: phase.map(str::to_string),
            requests: s.requests,
            ok: s.ok,
            errors: ErrorClass::ALL
                .iter()
                .map(|c| (c.name().to_string(), s.errors_of(*c)))
                .filter(|(_, n)| *n > 0)
                .collect(),
            status: statuses(s),
            http2: s.http2,
            clamped: Clamped {
                http_req_duration: s.duration.clamped(),
                http_req_service_duration: s.service.clamped(),
                http_req_failure_duration: s.failure.clamped(),
            },
            histograms: Histograms::of(s),
        }
    }

    /// The statistics back, or what in the atom is wrong.
    pub fn stats(&self) -> Result<Stats, String> {
        let mut s = Stats {
            requests: self.requests,
            ok: self.ok,
            http2: self.http2,
            ..Stats::default()
        };
        for (name, n) in &self.errors {
            let class = ErrorClass::ALL
                .iter()
                .find(|c| c.name() == name)
                .ok_or_else(|| format!("unknown error class \"{name}\""))?;
            s.errors[*class as usize] = *n;
        }
        for (code, n) in &self.status {
            let code: u16 = code.parse().map_err(|_| format!("status \"{code}\" is not a number"))?;
            s.statuses.push((code, *n));
        }
        let hist = |name: &str, text: &str, clamped: u64| {
            Hist::from_base64(text)
                .map(|h| h.with_clamped(clamped))
                .map_err(|e| format!("histograms.{name}: {e}"))
        };
        s.duration = hist(
            "http_req_duration",
            &self.histograms.http_req_duration,
            self.clamped.http_req_duration,
        )?;
        s.service = hist(
            "http_req_service_duration",
            &self.histograms.http_req_service_duration,
            self.clamped.http_req_service_duration,
        )?;
        s.failure = hist(
            "http_req_failure_duration",
            &self.histograms.http_req_failure_duration,
            self.clamped.http_req_failure_duration,
        )?;
        Ok(s)
    }
}

/// Statistics of a set of requests.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatsSummary {
    /// Requests sent.
    pub requests: u64,
    /// Requests with an expected status.
    pub ok: u64,
    /// Requests that failed (`requests - ok`).
    pub failed: u64,
    /// Failed requests by class; every class is listed.
    pub errors: BTreeMap<String, u64>,
    /// Responses by status code.
    pub status: BTreeMap<String, u64>,
    /// Responses by the HTTP version they came over (`HTTP/1.1`,
    /// `HTTP/2`), only versions seen; absent when no response arrived.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub protocols: BTreeMap<String, u64>,
    /// Requests per second over the run's duration.
    pub rps: f64,
    /// `http_req_duration`, in ms; absent when no response arrived.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub latency_ms: Option<Latency>,
    /// `http_req_service_duration`, in ms.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub service_latency_ms: Option<Latency>,
    /// `http_req_failure_duration`, in ms; absent when nothing failed
    /// without a response.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub failure_latency_ms: Option<Latency>,
    /// Values above 60 s, clamped to 60 s in the histograms.
    pub clamped: u64,
    /// The HDR histograms (µs, V2 deflate, base64), for exact merges.
    pub histograms: Histograms,
}

/// Encoded histograms of one [`StatsSummary`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histograms {
    /// `http_req_duration`.
    pub http_req_duration: String,
    /// `http_req_service_duration`.
    pub http_req_service_duration: String,
    /// `http_req_failure_duration`.
    pub http_req_failure_duration: String,
}

impl StatsSummary {
    /// Summarizes `s` over a run of `duration_s` seconds.
    pub fn of(s: &Stats, duration_s: f64) -> StatsSummary {
        StatsSummary {
            requests: s.requests,
            ok: s.ok,
            failed: s.failed(),
            errors: ErrorClass::ALL
                .iter()
                .map(|c| (c.name().to_string(), s.errors_of(*c)))
                .collect(),
            status: statuses(s),
            protocols: protocols(s),
            rps: if duration_s > 0.0 {
                s.requests as f64 / duration_s
            } else {
                0.0
            },
            latency_ms: Latency::of(&s.duration),
            service_latency_ms: Latency::of(&s.service),
            failure_latency_ms: Latency::of(&s.failure),
            clamped: s.duration.clamped() + s.service.clamped() + s.failure.clamped(),
            histograms: Histograms::of(s),
        }
    }
}

impl Histograms {
    /// The encoded histograms of `s`.
    pub fn of(s: &Stats) -> Histograms {
        Histograms {
            http_req_duration: s.duration.to_base64(),
            http_req_service_duration: s.service.to_base64(),
            http_req_failure_duration: s.failure.to_base64(),
        }
    }
}

/// Responses by status code, keyed by the code as text.
fn statuses(s: &Stats) -> BTreeMap<String, u64> {
    s.statuses.iter().map(|(c, n)| (c.to_string(), *n)).collect()
}

/// Responses by HTTP version: those not over HTTP/2 came over HTTP/1.1.
fn protocols(s: &Stats) -> BTreeMap<String, u64> {
    let responses: u64 = s.statuses.iter().map(|(_, n)| n).sum();
    [("HTTP/1.1", responses.saturating_sub(s.http2)), ("HTTP/2", s.http2)]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| (k.to_string(), n))
        .collect()
}

/// The per-second timeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Timeline {
    /// Row width in seconds (always 1).
    pub resolution_s: u32,
    /// Whether the percentiles in rows are approximate (merged shards).
    pub approximate_percentiles: bool,
    /// Rows for every request.
    pub total: Vec<TimelineRow>,
    /// Rows by endpoint name.
    pub endpoints: BTreeMap<String, Vec<TimelineRow>>,
    /// The per-second histograms' file (`timeline.hlog`, HdrHistogram
    /// interval log), relative to run.json; absent when none was written
    /// whole.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub interval_log: Option<String>,
}

/// One second of the run, by completion time.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TimelineRow {
    /// Seconds since the start.
    pub second: u64,
    /// Requests that ended in this second.
    pub requests: u64,
    /// Of which had an expected status.
    pub ok: u64,
    /// Failed requests by class (classes with none are left out).
    pub errors: BTreeMap<String, u64>,
    /// Median `http_req_duration`, ms.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p50_ms: Option<f64>,
    /// 95th percentile, ms.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p95_ms: Option<f64>,
    /// 99th percentile, ms.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p99_ms: Option<f64>,
    /// Responses by app version, when the plan names a version header (total
    /// rows only).
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub versions: BTreeMap<String, u64>,
    /// The last reading of each metric probe in this second (total rows
    /// only).
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub probes: BTreeMap<String, f64>,
    /// Each scenario's load in this second, by scenario name (total rows
    /// only).
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub load: BTreeMap<String, ScenarioLoad>,
}

/// A scenario's load in one second: `{"scheduled": n}` or `{"vus": n}`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ScenarioLoad {
    /// Open model: sends the schedule asked for in this second, made or
    /// dropped, by when the generator reached them.
    Scheduled(u64),
    /// Closed model: VUs active at some point in this second.
    Vus(u64),
}

impl TimelineRow {
    /// A row from counts and the second's duration histogram.
    pub fn new(second: u64, requests: u64, ok: u64, errors: [u64; ErrorClass::COUNT], duration: &Hist) -> Self {
        if requests == 0 && ok == 0 && errors == [0; ErrorClass::COUNT] && duration.is_empty() {
            return TimelineRow::empty(second);
        }
        let mut row = TimelineRow {
            requests,
            ok,
            errors: ErrorClass::ALL
                .iter()
                .zip(errors)
                .filter(|(_, n)| *n > 0)
                .map(|(c, n)| (c.name().to_string(), n))
                .collect(),
            ..TimelineRow::empty(second)
        };
        row.set_percentiles(duration);
        row
    }

    /// A second with no requests. Cheap: a stream with a gap of days has
    /// one for every second of it, for the run and for each endpoint.
    pub fn empty(second: u64) -> Self {
        TimelineRow {
            second,
            requests: 0,
            ok: 0,
            errors: BTreeMap::new(),
            p50_ms: None,
            p95_ms: None,
            p99_ms: None,
            versions: BTreeMap::new(),
            probes: BTreeMap::new(),
            load: BTreeMap::new(),
        }
    }

    /// Sets the row's percentiles from the second's `http_req_duration`.
    pub fn set_percentiles(&mut self, duration: &Hist) {
        self.p50_ms = duration.quantile(0.5).map(ms);
        self.p95_ms = duration.quantile(0.95).map(ms);
        self.p99_ms = duration.quantile(0.99).map(ms);
    }
}

/// Open-model pacing health.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Generator {
    /// Sends the open-model schedules asked for.
    pub scheduled_sends: u64,
    /// Sends dropped because `max_in_flight` was full.
    pub dropped_sends: u64,
    /// Sends made more than `late_after_ms` after their intended time.
    pub late_sends: u64,
    /// The lateness that makes a send late.
    pub late_after_ms: f64,
    /// Send lag percentiles, ms; absent with no open-model sends.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub send_lag_ms: Option<Latency>,
    /// The same by open-model scenario, with the send-lag histogram, so
    /// `send_lag{scenario:…}` can be judged from the file.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub scenarios: BTreeMap<String, ScenarioGenerator>,
}

/// One open-model scenario's pacing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioGenerator {
    /// Sends its schedule asked for.
    pub scheduled_sends: u64,
    /// Sends dropped because `max_in_flight` was full.
    pub dropped_sends: u64,
    /// Sends made late.
    pub late_sends: u64,
    /// The send-lag HDR histogram (µs, V2 deflate, base64).
    pub send_lag: String,
}

impl ScenarioGenerator {
    /// The record of one scenario's pacing.
    pub fn of(g: &GenStats) -> ScenarioGenerator {
        ScenarioGenerator {
            scheduled_sends: g.scheduled,
            dropped_sends: g.dropped,
            late_sends: g.late,
            send_lag: g.lag.to_base64(),
        }
    }

    /// The pacing back, or what is wrong with the histogram.
    pub fn stats(&self) -> Result<GenStats, String> {
        Ok(GenStats {
            scheduled: self.scheduled_sends,
            dropped: self.dropped_sends,
            late: self.late_sends,
            lag: Hist::from_base64(&self.send_lag).map_err(|e| format!("send_lag: {e}"))?,
        })
    }
}

/// A threshold's outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckResult {
    /// The metric selector as written.
    pub metric: String,
    /// The condition as written.
    pub expression: String,
    /// The measured value; `null` when the metric had no samples.
    pub value: Option<f64>,
    /// Whether the condition held.
    pub ok: bool,
    /// Whether it stops the run when it fails.
    pub abort_on_fail: bool,
    /// Judged from a file that does not hold the data the metric needs (a
    /// summary-only import, a file from before the data was recorded): the
    /// value is `null` and the check is not a pass.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_in_file: bool,
    /// The tool whose threshold this is, for an imported run (`k6`): its
    /// expression is in that tool's grammar, and it was judged by the tool
    /// (or by `import`, from the samples, by the tool's rules). Judging the
    /// run again without `--plan` keeps it as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
}

/// A requirement's outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequirementResult {
    /// Its name.
    pub name: String,
    /// Its target, as text for people.
    pub target: String,
    /// The check as written.
    pub check: String,
    /// The measured value; `null` when the metric had no samples.
    pub value: Option<f64>,
    /// Whether the check held.
    pub ok: bool,
    /// What was actually measured: scenarios, their load and duration.
    pub validated: String,
    /// The plan's note, if any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub note: Option<String>,
    /// Judged from a file that does not hold the data the metric needs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_in_file: bool,
}

/// `sha256:` of the canonical (key-sorted) JSON of the resolved plan,
/// leaving out `source`: the same plan read from another path is the same
/// plan.
pub fn fingerprint(plan_json: &serde_json::Value) -> String {
    let mut plan = plan_json.clone();
    if let Some(map) = plan.as_object_mut() {
        map.remove("source");
    }
    // serde_json's default map is ordered by key, so this text is canonical.
    let text = plan.to_string();
    let digest = Sha256::digest(text.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shortcut for an empty second writes the row the full path would.
    #[test]
    fn an_empty_second_is_the_row_new_would_make() {
        let zeros = [0; ErrorClass::COUNT];
        let empty = TimelineRow::new(7, 0, 0, zeros, &Hist::default());
        assert_eq!(empty, TimelineRow::empty(7));
        assert_eq!(
            serde_json::to_value(&empty).unwrap(),
            serde_json::json!({"second": 7, "requests": 0, "ok": 0, "errors": {}})
        );
        // A second with a failure only is not empty.
        let mut one = zeros;
        one[0] = 1;
        let row = TimelineRow::new(7, 1, 0, one, &Hist::default());
        assert_eq!(row.errors.len(), 1);
        assert_ne!(row, TimelineRow::empty(7));
    }
}
