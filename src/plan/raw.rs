//! The plan file as written: serde structs that mirror `loadcheck.toml`.
//!
//! Nothing here does I/O or checks more than shapes and types; `validate`
//! turns a [`RawPlan`] into a `Plan`. Every table denies unknown fields, and
//! an unknown field's error carries the nearest valid name.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::path::Path;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Unexpected, Visitor, value::MapAccessDeserializer};

use super::duration::DurationStr;
use super::error::PlanError;

/// Parses plan text into raw structs; errors carry the line and field.
pub(super) fn parse(path: &Path, text: &str) -> Result<RawPlan, PlanError> {
    toml::from_str(text).map_err(|e| PlanError::from_toml(path, text, &e))
}

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPlan {
    /// `name`: the plan's name.
    pub name: Option<String>,
    /// `id`: the plan's id (a slug of the name by default).
    pub id: Option<String>,
    /// `target`: the base URL.
    pub target: Option<String>,
    /// `timeout`: per request.
    pub timeout: Option<DurationStr>,
    /// `[tls]`.
    pub tls: Option<RawTls>,
    /// `[limits]`.
    pub limits: Option<RawLimits>,
    /// `[vars]`: template variables.
    #[serde(default)]
    pub vars: BTreeMap<String, OneOf<RawVarTable>>,
    /// `[[endpoint]]` blocks.
    #[serde(default, rename = "endpoint")]
    pub endpoints: Vec<RawEndpoint>,
    /// `[[scenario]]` blocks.
    #[serde(rename = "scenario")]
    pub scenarios: Option<Vec<RawScenario>>,
    /// `[load]`, the one-scenario shorthand.
    pub load: Option<RawScenario>,
    /// `[thresholds]`: metric selector → conditions.
    #[serde(default)]
    pub thresholds: BTreeMap<String, Vec<OneOf<RawThreshold>>>,
    /// `[[requirement]]` blocks.
    #[serde(default, rename = "requirement")]
    pub requirements: Vec<RawRequirement>,
    /// `[rollout]`.
    pub rollout: Option<RawRollout>,
    /// `[availability]`.
    pub availability: Option<RawAvailability>,
    /// `[[fault]]` blocks.
    #[serde(default, rename = "fault")]
    pub faults: Vec<RawFault>,
    /// `[[probe]]` blocks.
    #[serde(default, rename = "probe")]
    pub probes: Vec<RawProbe>,
    /// `[signing]`: how requests are signed.
    pub signing: Option<RawSigning>,
    /// `[[setup]]` requests, run once before the load.
    #[serde(default, rename = "setup")]
    pub setups: Vec<RawSetup>,
    /// `[sink]`: the webhook receiver started inside the run.
    pub sink: Option<RawSink>,
    /// `[baseline]`: what the run is compared with.
    pub baseline: Option<RawBaseline>,
    /// `[report]`: title, links and manual sign-off items.
    pub report: Option<RawReport>,
}

/// `[report]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReport {
    /// The reports' title.
    pub title: Option<String>,
    /// `links = [{ name = "…", url = "…" }]`.
    #[serde(default)]
    pub links: Vec<RawReportLink>,
    /// `[[report.signoff]]`.
    #[serde(default)]
    pub signoff: Vec<RawSignoffItem>,
}

/// One of `[report] links`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReportLink {
    /// Its text.
    pub name: String,
    /// Its URL.
    pub url: String,
}

/// `[[report.signoff]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSignoffItem {
    /// What must hold.
    pub name: String,
    /// Its target, as text.
    pub target: Option<String>,
    /// How it is checked.
    pub note: Option<String>,
}

/// Only `[thresholds]` and `[[requirement]]` of a plan file (`loadcheck
/// verdict --plan`); every other field is ignored.
#[derive(Debug, Deserialize)]
pub(super) struct RawChecks {
    /// `[thresholds]`.
    #[serde(default)]
    pub thresholds: BTreeMap<String, Vec<OneOf<RawThreshold>>>,
    /// `[[requirement]]` blocks.
    #[serde(default, rename = "requirement")]
    pub requirements: Vec<RawRequirement>,
}

