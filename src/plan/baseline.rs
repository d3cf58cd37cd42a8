//! `[baseline]`: what a run is compared with, and how strict the
//! comparison is. `docs/baselines.md` explains every knob.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::duration;
use super::target::Target;

/// Whether the tail is compared with the head in a rollout run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum HeadVsTail {
    /// Not compared.
    Off,
    /// Compared and reported; the exit code does not change (the default).
    #[default]
    Report,
    /// Compared; a regression fails the verdict.
    Fail,
}

/// The smallest change each metric must show, beyond the relative
/// `min_effect`, before it can be a regression: so +25% on a 5 ms
/// endpoint still counts, and +40% on 50 µs does not.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Floors {
    /// `p50` of `http_req_duration`.
    #[serde(with = "duration::serde_ms")]
    pub p50: Duration,
    /// `p95`.
    #[serde(with = "duration::serde_ms")]
    pub p95: Duration,
    /// `p99`.
    #[serde(with = "duration::serde_ms")]
    pub p99: Duration,
    /// `p95` of delivery latency (the sink's).
    #[serde(with = "duration::serde_ms")]
    pub delivery: Duration,
    /// The error rate, as a fraction of requests (0.001 = 0.1 points).
    pub error_rate: f64,
    /// Throughput, requests per second (closed model only).
    pub throughput: f64,
    /// Dropped sends, as a fraction of scheduled sends (open model).
    pub dropped: f64,
}

impl Default for Floors {
    fn default() -> Self {
        Floors {
            p50: Duration::from_micros(500),
            p95: Duration::from_micros(500),
            p99: Duration::from_millis(1),
            delivery: Duration::from_millis(1),
            error_rate: 0.001,
            throughput: 1.0,
            dropped: 0.001,
        }
    }
}

/// `[baseline]`, with its defaults when the plan has none.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BaselineConfig {
    /// The store file (`baselines/<id>.json`), relative to the plan's
    /// folder when written relative; `--baseline` overrides it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// How many accepted runs the store keeps (20).
    pub history: usize,
    /// A second target sent the same requests at the same time (duet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// The smallest relative change that can be a regression (0.05).
    pub min_effect: f64,
    /// The absolute floors per metric.
    pub floors: Floors,
    /// The tail against the head in a rollout run.
    pub head_vs_tail: HeadVsTail,
    /// The start of the tail left out of head vs tail (5 s, at most half
    /// the tail).
    #[serde(with = "duration::serde_ms")]
    pub warmup: Duration,
}

/// The default `history`.
pub const DEFAULT_HISTORY: usize = 20;
/// The most runs a store may keep.
pub const MAX_HISTORY: usize = 1000;
/// The default `min_effect`.
pub const DEFAULT_MIN_EFFECT: f64 = 0.05;
/// The default `warmup`.
pub const DEFAULT_WARMUP: Duration = Duration::from_secs(5);

impl Default for BaselineConfig {
    fn default() -> Self {
        BaselineConfig {
            path: None,
            history: DEFAULT_HISTORY,
            target: None,
            min_effect: DEFAULT_MIN_EFFECT,
            floors: Floors::default(),
            head_vs_tail: HeadVsTail::default(),
            warmup: DEFAULT_WARMUP,
        }
    }
}

impl BaselineConfig {
    /// The warm-up left out of a tail of length `tail`: `warmup`, at most
    /// half the tail.
    pub fn warmup_for(&self, tail: Duration) -> Duration {
        self.warmup.min(tail / 2)
    }
}
