//! The breaker's vocabulary, shared by its two backends: its settings, its
//! states, the leases and timeouts, and small helpers.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;

/// Bound on every Redis call, connecting included.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// While Redis is unreachable, how often one caller tries it again.
pub const REDIS_RETRY_EVERY: Duration = Duration::from_secs(1);

/// How long an admitted attempt holds its in-flight slot when it is never
/// recorded.
pub const LEASE: Duration = Duration::from_secs(30);

/// Redis keys expire after this long without a write.
pub(super) const KEY_TTL: Duration = Duration::from_secs(24 * 3600);

/// Settings of one breaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Failures that open the circuit (at least 1; 0 is taken as 1).
    pub failure_limit: u32,
    /// How long the circuit stays open before one trial attempt.
    pub half_open_after: Duration,
    /// `redis://host:port/` to share the state; `None` keeps it in memory.
    pub redis_url: Option<String>,
    /// Prefix of the Redis keys, e.g. `loadcheck:breaker:demo`.
    pub key: String,
}

impl Default for BreakerConfig {
    /// 5 failures, 30 s open, in memory, key `loadcheck:breaker:demo`.
    fn default() -> Self {
        Self {
            failure_limit: 5,
            half_open_after: Duration::from_secs(30),
            redis_url: None,
            key: "loadcheck:breaker:demo".to_owned(),
        }
    }
}

/// The circuit's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Attempts flow, up to the failure limit.
    Closed,
    /// Attempts are rejected.
    Open,
    /// One trial attempt at a time decides.
    HalfOpen,
}

impl BreakerState {
    /// Parses a name stored in Redis; anything unknown reads as closed.
    pub(super) fn parse(s: &str) -> Self {
        match s {
            "open" => Self::Open,
            "half_open" => Self::HalfOpen,
            _ => Self::Closed,
        }
    }
}

/// Where the breaker's state lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// Shared by every instance using the same Redis and key.
    Redis,
    /// This instance's own.
    Memory,
}

/// Locks a mutex, ignoring poisoning (the data stays consistent: every
/// critical section here is panic-free).
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Milliseconds in a duration, saturating.
pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// One admitted attempt. Hand it back to [`Breaker::record`] with the
/// outcome; a permit that is dropped instead frees its slot when its lease
/// expires.
#[derive(Debug, PartialEq, Eq)]
pub struct Permit {
    /// The backend that admitted it, and so records it.
    pub(super) backend: Backend,
    /// Its id on that backend.
    pub(super) id: u64,
    /// Whether it is the half-open trial.
    pub(super) trial: bool,
}

impl Permit {
    /// The backend that admitted this attempt.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether this attempt is the half-open trial.
    pub fn is_trial(&self) -> bool {
        self.trial
    }
}
