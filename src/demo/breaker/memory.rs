//! The in-memory backend: one instance's own breaker, used when no Redis
//! is configured and as the fallback when Redis cannot be reached.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::state::{BreakerState, LEASE, Permit};

/// The in-memory breaker: the same state machine as the scripts, with this
/// process's clock.
#[derive(Debug, Default)]
pub(super) struct Memory {
    /// The stored state (an open circuit turns half-open at the next
    /// admission after its delay).
    pub(super) state: Stored,
    /// Failures counted while closed.
    pub(super) failures: u32,
    /// When the circuit last opened.
    pub(super) opened_at: Option<Instant>,
    /// Times it opened.
    pub(super) opened_total: u64,
    /// The latest permit id.
    pub(super) seq: u64,
    /// `seq` when the latest failure was recorded.
    pub(super) last_failure: u64,
    /// Permit id → lease expiry.
    pub(super) in_flight: HashMap<u64, Instant>,
}

/// [`BreakerState`] with a default, for [`Memory`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Stored {
    /// Closed.
    #[default]
    Closed,
    /// Open.
    Open,
    /// Half-open.
    HalfOpen,
}

impl Stored {
    /// The public name.
    pub(super) fn public(self) -> BreakerState {
        match self {
            Self::Closed => BreakerState::Closed,
            Self::Open => BreakerState::Open,
            Self::HalfOpen => BreakerState::HalfOpen,
        }
    }
}

impl Memory {
    /// Drops expired leases.
    pub(super) fn prune(&mut self, now: Instant) {
        self.in_flight.retain(|_, expiry| *expiry > now);
    }

    /// Whether an open circuit's delay has passed.
    pub(super) fn delay_passed(&self, now: Instant, half_open_after: Duration) -> bool {
        self.opened_at
            .is_none_or(|at| now.saturating_duration_since(at) >= half_open_after)
    }

    /// Admission: `(id, trial)` when admitted.
    pub(super) fn admit(&mut self, now: Instant, limit: u32, half_open_after: Duration) -> Option<(u64, bool)> {
        self.prune(now);
        if self.state == Stored::Open && self.delay_passed(now, half_open_after) {
            self.state = Stored::HalfOpen;
        }
        let in_flight = u32::try_from(self.in_flight.len()).unwrap_or(u32::MAX);
        let admit = match self.state {
            Stored::Closed => self.failures.saturating_add(in_flight) < limit,
            Stored::HalfOpen => in_flight == 0,
            Stored::Open => false,
        };
        if !admit {
            return None;
        }
        self.seq += 1;
        self.in_flight.insert(self.seq, now + LEASE);
        Some((self.seq, self.state == Stored::HalfOpen))
    }

    /// Recording; a permit whose lease expired changes nothing.
    pub(super) fn record(&mut self, now: Instant, permit: &Permit, success: bool, limit: u32) {
        self.prune(now);
        if self.in_flight.remove(&permit.id).is_none() {
            return;
        }
        if permit.trial {
            if self.state == Stored::HalfOpen {
                if success {
                    self.state = Stored::Closed;
                    self.failures = 0;
                } else {
                    self.open(now);
                }
            }
        } else if self.state == Stored::Closed {
            if success {
                if permit.id > self.last_failure {
                    self.failures = 0;
                }
            } else {
                self.failures = self.failures.saturating_add(1);
                self.last_failure = self.seq;
                if self.failures >= limit {
                    self.open(now);
                }
            }
        }
    }

    /// Opens the circuit now.
    pub(super) fn open(&mut self, now: Instant) {
        self.state = Stored::Open;
        self.opened_at = Some(now);
        self.opened_total += 1;
        self.last_failure = self.seq;
    }

    /// (state, failures, in_flight, opened_total) now.
    pub(super) fn view(&self, now: Instant, half_open_after: Duration) -> (BreakerState, u32, u32, u64) {
        let mut state = self.state;
        if state == Stored::Open && self.delay_passed(now, half_open_after) {
            state = Stored::HalfOpen;
        }
        let in_flight = self.in_flight.values().filter(|expiry| **expiry > now).count();
        (
            state.public(),
            self.failures,
            u32::try_from(in_flight).unwrap_or(u32::MAX),
            self.opened_total,
        )
    }
}
