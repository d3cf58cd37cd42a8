//! A run's plan read back from `run.json`, so a run can be judged again
//! without the TOML it came from: its names, its scenarios' shapes, and its
//! thresholds and requirements as written, parsed again by the same grammar
//! and checked against the same registry as a plan file's.

use std::path::Path;

use serde::Deserialize;

use super::checks::{CheckNames, Checks};
use super::error::PlanError;
use super::raw::{OneOf, RawRequirement, RawThreshold};
use super::report::ReportConfig;
use super::roster::{Roster, RosterScenario};

/// The parts of `run.json`'s `plan` that judging needs. Fields it does not
/// need are ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct PlanRecord {
    /// The plan's name.
    pub name: String,
    /// The plan's id.
    #[serde(default)]
    pub id: Option<String>,
    /// The endpoints, in order.
    pub endpoints: Vec<Named>,
    /// The scenarios, in order.
    pub scenarios: Vec<RosterScenario>,
    /// The thresholds, in file order.
    #[serde(default)]
    pub thresholds: Vec<ThresholdRecord>,
    /// The requirements, in file order.
    #[serde(default)]
    pub requirements: Vec<RequirementRecord>,
    /// `[rollout]`, when the plan had one (only its presence matters here).
    #[serde(default)]
    pub rollout: Option<serde_json::Value>,
    /// The faults (their names are events).
    #[serde(default)]
    pub faults: Vec<Named>,
    /// The probes.
    #[serde(default)]
    pub probes: Vec<Named>,
    /// `[sink]`, when the plan had one (only what correlates matters here).
    #[serde(default)]
    pub sink: Option<SinkRecord>,
    /// `[report]`, when the plan had one.
    #[serde(default)]
    pub report: ReportConfig,
}

/// `[sink]` as recorded: the endpoint whose requests it correlates.
#[derive(Debug, Clone, Deserialize)]
pub struct SinkRecord {
    /// `correlate`, when the sink matched deliveries with submissions.
    #[serde(default)]
    pub correlate: Option<CorrelateRecord>,
}

/// `[sink] correlate` as recorded.
#[derive(Debug, Clone, Deserialize)]
pub struct CorrelateRecord {
    /// The endpoint whose requests submit events.
    pub endpoint: String,
}

/// Anything with a name.
#[derive(Debug, Clone, Deserialize)]
pub struct Named {
    /// The name.
    pub name: String,
}

/// A threshold as recorded.
#[derive(Debug, Clone, Deserialize)]
pub struct ThresholdRecord {
    /// The selector as written.
    pub metric: String,
    /// The condition as written.
    pub expression: String,
    /// Whether it stopped the run when it failed.
    #[serde(default)]
    pub abort_on_fail: bool,
}

/// A requirement as recorded.
#[derive(Debug, Clone, Deserialize)]
pub struct RequirementRecord {
    /// Its name.
    pub name: String,
    /// Its target, for people.
    pub target: String,
    /// The check as written.
    pub check: String,
    /// The plan's note.
    #[serde(default)]
    pub note: Option<String>,
}

impl PlanRecord {
    /// Reads a recorded plan; `source` names the file in errors.
    pub fn from_json(source: &Path, plan: &serde_json::Value) -> Result<PlanRecord, PlanError> {
        serde_json::from_value(plan.clone()).map_err(|e| {
            PlanError::new(
                source,
                "plan".to_string(),
                format!("the recorded plan does not read back: {e}"),
            )
        })
    }

    /// The roster results are keyed by.
    pub fn roster(&self) -> Roster {
        Roster {
            endpoints: self.endpoints.iter().map(|e| e.name.clone()).collect(),
            scenarios: self.scenarios.clone(),
            has_rollout: self.rollout.is_some(),
            delivery_endpoint: self
                .sink
                .as_ref()
                .and_then(|s| s.correlate.as_ref())
                .map(|c| c.endpoint.clone()),
        }
    }

    /// The names a check's tags may refer to.
    pub fn names(&self) -> CheckNames {
        let mut events: Vec<String> = self.faults.iter().map(|f| f.name.clone()).collect();
        if self.rollout.is_some() {
            events.insert(0, "rollout".to_string());
        }
        CheckNames {
            endpoints: self.endpoints.iter().map(|e| e.name.clone()).collect(),
            scenarios: self.scenarios.iter().map(|s| s.name.clone()).collect(),
            events,
            probes: self.probes.iter().map(|p| p.name.clone()).collect(),
            has_rollout: self.rollout.is_some(),
        }
    }

    /// The recorded thresholds and requirements, parsed and checked again.
    pub fn checks(&self, source: &Path) -> Result<Checks, PlanError> {
        let mut thresholds: Vec<(String, Vec<OneOf<RawThreshold>>)> = Vec::new();
        for t in &self.thresholds {
            let item = OneOf::Map(RawThreshold {
                threshold: t.expression.clone(),
                abort_on_fail: t.abort_on_fail,
            });
            match thresholds.last_mut() {
                Some((metric, items)) if *metric == t.metric => items.push(item),
                _ => thresholds.push((t.metric.clone(), vec![item])),
            }
        }
        let requirements = self
            .requirements
            .iter()
            .map(|r| RawRequirement {
                name: r.name.clone(),
                target: r.target.clone(),
                check: r.check.clone(),
                note: r.note.clone(),
            })
            .collect();
        super::validate::recorded_checks(source, thresholds, requirements, &self.names())
    }
}
