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

pub mod duration;
pub mod error;
pub mod expr;
mod raw;
pub mod rollout;
pub mod signing;
pub mod template;
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

pub use error::PlanError;
pub use expr::{Aggregation, CmpOp, Condition, MetricSelector};
pub use rollout::{Availability, DeploymentSpec, Fault, Probe, Rollout, Trigger, WorkflowSpec};
pub use signing::{Capture, Correlate, CustomPlan, EndpointSigning, PlanSink, Setup, Signing};
pub use template::{Part, Template};

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
}

/// Reads, parses and validates a plan file.
pub fn load(path: &Path, overrides: &Overrides) -> Result<Plan, PlanError> {
    let text = std::fs::read_to_string(path).map_err(|e| PlanError::io(path, &e))?;
    parse(path, &text, overrides)
}

/// Parses and validates plan text; `path` is only used in messages.
pub fn parse(path: &Path, text: &str, overrides: &Overrides) -> Result<Plan, PlanError> {
    let raw = raw::parse(path, text)?;
    validate::validate(path, text, raw, overrides)
}

/// [`parse`] with the environment read through `env` (the demo supplies
/// its own webhook secret this way).
pub fn parse_with_env(
    path: &Path,
    text: &str,
    overrides: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Plan, PlanError> {
    let raw = raw::parse(path, text)?;
    validate::validate_with_env(path, text, raw, overrides, env)
}

/// Reads and validates a sink configuration (`loadcheck sink --config`);
/// `listen` replaces the file's own address. Errors name the line and field
/// as a plan's do.
pub fn load_sink(path: &Path, listen: Option<std::net::SocketAddr>) -> Result<crate::sink::SinkConfig, PlanError> {
    let text = std::fs::read_to_string(path).map_err(|e| PlanError::io(path, &e))?;
    parse_sink(path, &text, listen)
}

/// Parses and validates sink configuration text.
pub fn parse_sink(
    path: &Path,
    text: &str,
    listen: Option<std::net::SocketAddr>,
) -> Result<crate::sink::SinkConfig, PlanError> {
    let raw: raw::RawSink = toml::from_str(text).map_err(|e| PlanError::from_toml(path, text, &e))?;
    validate::sink_file(path, text, raw, listen, &|name| std::env::var(name).ok())
}

/// A validated plan. Serializes to the resolved plan recorded in `run.json`,
/// with no secret value in it.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The plan's name (defaults to the file stem).
    pub name: String,
    /// Where the plan was read from.
    pub source: PathBuf,
    /// The base URL requests go to.
    pub target: Target,
    /// Per-request timeout.
    #[serde(with = "duration::serde_ms")]
    pub timeout: Duration,
    /// TLS options for staging targets.
    pub tls: TlsOptions,
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
}

/// A URL's parts, as the engine needs them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// `http` or `https`.
    pub scheme: Scheme,
    /// Host name or IP literal, without brackets.
    pub host: String,
    /// Port (the scheme's default when the URL has none).
    pub port: u16,
    /// Path prefix, without a trailing slash (`""` for the root).
    pub base_path: String,
}

/// The URL scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Plain HTTP/1.1.
    Http,
    /// TLS, with HTTP/2 or HTTP/1.1 by ALPN.
    Https,
}

/// TLS options.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TlsOptions {
    /// Extra CA certificates (PEM) to trust.
    pub ca_file: Option<PathBuf>,
    /// Skip certificate verification. Only ever set explicitly.
    pub insecure: bool,
    /// Like curl's `--resolve`: `(host, port) -> address` to connect to
    /// instead of resolving `host`.
    pub resolve: Vec<Resolve>,
    /// Which HTTP version to speak.
    pub http: HttpVersion,
    /// How many requests may share one HTTP/2 connection at once (h2load's
    /// `-m`); `None` leaves it to the model: 1 for VUs, 10 in the open model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub h2_streams: Option<u32>,
}

