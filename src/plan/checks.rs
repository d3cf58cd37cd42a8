//! `[thresholds]` and `[requirements]`: what must hold, as metric
//! expressions already parsed.

use serde::Serialize;

use super::expr::{Condition, MetricSelector};

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

/// A plan's thresholds and requirements, parsed.
#[derive(Debug, Clone, Default)]
pub struct Checks {
    /// Thresholds, in file order.
    pub thresholds: Vec<Threshold>,
    /// Requirements, in file order.
    pub requirements: Vec<Requirement>,
}

/// The names tag filters may refer to.
#[derive(Debug, Clone, Default)]
pub struct CheckNames {
    /// The endpoints' names.
    pub endpoints: Vec<String>,
    /// The scenarios' names.
    pub scenarios: Vec<String>,
    /// Event names: `rollout` when the plan has one, and each fault's name.
    pub events: Vec<String>,
    /// The probes' names.
    pub probes: Vec<String>,
    /// Whether the plan has a `[rollout]`, so phases exist.
    pub has_rollout: bool,
}
