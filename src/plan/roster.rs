//! What a run's results are keyed by: its endpoints' and scenarios' names
//! and shapes. A validated [`Plan`](super::Plan) has one, and so does a
//! plan read back from `run.json` ([`PlanRecord`](super::record::PlanRecord)),
//! so the evaluator judges a live run and a file alike.

use serde::Deserialize;

use super::Executor;

/// The endpoints and scenarios, in the plan's order (results index them by
/// position).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Roster {
    /// Endpoint names.
    pub endpoints: Vec<String>,
    /// The scenarios.
    pub scenarios: Vec<RosterScenario>,
    /// Whether the plan has a `[rollout]`, so results are split by phase.
    pub has_rollout: bool,
    /// The endpoint whose requests submit the events the sink correlates
    /// (`[sink] correlate.endpoint`), when there is one: the `delivery_*`
    /// metrics measure what it sent.
    pub delivery_endpoint: Option<String>,
}

/// One scenario: its name, its load shape and the endpoints it sends to.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RosterScenario {
    /// Its name.
    pub name: String,
    /// Its executor.
    pub executor: Executor,
    /// `(endpoint index, weight)`.
    pub endpoints: Vec<(usize, u32)>,
}

impl Roster {
    /// The number of phases results are split into: 3 with a rollout, else 1.
    pub fn phases(&self) -> usize {
        if self.has_rollout { 3 } else { 1 }
    }
}

impl super::Plan {
    /// The plan's roster.
    pub fn roster(&self) -> Roster {
        Roster {
            endpoints: self.endpoints.iter().map(|e| e.name.clone()).collect(),
            scenarios: self
                .scenarios
                .iter()
                .map(|s| RosterScenario {
                    name: s.name.clone(),
                    executor: s.executor.clone(),
                    endpoints: s.endpoints.clone(),
                })
                .collect(),
            has_rollout: self.rollout.is_some(),
            delivery_endpoint: self
                .sink
                .as_ref()
                .and_then(|s| s.correlate.as_ref())
                .map(|c| c.endpoint.clone()),
        }
    }
}
