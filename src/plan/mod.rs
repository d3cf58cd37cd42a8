//! The plan: what to send, where, how fast, and what must hold.
//!
//! `loadcheck.toml` is read in two steps, as ripgrep reads its flags: `raw`
//! holds serde structs that mirror the file and do no I/O, and `validate`
//! turns them into the [`Plan`] below in one place. Every error on the way
//! names the file, the line and the field. The engine only ever sees a
//! validated `Plan`.

// `PlanError` carries the file, line, column, field, message and suggestion
// by value (128 bytes); plan errors are rare and end the command, so the
// large `Err` variant costs nothing that matters.
#![allow(clippy::result_large_err)]

pub mod baseline;
mod checks;
pub mod duration;
mod endpoint;
pub mod error;
pub mod expr;
mod load;
mod raw;
pub mod record;
pub mod registry;
pub mod report;
mod request;
pub mod rollout;
pub mod roster;
mod scenario;
pub mod shard;
pub mod signing;
mod sink;
mod target;
pub mod template;
pub mod units;
mod validate;
pub use validate::slug;
mod vars;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

pub use baseline::{BaselineConfig, Floors, HeadVsTail};
pub use checks::{CheckNames, Checks, Requirement, Threshold};
pub use endpoint::Endpoint;
pub use error::PlanError;
pub use expr::{Aggregation, CmpOp, Condition, MetricSelector};
pub use load::{lint, lint_with_env, load, load_checks, load_sink, parse, parse_sink, parse_with_env};
pub use registry::ErrorClass;
pub use report::{ReportConfig, ReportLink, SignoffItem};
pub use request::Body;
pub use rollout::{Availability, DeploymentSpec, Fault, Probe, Rollout, Trigger, WorkflowSpec};
pub use scenario::{Executor, Scenario, Stage, ThinkTime};
pub use signing::{Capture, CustomPlan, EndpointSigning, Setup, Signing};
pub use sink::{Correlate, DEFAULT_DEADLINE, DEFAULT_MAX_BODY, IdSource, PlanSink, RouteConfig, SinkConfig};
pub use target::{HttpVersion, Resolve, ResponseLimits, Scheme, Target, TlsOptions};
pub use template::{Part, Template};
pub use vars::Var;

/// Values given on the command line (or the environment) that override the
/// plan file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--target` / `LOADCHECK_TARGET`.
    pub target: Option<String>,
    /// `--duration`: replaces the duration of every scenario that has one.
    pub duration: Option<Duration>,
    /// `--rate`: replaces the rate of constant-arrival-rate scenarios.
    pub rate: Option<f64>,
    /// `--vus`: replaces the VU count of VU-based scenarios.
    pub vus: Option<u32>,
    /// `--baseline-target` / `LOADCHECK_BASELINE_TARGET`: replaces
    /// `[baseline] target`, the duet's second target.
    pub baseline_target: Option<String>,
}

/// A validated plan. Serializes to the resolved plan recorded in `run.json`,
/// with no secret value in it.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The plan's name (defaults to the file stem).
    pub name: String,
    /// The plan's id: baseline file names, comment markers and sign-off
    /// sections use it, never the free-text name.
    pub id: String,
    /// Where the plan was read from.
    pub source: PathBuf,
    /// The base URL requests go to.
    pub target: Target,
    /// Per-request timeout.
    #[serde(with = "duration::serde_ms")]
    pub timeout: Duration,
    /// TLS options for staging targets.
    pub tls: TlsOptions,
    /// `[limits]`: caps on what a response may hold.
    pub limits: ResponseLimits,
    /// The scenarios, all run at once.
    pub scenarios: Vec<Scenario>,
    /// The endpoints scenarios pick from; scenarios refer to them by index.
    pub endpoints: Vec<Endpoint>,
    /// Template variables.
    pub vars: BTreeMap<String, Var>,
    /// Thresholds, in file order.
    pub thresholds: Vec<Threshold>,
    /// Requirements, in file order.
    pub requirements: Vec<Requirement>,
    /// `[rollout]`: the deployment windows, when the plan has them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Rollout>,
    /// `[availability]`: the SLO and RTO window (defaults when absent).
    pub availability: Availability,
    /// `[[fault]]` blocks, by time.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<Fault>,
    /// `[[probe]]` blocks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<Probe>,
    /// `[signing]`: the plan-wide scheme, when requests are signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing: Option<Signing>,
    /// `[[setup]]` requests, in file order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub setups: Vec<Setup>,
    /// `[sink]`: the webhook receiver run inside the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sink: Option<PlanSink>,
    /// `[baseline]`: what the run is compared with (defaults when absent).
    pub baseline: BaselineConfig,
    /// `[report]`: title, links and manual sign-off items.
    #[serde(skip_serializing_if = "ReportConfig::is_empty")]
    pub report: ReportConfig,
}

impl Plan {
    /// Every secret value, for redaction.
    pub fn secrets(&self) -> Vec<String> {
        let signings = self
            .signing
            .iter()
            .chain(
                self.endpoints
                    .iter()
                    .filter_map(|e| e.signing.as_ref().map(|s| &s.signing)),
            )
            .chain(self.sink.iter().filter_map(|s| s.config.signing.as_ref()));
        self.vars
            .values()
            .filter_map(|v| match v {
                Var::Secret { value, .. } => Some(value.clone()),
                Var::List(_) => None,
            })
            .chain(signings.flat_map(|s| s.secrets.iter().cloned()))
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// When the last scenario ends (its start time plus its duration); the
    /// graceful stop that may follow is not counted.
    pub fn scenarios_end(&self) -> Duration {
        self.scenarios
            .iter()
            .map(|s| s.start_time + s.executor.duration())
            .max()
            .unwrap_or_default()
    }

    /// The longest the run may last: the latest scenario end, plus the
    /// longest graceful stop.
    pub fn planned_duration(&self) -> Duration {
        let grace = self.scenarios.iter().map(|s| s.graceful_stop).max().unwrap_or_default();
        self.scenarios_end() + grace
    }
}