/// `[signing]` (in a plan, per endpoint, in `[sink]` and in `sink.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSigning {
    /// The scheme's name.
    pub scheme: String,
    /// The environment variable(s) holding the secret; several only for
    /// key rotation.
    pub secret_env: Option<OneOf<NoTable>>,
    /// How old a timestamp a verifier accepts.
    pub tolerance: Option<DurationStr>,
    /// Template for the message id (`standard-webhooks`, `custom`).
    pub id: Option<String>,
    /// `custom`: the message template.
    pub message: Option<String>,
    /// `custom`: sha1, sha256 or sha512.
    pub algorithm: Option<String>,
    /// `custom`: hex, base64 or base64url.
    pub encoding: Option<String>,
    /// `custom`: header name → value template.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// `[[setup]]`: a request run once before the load.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSetup {
    /// Unique name.
    pub name: String,
    /// HTTP method.
    pub method: Option<String>,
    /// Path template or absolute URL.
    pub path: String,
    /// Header name → value template.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The body, in one of its forms.
    pub body: Option<OneOf<RawBodyTable>>,
    /// Statuses that count as success.
    #[serde(default)]
    pub expect: Vec<u16>,
    /// Variable name → `/json/pointer` or `header:name`.
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
    /// `false` to send it unsigned.
    pub sign: Option<bool>,
}

/// `[sink]` in a plan, or the whole of `sink.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSink {
    /// `host:port` to listen on.
    pub listen: Option<String>,
    /// How deliveries are verified.
    pub signing: Option<RawSigning>,
    /// Where a delivery's id is: `{ header = "…" }` or `{ pointer = "/…" }`.
    pub id: Option<RawSinkId>,
    /// Largest body accepted, in bytes.
    pub max_body: Option<u64>,
    /// After this, an undelivered event is lost; a later one is late.
    pub deadline: Option<DurationStr>,
    /// The most delivery ids the ledger keeps.
    pub max_ids: Option<u64>,
    /// How long a connection has to send a whole request head.
    pub header_timeout: Option<DurationStr>,
    /// The most connections served at once.
    pub max_connections: Option<u64>,
    /// Which endpoint's submissions deliveries are matched with.
    pub correlate: Option<RawCorrelate>,
    /// Programmed answers.
    #[serde(default, rename = "route")]
    pub routes: Vec<RawRoute>,
}

/// `[sink] id`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSinkId {
    /// A header holding the id.
    pub header: Option<String>,
    /// A JSON pointer into the body.
    pub pointer: Option<String>,
}

/// `[sink] correlate`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCorrelate {
    /// The endpoint whose accepted requests are the submissions.
    pub endpoint: String,
    /// A JSON pointer into that endpoint's request body: the event's id.
    pub pointer: String,
}

/// `[[sink.route]]`: how the sink answers one path. The same table is what
/// the sink's control API takes.
pub(super) type RawRoute = super::sink::RouteConfig;

/// `[rollout]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRollout {
    /// Load before the rollout.
    pub head: Option<DurationStr>,
    /// Load after it.
    pub tail: Option<DurationStr>,
    /// The longest the rollout may take.
    pub timeout: Option<DurationStr>,
    /// What fires or marks it.
    pub trigger: Option<RawTrigger>,
    /// The response header carrying the app version.
    pub version_header: Option<String>,
    /// Version watcher: how long the old version must be gone.
    pub settle: Option<DurationStr>,
    /// Failed requests the rollout may have and still pass.
    pub tolerance: Option<u64>,
}

/// `trigger = { command = … }` or `{ github_workflow = {…} }` or
/// `{ github_deployment = {…} }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTrigger {
    /// A shell string.
    pub command: Option<String>,
    /// A workflow to dispatch.
    pub github_workflow: Option<RawWorkflow>,
    /// Deployments to watch.
    pub github_deployment: Option<RawDeployment>,
}

/// `github_workflow = {…}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWorkflow {
    /// `owner/name`.
    pub repo: String,
    /// The workflow file name or id.
    pub workflow: String,
    /// The git ref.
    #[serde(rename = "ref")]
    pub git_ref: String,
    /// Dispatch inputs.
    #[serde(default)]
    pub inputs: BTreeMap<String, String>,
    /// Poll interval.
    pub poll: Option<DurationStr>,
}

/// `github_deployment = {…}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDeployment {
    /// `owner/name`.
    pub repo: String,
    /// The environment.
    pub environment: String,
    /// Only this commit's deployments.
    pub sha: Option<String>,
    /// Poll interval.
    pub poll: Option<DurationStr>,
}

