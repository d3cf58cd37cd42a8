//! `[[scenario]]`: how load is generated, by an executor of the open model
//! (arrival rates) or the closed model (VUs, iterations).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;

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
    /// Added to this scenario's `{{vu}}` numbers: the VUs (or, in the open
    /// model, the in-flight slots) of the shards before this one in a
    /// sharded run (`--shard`), so numbers stay unique across shards.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub vu_offset: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A uniform random pause `min..=max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThinkTime {
    /// Shortest pause.
    #[serde(with = "duration::serde_ms")]
    pub min: Duration,
    /// Longest pause.
    #[serde(with = "duration::serde_ms")]
    pub max: Duration,
}

/// One stage of a ramping executor: move linearly to `target` over `duration`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    /// How long the ramp takes.
    #[serde(with = "duration::serde_ms")]
    pub duration: Duration,
    /// Requests per second (arrival rate) or VUs at the end of the stage.
    pub target: f64,
}

/// The six k6 executors. Rates are normalized to per-second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

    /// The most VUs a closed-model executor runs at once (a ramp's
    /// highest target, rounded up); 0 for open-model ones.
    pub fn max_vus(&self) -> u32 {
        match self {
            Executor::ConstantVus { vus, .. }
            | Executor::PerVuIterations { vus, .. }
            | Executor::SharedIterations { vus, .. } => *vus,
            Executor::RampingVus { start_vus, stages } => {
                stages.iter().map(|s| s.target.ceil() as u32).fold(*start_vus, u32::max)
            }
            Executor::ConstantArrivalRate { .. } | Executor::RampingArrivalRate { .. } => 0,
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
