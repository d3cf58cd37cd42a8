//! Reading a plan or a sink configuration: the file, then `raw` (serde
//! structs that mirror it), then `validate` (the checked types).

use std::path::Path;

use super::checks::{CheckNames, Checks};
use super::error::PlanError;
use super::sink::SinkConfig;
use super::{Overrides, Plan, raw, validate};

/// Reads, parses and validates a plan file.
pub fn load(path: &Path, overrides: &Overrides) -> Result<Plan, PlanError> {
    let text = std::fs::read_to_string(path).map_err(|e| PlanError::io(path, &e))?;
    parse(path, &text, overrides)
}

/// Parses and validates plan text; `path` is only used in messages.
pub fn parse(path: &Path, text: &str, overrides: &Overrides) -> Result<Plan, PlanError> {
    let raw = raw::parse(path, text)?;
    validate::validate(path, text, raw, overrides)
}

/// [`parse`] with the environment read through `env` (the demo supplies
/// its own webhook secret this way).
pub fn parse_with_env(
    path: &Path,
    text: &str,
    overrides: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Plan, PlanError> {
    let raw = raw::parse(path, text)?;
    validate::validate_with_env(path, text, raw, overrides, env)
}

/// [`load`] as a lint (`loadcheck validate`): an environment variable the
/// plan reads (`secret_env`, `[vars] x = { env = … }`) that the environment
/// lacks does not fail the plan; each comes back as the error a run would
/// give. The plan then holds a stand-in value for it and must not be run.
pub fn lint(path: &Path, overrides: &Overrides) -> Result<(Plan, Vec<PlanError>), PlanError> {
    let text = std::fs::read_to_string(path).map_err(|e| PlanError::io(path, &e))?;
    lint_with_env(path, &text, overrides, &|name| std::env::var(name).ok())
}

/// [`lint`] of plan text, with the environment read through `env`.
pub fn lint_with_env(
    path: &Path,
    text: &str,
    overrides: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Plan, Vec<PlanError>), PlanError> {
    let raw = raw::parse(path, text)?;
    validate::lint_with_env(path, text, raw, overrides, env)
}

/// Reads and validates a sink configuration (`loadcheck sink --config`);
/// `listen` replaces the file's own address. Errors name the line and field
/// as a plan's do.
pub fn load_sink(path: &Path, listen: Option<std::net::SocketAddr>) -> Result<SinkConfig, PlanError> {
    let text = std::fs::read_to_string(path).map_err(|e| PlanError::io(path, &e))?;
    parse_sink(path, &text, listen)
}

/// Parses and validates sink configuration text.
pub fn parse_sink(path: &Path, text: &str, listen: Option<std::net::SocketAddr>) -> Result<SinkConfig, PlanError> {
    let raw: raw::RawSink = toml::from_str(text).map_err(|e| PlanError::from_toml(path, text, &e))?;
    validate::sink_file(path, text, raw, listen, &|name| std::env::var(name).ok())
}

/// Reads only the `[thresholds]` and `[[requirement]]` of a plan file, and
/// checks them against a run's names (`loadcheck verdict --plan`).
pub fn load_checks(path: &Path, names: &CheckNames) -> Result<Checks, PlanError> {
    let text = std::fs::read_to_string(path).map_err(|e| PlanError::io(path, &e))?;
    let raw: raw::RawChecks = toml::from_str(&text).map_err(|e| PlanError::from_toml(path, &text, &e))?;
    validate::checks_file(path, &text, raw, names)
}