/// `[baseline]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBaseline {
    /// The store file.
    pub path: Option<String>,
    /// How many runs the store keeps.
    pub history: Option<i64>,
    /// The duet target.
    pub target: Option<String>,
    /// The smallest relative change: `0.05` or `"5%"`.
    pub min_effect: Option<RawFraction>,
    /// Per-metric floors.
    pub floors: Option<RawFloors>,
    /// `"off"`, `"report"` or `"fail"`.
    pub head_vs_tail: Option<String>,
    /// The tail's warm-up.
    pub warmup: Option<DurationStr>,
}

/// `[baseline.floors]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFloors {
    /// p50 of `http_req_duration`.
    pub p50: Option<DurationStr>,
    /// p95.
    pub p95: Option<DurationStr>,
    /// p99.
    pub p99: Option<DurationStr>,
    /// Delivery latency p95.
    pub delivery: Option<DurationStr>,
    /// Error rate, a fraction or a percentage.
    pub error_rate: Option<RawFraction>,
    /// Requests per second.
    pub throughput: Option<f64>,
    /// Dropped sends, a fraction or a percentage.
    pub dropped: Option<RawFraction>,
}

/// A fraction written as a number (`0.05`) or a percentage (`"5%"`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawFraction {
    /// `0.05`.
    Number(f64),
    /// `"5%"`.
    Text(String),
}

/// `[availability]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAvailability {
    /// The success-rate objective, e.g. 0.99.
    pub slo: Option<f64>,
    /// The RTO window.
    pub window: Option<DurationStr>,
}

/// `[[fault]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFault {
    /// Unique name.
    pub name: Option<String>,
    /// Offset from the run's start.
    pub at: DurationStr,
    /// The shell string.
    pub run: String,
    /// When to restore.
    pub restore_at: Option<DurationStr>,
    /// The restore shell string.
    pub restore: Option<String>,
}

/// `[[probe]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProbe {
    /// Unique name.
    pub name: String,
    /// Absolute URL.
    pub url: String,
    /// Poll interval.
    pub interval: Option<DurationStr>,
    /// Per-poll timeout.
    pub timeout: Option<DurationStr>,
    /// Up statuses.
    #[serde(default)]
    pub expect: Vec<u16>,
    /// A Prometheus series to read.
    pub metric: Option<String>,
}

/// `[tls]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
    /// Extra CA certificates, relative to the plan.
    pub ca_file: Option<String>,
    /// Skip certificate verification.
    #[serde(default)]
    pub insecure: bool,
    /// curl-style `host:port:addr` entries.
    #[serde(default)]
    pub resolve: Vec<String>,
    /// `"auto"`, `"1.1"` or `"2"`.
    pub http: Option<String>,
    /// Requests sharing one HTTP/2 connection at once.
    pub h2_streams: Option<i64>,
}

/// `[limits]`: caps on what a response may hold.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    /// Bytes of a response head.
    pub response_head: Option<i64>,
    /// Header lines in a response head.
    pub response_headers: Option<i64>,
    /// Bytes of the buffer a body is read through.
    pub body_buffer: Option<i64>,
}

/// A `[vars]` entry written as a table: `{ file = … }` or `{ env = …, secret = … }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVarTable {
    /// Values, one per line of this file.
    pub file: Option<String>,
    /// The value of this environment variable.
    pub env: Option<String>,
    /// Whether the `env` value is a secret.
    pub secret: Option<bool>,
}

/// `[[endpoint]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEndpoint {
    /// Unique name.
    pub name: String,
    /// HTTP method.
    pub method: Option<String>,
    /// Path template or absolute URL.
    pub path: String,
    /// Header name → value template.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The body, in one of its forms.
    pub body: Option<OneOf<RawBodyTable>>,
    /// Statuses that count as success.
    #[serde(default)]
    pub expect: Vec<u16>,
    /// Weight when a scenario gives none.
    pub weight: Option<u32>,
    /// `false` to send unsigned, or a table replacing the plan's `[signing]`.
    pub signing: Option<RawEndpointSigning>,
    /// A negative signing mode: `stale-timestamp`, `wrong-key` or
    /// `tampered-body`.
    pub negative: Option<String>,
}