/// `[tls] http`: which HTTP version the engine speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub enum HttpVersion {
    /// Over TLS, HTTP/2 or HTTP/1.1 as ALPN picks; HTTP/1.1 on `http://`.
    #[default]
    #[serde(rename = "auto")]
    Auto,
    /// HTTP/1.1 only (ALPN offers only `http/1.1`).
    #[serde(rename = "1.1")]
    Http1,
    /// HTTP/2 only: ALPN `h2` over TLS, prior knowledge (h2c) on `http://`.
    #[serde(rename = "2")]
    Http2,
}

/// One `--resolve`-style override.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resolve {
    /// The host name as in the URL.
    pub host: String,
    /// The port as in the URL.
    pub port: u16,
    /// The address to connect to instead.
    pub addr: std::net::IpAddr,
}

/// A scenario: one executor and the endpoints it sends to.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    /// Unique name.
    pub name: String,
    /// The load shape.
    pub executor: Executor,
    /// `(endpoint index, weight)`, weights > 0, at least one.
    pub endpoints: Vec<(usize, u32)>,
    /// Offset from the start of the run.
    #[serde(with = "duration::serde_ms")]
    pub start_time: Duration,
    /// How long in-flight iterations may finish after the scenario ends.
    #[serde(with = "duration::serde_ms")]
    pub graceful_stop: Duration,
    /// Pause between a VU's iterations (closed model only).
    pub think_time: Option<ThinkTime>,
    /// Open model: the most requests in flight; a send beyond it is dropped
    /// and counted. Resolved: never unbounded.
    pub max_in_flight: usize,
}

/// A uniform random pause `min..=max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ThinkTime {
    /// Shortest pause.
    #[serde(with = "duration::serde_ms")]
    pub min: Duration,
    /// Longest pause.
    #[serde(with = "duration::serde_ms")]
    pub max: Duration,
}

/// One stage of a ramping executor: move linearly to `target` over `duration`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Stage {
    /// How long the ramp takes.
    #[serde(with = "duration::serde_ms")]
    pub duration: Duration,
    /// Requests per second (arrival rate) or VUs at the end of the stage.
    pub target: f64,
}

/// The six k6 executors. Rates are normalized to per-second.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "executor", rename_all = "kebab-case")]
pub enum Executor {
    /// Open model, fixed rate.
    ConstantArrivalRate {
        /// Requests per second.
        rate: f64,
        /// How long.
        #[serde(with = "duration::serde_ms")]
        duration: Duration,
    },
    /// Open model, rate ramped through stages.
    RampingArrivalRate {
        /// Requests per second at the start.
        start_rate: f64,
        /// The stages.
        stages: Vec<Stage>,
    },
    /// Closed model, fixed VUs.
    ConstantVus {
        /// VUs.
        vus: u32,
        /// How long.
        #[serde(with = "duration::serde_ms")]
        duration: Duration,
    },
    /// Closed model, VUs ramped through stages.
    RampingVus {
        /// VUs at the start.
        start_vus: u32,
        /// The stages.
        stages: Vec<Stage>,
    },
    /// Closed model: `iterations` shared by all VUs.
    SharedIterations {
        /// VUs.
        vus: u32,
        /// Total iterations.
        iterations: u64,
        /// Cap on the scenario's time.
        #[serde(with = "duration::serde_ms")]
        max_duration: Duration,
    },
    /// Closed model: each VU runs `iterations`.
    PerVuIterations {
        /// VUs.
        vus: u32,
        /// Iterations per VU.
        iterations: u64,
        /// Cap on the scenario's time.
        #[serde(with = "duration::serde_ms")]
        max_duration: Duration,
    },
}

/// An endpoint: one kind of request.
#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    /// Unique name, used in tags and reports.
    pub name: String,
    /// HTTP method.
    #[serde(serialize_with = "ser_method")]
    pub method: http::Method,
    /// An absolute URL's scheme, host and port, when the endpoint does not
    /// go to the plan's target.
    pub origin: Option<Target>,
    /// Path and query template, starting with `/` (the target's base path is
    /// prepended by the engine).
    pub path: Template,
    /// Header templates, in file order.
    pub headers: Vec<(String, Template)>,
    /// The body, if any.
    pub body: Option<Body>,
    /// Statuses that count as success (default: 200..=399; 401 and 403
    /// for a negative signing mode).
    pub expect: Vec<u16>,
    /// How its requests are signed, if they are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing: Option<EndpointSigning>,
}

