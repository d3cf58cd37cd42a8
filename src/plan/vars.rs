//! `[vars]`: the values templates draw from, and secrets read from the
//! environment (never serialized).

use serde::Serialize;

/// A template variable.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Var {
    /// Values picked at random per use.
    List(Vec<String>),
    /// A secret from the environment: never serialized, redacted from every
    /// output.
    Secret {
        /// The environment variable it came from.
        env: String,
        /// The value (never serialized).
        #[serde(skip)]
        value: String,
    },
}