/// An endpoint's `signing`: `false`, or its own table.
#[derive(Debug, Clone)]
pub(super) enum RawEndpointSigning {
    /// `signing = false` (`true` means the plan's).
    Flag(bool),
    /// `signing = { … }`.
    Table(RawSigning),
}

impl<'de> Deserialize<'de> for RawEndpointSigning {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawEndpointSigning;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("false, true or a [signing] table")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(RawEndpointSigning::Flag(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                RawSigning::deserialize(MapAccessDeserializer::new(map)).map(RawEndpointSigning::Table)
            }
        }
        d.deserialize_any(V)
    }
}

/// A body written as a table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBodyTable {
    /// Fixed bytes from a file.
    pub file: Option<String>,
    /// An inline template.
    pub template: Option<String>,
    /// A template read from a file.
    pub template_file: Option<String>,
}

/// `[[scenario]]` or `[load]`: every executor's options, checked against the
/// executor in `validate`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScenario {
    /// Unique name (absent in `[load]`).
    pub name: Option<String>,
    /// The executor's k6 name.
    pub executor: String,
    /// Endpoint name → weight, or a list of names.
    pub endpoints: Option<OneOf<BTreeMap<String, u32>>>,
    /// Offset from the start of the run.
    pub start_time: Option<DurationStr>,
    /// Time for in-flight requests after the end.
    pub graceful_stop: Option<DurationStr>,
    /// `"MIN..MAX"` or one duration (VU executors).
    pub think_time: Option<String>,
    /// Open model: the most requests in flight.
    pub max_in_flight: Option<u64>,
    /// constant-arrival-rate: iterations per `time_unit`.
    pub rate: Option<f64>,
    /// ramping-arrival-rate: the starting rate.
    pub start_rate: Option<f64>,
    /// The period rates are counted over.
    pub time_unit: Option<DurationStr>,
    /// constant-*: how long.
    pub duration: Option<DurationStr>,
    /// ramping-*: the stages.
    pub stages: Option<Vec<RawStage>>,
    /// Arrival-rate: accepted for k6 compatibility.
    pub pre_allocated_vus: Option<u32>,
    /// Arrival-rate: the default `max_in_flight`.
    pub max_vus: Option<u32>,
    /// VUs (constant-vus, *-iterations).
    pub vus: Option<u32>,
    /// ramping-vus: VUs at the start.
    pub start_vus: Option<u32>,
    /// *-iterations: how many.
    pub iterations: Option<u64>,
    /// *-iterations: the time cap.
    pub max_duration: Option<DurationStr>,
}

/// One `{ duration, target }` stage.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStage {
    /// How long the stage lasts.
    pub duration: DurationStr,
    /// Rate or VUs at its end.
    pub target: f64,
}

/// A threshold written as a table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawThreshold {
    /// The condition.
    pub threshold: String,
    /// Stop the run when it fails.
    #[serde(default)]
    pub abort_on_fail: bool,
}

/// `[[requirement]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRequirement {
    /// Name shown in the report.
    pub name: String,
    /// The target, as text for people.
    pub target: String,
    /// `selector: condition`.
    pub check: String,
    /// An optional note.
    pub note: Option<String>,
}

/// A value that may be written as a string, an array of strings or a table
/// `T`. Which forms a field accepts is [`Shape`]'s business, so a wrong form
/// is a type error reported at its place in the file.
#[derive(Debug, Clone)]
pub(super) enum OneOf<T> {
    /// `"text"`
    Str(String),
    /// `["a", "b"]`
    Seq(Vec<String>),
    /// `{ … }`
    Map(T),
}

/// The forms a [`OneOf`] field accepts, and how to describe them.
pub(super) trait Shape {
    /// Whether a string is accepted.
    const STR: bool;
    /// Whether an array of strings is accepted.
    const SEQ: bool;
    /// What the field expects, for type errors.
    const EXPECTING: &'static str;
}

/// A field that takes a string or an array of strings, never a table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NoTable {}

impl Shape for NoTable {
    const STR: bool = true;
    const SEQ: bool = true;
    const EXPECTING: &'static str = "a string or an array of strings";
}

impl Shape for RawVarTable {
    const STR: bool = false;
    const SEQ: bool = true;
    const EXPECTING: &'static str = "an array of strings, { file = \"…\" } or { env = \"NAME\", secret = true }";
}

