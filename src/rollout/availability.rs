//! Availability analysis (being written).

use std::time::Duration;

use crate::metrics::OutcomeLog;

/// The analysis.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AvailabilityResult {
    /// SLO.
    pub slo: f64,
    /// Window.
    pub window_s: f64,
    /// Resolution.
    pub resolution_ms: f64,
    /// Downtime.
    pub downtime_s: f64,
    /// Longest.
    pub longest_outage_s: f64,
    /// Outages.
    pub outages: Vec<Outage>,
    /// Events.
    pub events: Vec<EventAvailability>,
}

/// An outage.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Outage {
    /// Start.
    pub start_s: f64,
    /// End.
    pub end_s: f64,
    /// Requests.
    pub requests: u64,
    /// Failed.
    pub failed: u64,
}

/// Per event.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EventAvailability {
    /// Name.
    pub event: String,
    /// At.
    pub at_s: f64,
    /// TTD.
    pub time_to_detect_s: Option<f64>,
    /// RTO.
    pub rto_s: Option<f64>,
    /// Recovered.
    pub recovered: bool,
}

/// An event.
pub struct EventMark {
    /// Name.
    pub name: String,
    /// Offset.
    pub at: Duration,
}

/// Analyzes.
pub fn analyze(
    _log: &OutcomeLog,
    _events: &[EventMark],
    slo: f64,
    window: Duration,
    resolution: Duration,
    _end: Duration,
) -> AvailabilityResult {
    AvailabilityResult {
        slo,
        window_s: window.as_secs_f64(),
        resolution_ms: resolution.as_secs_f64() * 1000.0,
        downtime_s: 0.0,
        longest_outage_s: 0.0,
        outages: Vec::new(),
        events: Vec::new(),
    }
}
