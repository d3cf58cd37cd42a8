//! Which side of a duet a `run.json` measured. A duet run sends every
//! request to the target and to a baseline target at the same time, and
//! writes one complete result per side (`DIR/run.json`,
//! `DIR/baseline/run.json`); both record the same plan, so this is what
//! tells them apart.

use serde::{Deserialize, Serialize};

/// One side of a duet run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Duet {
    /// Which target this file measured.
    pub role: DuetRole,
    /// The URL this side's requests went to.
    pub url: String,
    /// The URL the other side's requests went to.
    pub peer: String,
}

/// The two sides of a duet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DuetRole {
    /// The plan's target (the build under test): `DIR/run.json`.
    Target,
    /// The baseline target: `DIR/baseline/run.json`.
    Baseline,
}