impl Shape for RawBodyTable {
    const STR: bool = true;
    const SEQ: bool = false;
    const EXPECTING: &'static str = "a string, { file = \"…\" }, { template = \"…\" } or { template_file = \"…\" }";
}

impl Shape for RawThreshold {
    const STR: bool = true;
    const SEQ: bool = false;
    const EXPECTING: &'static str = "a condition string or { threshold = \"…\", abort_on_fail = … }";
}

impl Shape for BTreeMap<String, u32> {
    const STR: bool = false;
    const SEQ: bool = true;
    const EXPECTING: &'static str = "a table of endpoint name = weight, or an array of endpoint names";
}

impl<'de, T: Deserialize<'de> + Shape> Deserialize<'de> for OneOf<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(OneOfVisitor(PhantomData))
    }
}

struct OneOfVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de> + Shape> Visitor<'de> for OneOfVisitor<T> {
    type Value = OneOf<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if T::STR {
            Ok(OneOf::Str(v.to_string()))
        } else {
            Err(E::invalid_type(Unexpected::Str(v), &self))
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        if !T::SEQ {
            return Err(de::Error::invalid_type(Unexpected::Seq, &self));
        }
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<String>()? {
            items.push(item);
        }
        Ok(OneOf::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(OneOf::Map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse(Path::new("p.toml"), text).unwrap_err().to_string()
    }

    #[test]
    fn parses_a_full_plan() {
        let text = r#"
            target = "http://x"
            timeout = "2s"
            [tls]
            insecure = true
            [vars]
            word = ["a", "b"]
            tok = { env = "T", secret = true }
            [[endpoint]]
            name = "e"
            path = "/"
            body = { template = "{}" }
            [[scenario]]
            name = "s"
            executor = "constant-vus"
            endpoints = ["e"]
            [thresholds]
            "http_reqs" = ["count>1", { threshold = "rate>1", abort_on_fail = true }]
        "#;
        let raw = parse(Path::new("p.toml"), text).unwrap();
        assert_eq!(raw.timeout.unwrap().0.as_secs(), 2);
        assert!(matches!(raw.vars["word"], OneOf::Seq(ref v) if v.len() == 2));
        assert!(matches!(
            raw.vars["tok"],
            OneOf::Map(RawVarTable { secret: Some(true), .. })
        ));
        assert!(matches!(raw.endpoints[0].body, Some(OneOf::Map(_))));
        assert!(matches!(raw.scenarios.unwrap()[0].endpoints, Some(OneOf::Seq(_))));
        assert_eq!(raw.thresholds["http_reqs"].len(), 2);
    }

    #[test]
    fn unknown_fields_suggest_the_nearest() {
        let e = err("target = \"x\"\n[[scenario]]\nname = \"a\"\nexecutr = \"constant-vus\"\n");
        assert!(
            e.starts_with("p.toml:4:1: field `scenario[0].executr`: unknown field \"executr\""),
            "{e}"
        );
        assert!(e.ends_with("did you mean \"executor\"?"), "{e}");
        let e = err("targt = \"x\"\n");
        assert!(
            e.contains("p.toml:1:1") && e.contains("did you mean \"target\"?"),
            "{e}"
        );
        let e = err("[vars]\nw = { fil = \"x\" }\n");
        assert!(e.contains(":2:") && e.contains("did you mean \"file\"?"), "{e}");
    }

    #[test]
    fn wrong_forms_and_types_have_lines() {
        let e = err("name = \"n\"\n[vars]\nw = \"single\"\n");
        assert!(
            e.contains("p.toml:3:5: field `vars.w`") && e.contains("an array of strings"),
            "{e}"
        );
        let e = err("[[scenario]]\nexecutor = \"constant-vus\"\nduration = \"5x\"\n");
        assert!(
            e.contains("p.toml:3:12: field `scenario[0].duration`: unknown unit \"x\""),
            "{e}"
        );
        let e = err("[[scenario]]\nname = \"a\"\n");
        assert!(
            e.contains("p.toml:1:1: field `scenario[0].executor`: missing required field"),
            "{e}"
        );
        let e = err("target = = 1\n");
        assert!(e.starts_with("p.toml:1:") && e.contains("invalid TOML"), "{e}");
    }
}
