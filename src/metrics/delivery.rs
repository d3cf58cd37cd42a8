//! What the webhook sink measured, for `run.json`'s `delivery`: its
//! counters, and the deliveries matched with loadcheck's submissions. The
//! sink produces them; they live here because `RunResult` and the
//! evaluator read them.

use serde::{Deserialize, Serialize};

use super::hist::Hist;
use super::hist::Latency;

/// Everything the sink measured, for `run.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliveryReport {
    /// The counters.
    #[serde(flatten)]
    pub stats: SinkStats,
    /// Deliveries matched with submissions, when the run made any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub correlation: Option<Correlation>,
    /// What the sink's limits turned away (absent from files written
    /// before they were recorded).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub limits: Option<SinkLimits>,
}

/// What the sink's limits (`max_ids`, `max_connections`,
/// `header_timeout`) turned away over the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinkLimits {
    /// New ids the full ledger did not record: accepted as programmed, not
    /// deduplicated, and matched with no submission.
    pub ids_over_cap: u64,
    /// Connections closed at once because `max_connections` were open.
    pub connections_refused: u64,
    /// Connections closed for sending no whole request head within
    /// `header_timeout`.
    pub header_timeouts: u64,
}

/// A snapshot of the counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SinkStats {
    /// Every request to a delivery route.
    pub posts: u64,
    /// Bodies over the limit (413).
    pub too_large: u64,
    /// Signature checks: valid, invalid and missing (all zero when the sink
    /// verifies nothing).
    pub signatures: Signatures,
    /// Bodies or ids that could not be read (400).
    pub malformed: u64,
    /// Accepted deliveries (2xx).
    pub accepted: u64,
    /// Accepted deliveries of an id already accepted.
    pub duplicates: u64,
    /// Programmed failures (a failing status, a reset or a hang).
    pub failed: u64,
    /// Of those, resets.
    pub resets: u64,
    /// Of those, hangs.
    pub hangs: u64,
    /// Distinct delivery ids seen.
    pub ids: u64,
}

/// Signature outcomes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Signatures {
    /// Whether the sink checks signatures.
    pub verified: bool,
    /// Valid.
    pub valid: u64,
    /// Present but wrong or stale.
    pub invalid: u64,
    /// Absent.
    pub missing: u64,
    /// valid / (valid + invalid + missing), when any was checked.
    pub rate: Option<f64>,
}

/// Deliveries matched with loadcheck's submissions.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Correlation {
    /// Events loadcheck submitted and the service accepted.
    pub submitted: u64,
    /// Of those, delivered at least once.
    pub delivered: u64,
    /// Never delivered by the end of the run and its drain.
    pub lost: u64,
    /// Delivered, but later than the deadline after submission.
    pub late: u64,
    /// The deadline, ms.
    pub deadline_ms: u64,
    /// Ids delivered (accepted) that loadcheck never submitted.
    pub unsubmitted_deliveries: u64,
    /// Verified POSTs per submitted event (retry amplification).
    pub posts_per_event: Option<f64>,
    /// End-to-end latency, submission sent → first accepted delivery.
    pub latency_ms: Option<Latency>,
    /// That latency's HDR histogram (µs), V2-deflate, base64.
    pub hdr: Option<String>,
    /// The file in the output folder with the same latency per second of
    /// submission (`delivery.hlog`), when anything was delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_log: Option<String>,
    /// The histogram itself, for thresholds.
    #[serde(skip)]
    pub hist: Hist,
}