pub(crate) fn ser_method<S: serde::Serializer>(m: &http::Method, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(m.as_str())
}

/// A request body.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Body {
    /// Fixed bytes (inline text or a file's contents).
    Fixed(#[serde(serialize_with = "ser_len")] bytes::Bytes),
    /// A template rendered per request.
    Template(Template),
}

fn ser_len<S: serde::Serializer>(b: &bytes::Bytes, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("<{} bytes>", b.len()))
}

/// A template variable.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Var {
    /// Values picked at random per use.
    List(Vec<String>),
    /// A secret from the environment: never serialized, redacted from every
    /// output.
    Secret {
        /// The environment variable it came from.
        env: String,
        /// The value (never serialized).
        #[serde(skip)]
        value: String,
    },
}

/// A threshold: a condition on a metric.
#[derive(Debug, Clone, Serialize)]
pub struct Threshold {
    /// The metric selector as written, e.g. `http_req_duration{endpoint:search}`.
    pub metric: String,
    /// The parsed selector.
    #[serde(skip)]
    pub selector: MetricSelector,
    /// The condition as written, e.g. `p(95)<500`.
    pub expression: String,
    /// The parsed condition.
    #[serde(skip)]
    pub condition: Condition,
    /// Stop the run as soon as it fails.
    pub abort_on_fail: bool,
}

/// A requirement: a named, human-targeted check.
#[derive(Debug, Clone, Serialize)]
pub struct Requirement {
    /// Its name, shown in the report.
    pub name: String,
    /// The target, as text for people (`"< 200 ms"`).
    pub target: String,
    /// The check as written: `metric{tags}: condition`.
    pub check: String,
    /// The parsed selector.
    #[serde(skip)]
    pub selector: MetricSelector,
    /// The parsed condition.
    #[serde(skip)]
    pub condition: Condition,
    /// An optional note from the plan (never a claim).
    pub note: Option<String>,
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

    /// The planned length of the run: the latest scenario end, plus the
    /// longest graceful stop.
    pub fn planned_duration(&self) -> Duration {
        let end = self
            .scenarios
            .iter()
            .map(|s| s.start_time + s.executor.duration())
            .max()
            .unwrap_or_default();
        let grace = self.scenarios.iter().map(|s| s.graceful_stop).max().unwrap_or_default();
        end + grace
    }
}

impl Executor {
    /// The scheduled length (for iterations executors, their cap).
    pub fn duration(&self) -> Duration {
        match self {
            Executor::ConstantArrivalRate { duration, .. } | Executor::ConstantVus { duration, .. } => *duration,
            Executor::RampingArrivalRate { stages, .. } | Executor::RampingVus { stages, .. } => {
                stages.iter().map(|s| s.duration).sum()
            }
            Executor::SharedIterations { max_duration, .. } | Executor::PerVuIterations { max_duration, .. } => {
                *max_duration
            }
        }
    }

    /// Whether this executor is open-model (arrival rate).
    pub fn is_open(&self) -> bool {
        matches!(
            self,
            Executor::ConstantArrivalRate { .. } | Executor::RampingArrivalRate { .. }
        )
    }

    /// The k6 name of the executor.
    pub fn name(&self) -> &'static str {
        match self {
            Executor::ConstantArrivalRate { .. } => "constant-arrival-rate",
            Executor::RampingArrivalRate { .. } => "ramping-arrival-rate",
            Executor::ConstantVus { .. } => "constant-vus",
            Executor::RampingVus { .. } => "ramping-vus",
            Executor::SharedIterations { .. } => "shared-iterations",
            Executor::PerVuIterations { .. } => "per-vu-iterations",
        }
    }
}
