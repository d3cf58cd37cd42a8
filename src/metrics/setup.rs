//! What one setup request did, for `run.json`: recorded by the engine's
//! setup step, read by `RunResult`.

use serde::{Deserialize, Serialize};

/// What one setup request did, for `run.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetupRecord {
    /// The setup's name.
    pub name: String,
    /// The response status, when there was a response.
    pub status: Option<u16>,
    /// How long it took, ms.
    pub duration_ms: f64,
    /// The variables it captured (names only: the values are secrets).
    pub captured: Vec<String>,
}
