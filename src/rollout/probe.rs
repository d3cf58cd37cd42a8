//! Probes (being written).

use std::time::Instant;

use crate::plan::{Probe, TlsOptions};

/// Placeholder until the probe module lands: accepts any selector.
pub fn parse_selector(_s: &str) -> Result<(), String> {
    Ok(())
}

/// A probe's result.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ProbeResult {
    /// Its name.
    pub name: String,
    /// Down time.
    pub down_s: f64,
    /// Checks.
    pub checks: u64,
    /// Failed checks.
    pub failed_checks: u64,
    /// Down intervals.
    pub intervals: Vec<(f64, Option<f64>)>,
    /// Readings of a metric probe.
    #[serde(skip)]
    pub values: Vec<(u64, f64)>,
}

impl ProbeResult {
    /// Up/down transitions.
    pub fn transitions(&self) -> Vec<(f64, bool)> {
        Vec::new()
    }
}

/// Polls until stopped.
pub async fn run(
    probe: Probe,
    _tls: TlsOptions,
    _start: Instant,
    _stop: tokio::sync::watch::Receiver<bool>,
) -> ProbeResult {
    ProbeResult {
        name: probe.name,
        down_s: 0.0,
        checks: 0,
        failed_checks: 0,
        intervals: Vec::new(),
        values: Vec::new(),
    }
}
