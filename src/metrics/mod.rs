//! Metrics: HDR histograms, per-key statistics, the per-worker recorder, the
//! aggregator that builds totals and the per-second timeline, expression
//! evaluation, and `RunResult`, the shape of `run.json`.

pub(crate) mod aggregate;
pub mod availability;
pub mod delivery;
pub mod deploy;
pub mod duet;
pub mod eval;
pub mod hist;
pub mod hlog;
pub mod hlog_read;
pub mod judge;
pub mod live;
pub mod merge;
pub(crate) mod outcomes;
pub mod raw;
pub mod readback;
pub(crate) mod recorder;
pub mod recover;
pub mod result;
pub mod rows;
pub mod setup;
pub(crate) mod stats;
pub(crate) mod views;

pub use crate::plan::registry::ErrorClass;
pub use aggregate::{Aggregator, Load};
pub use hist::Hist;
pub use outcomes::OutcomeLog;
pub use recorder::{Delta, GenStats, Recorder};
pub use result::RunResult;
pub use stats::{Outcome, Sample, Stats};
