//! A circuit breaker for outgoing webhook deliveries whose state can be
//! shared by several instances through Redis, with each instance's own
//! in-memory breaker as the fallback when Redis cannot be reached.
//!
//! Both backends run the same state machine:
//!
//! - **Closed**: an attempt is admitted only while
//!   `failures + in_flight < failure_limit`; admitting takes an in-flight
//!   slot. A failure frees the slot and counts; the failure that reaches the
//!   limit opens the circuit. A success frees the slot and resets the count,
//!   but only when its attempt was admitted after the latest failure was
//!   recorded: an attempt that raced a failure is no evidence of recovery
//!   (without this rule a success recorded late would wipe failures that
//!   happened after it, and the circuit would open after more failures than
//!   the limit).
//! - **Open**: everything is rejected until `half_open_after` has passed since
//!   it opened.
//! - **HalfOpen**: exactly one trial attempt at a time (across all instances
//!   sharing the Redis state); its success closes the circuit, its failure
//!   re-opens it.
//!
//! In-flight slots are leases: each expires [`LEASE`] after it was taken, so
//! an instance that dies (or drops a [`Permit`]) cannot hold slots forever.
//!
//! # Redis layout
//!
//! Under the configured `key` prefix: `{key}:state`, a hash with the fields
//! `state`, `failures`, `opened_at` (ms, Redis clock), `opened_total`, `seq`
//! (the permit counter) and `last_failure` (the value of `seq` when the latest
//! failure was recorded); and `{key}:in_flight`, a sorted set of permit ids
//! scored by lease expiry (ms, Redis clock). Admission and recording each run
//! as one Lua script (EVALSHA), timed with Redis `TIME`, so concurrent
//! instances cannot overshoot the limit or disagree on the clock. Both keys
//! expire after a day without writes.
//!
//! # When Redis fails
//!
//! Every Redis call is bounded by [`REDIS_TIMEOUT`] (connecting included).
//! On any error the instance falls back to its in-memory breaker, counts a
//! fallback, logs one line to stderr, drops the connection, and lets one
//! caller try Redis again at most every [`REDIS_RETRY_EVERY`]; when Redis
//! answers, the instance goes back to it (and logs that too). A permit is
//! always recorded on the backend that admitted it; the outcome of a Redis
//! permit that cannot be recorded is lost and its slot expires with its lease.
//! Likewise an admission that timed out may still have run on a Redis that
//! was only slow: the slot it took expires with its lease.

mod memory;
mod shared;
mod state;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use memory::Memory;
use redis::{FromRedisValue, ScriptInvocation};
use shared::{ADMIT, AdmitReply, Gate, RECORD, RedisSide, RedisView, SNAPSHOT};
pub use state::{Backend, BreakerConfig, BreakerState, LEASE, Permit, REDIS_RETRY_EVERY, REDIS_TIMEOUT};
use state::{KEY_TTL, lock, millis};

/// The breaker as one backend sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BreakerSnapshot {
    /// The state; an open circuit whose delay has passed reads as half-open
    /// (the next admission is the trial).
    pub state: BreakerState,
    /// The backend in use.
    pub backend: Backend,
    /// Failures counted while closed.
    pub failures: u32,
    /// Admitted attempts not yet recorded (unexpired leases).
    pub in_flight: u32,
    /// Times the circuit opened, on that backend (for Redis: by any instance).
    pub opened_total: u64,
    /// Times this instance fell back from Redis to memory.
    pub fallbacks: u64,
}

/// A circuit breaker; clones share the same breaker.
#[derive(Clone)]
pub struct Breaker {
    /// The shared state.
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Breaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Breaker")
            .field("failure_limit", &self.inner.limit)
            .field("half_open_after", &self.inner.half_open_after)
            .field("redis", &self.inner.redis.is_some())
            .finish()
    }
}

/// What a [`Breaker`] shares between its clones.
struct Inner {
    /// Failures that open the circuit.
    limit: u32,
    /// How long the circuit stays open.
    half_open_after: Duration,
    /// The Redis side, when configured.
    redis: Option<RedisSide>,
    /// The in-memory breaker.
    memory: Mutex<Memory>,
    /// Times this instance fell back to memory.
    fallbacks: AtomicU64,
}

impl Breaker {
    /// Builds a breaker. Never fails: an invalid URL or an unreachable Redis
    /// leaves it on the in-memory backend (Redis is retried later, unless the
    /// URL itself is invalid).
    pub async fn new(cfg: BreakerConfig) -> Breaker {
        let mut fallbacks = 0;
        let redis = match cfg.redis_url.as_deref() {
            None => None,
            Some(url) => match redis::Client::open(url) {
                Ok(client) => Some(RedisSide::new(client, &cfg.key)),
                Err(e) => {
                    eprintln!("breaker: invalid redis url ({e}), using the in-memory breaker only");
                    fallbacks = 1;
                    None
                }
            },
        };
        let breaker = Breaker {
            inner: Arc::new(Inner {
                limit: cfg.failure_limit.max(1),
                half_open_after: cfg.half_open_after,
                redis,
                memory: Mutex::new(Memory::default()),
                fallbacks: AtomicU64::new(fallbacks),
            }),
        };
        // Connects (and loads the state) now, so an unreachable Redis shows
        // at start rather than on the first attempt.
        if breaker.inner.redis.is_some() {
            breaker.snapshot().await;
        }
        breaker
    }

    /// Asks to make one attempt: `None` when the circuit is open, a trial is
    /// already under way, or the closed circuit is at its limit.
    pub async fn admit(&self) -> Option<Permit> {
        let limit = self.inner.limit;
        let reply: Option<AdmitReply> = self
            .on_redis(|| {
                let mut inv = ADMIT.prepare_invoke();
                let side = self.redis();
                inv.key(&side.state_key)
                    .key(&side.in_flight_key)
                    .arg(limit)
                    .arg(millis(self.inner.half_open_after))
                    .arg(millis(LEASE))
                    .arg(millis(KEY_TTL));
                inv
            })
            .await;
        if let Some((id, trial, view)) = reply {
            self.redis().remember(&view);
            return (id > 0).then_some(Permit {
                backend: Backend::Redis,
                id,
                trial: trial == 1,
            });
        }
        let now = Instant::now();
        lock(&self.inner.memory)
            .admit(now, limit, self.inner.half_open_after)
            .map(|(id, trial)| Permit {
                backend: Backend::Memory,
                id,
                trial,
            })
    }

    /// Records the outcome of an admitted attempt, on the backend that
    /// admitted it.
    pub async fn record(&self, permit: Permit, success: bool) {
        let limit = self.inner.limit;
        match permit.backend {
            Backend::Memory => {
                lock(&self.inner.memory).record(Instant::now(), &permit, success, limit);
            }
            Backend::Redis => {
                if self.inner.redis.is_none() {
                    return;
                }
                let view: Option<RedisView> = self
                    .on_redis(|| {
                        let mut inv = RECORD.prepare_invoke();
                        let side = self.redis();
                        inv.key(&side.state_key)
                            .key(&side.in_flight_key)
                            .arg(permit.id)
                            .arg(u8::from(permit.trial))
                            .arg(u8::from(success))
                            .arg(limit)
                            .arg(millis(KEY_TTL));
                        inv
                    })
                    .await;
                if let Some(view) = view {
                    self.redis().remember(&view);
                }
            }
        }
    }

    /// The breaker as the backend in use sees it now (asks Redis when in
    /// use; this also serves as a retry when Redis was unreachable).
    pub async fn snapshot(&self) -> BreakerSnapshot {
        let view: Option<RedisView> = self
            .on_redis(|| {
                let mut inv = SNAPSHOT.prepare_invoke();
                let side = self.redis();
                inv.key(&side.state_key)
                    .key(&side.in_flight_key)
                    .arg(millis(self.inner.half_open_after));
                inv
            })
            .await;
        match view {
            Some(view) => {
                self.redis().remember(&view);
                self.redis_snapshot(&view)
            }
            None => self.memory_snapshot(),
        }
    }

    /// The latest known snapshot, without asking Redis: for Redis, what its
    /// latest answer to this instance said; for memory, the state now.
    pub fn last_snapshot(&self) -> BreakerSnapshot {
        match &self.inner.redis {
            Some(side) if side.is_up() => self.redis_snapshot(&lock(&side.last)),
            _ => self.memory_snapshot(),
        }
    }

    /// The backend admissions go to now.
    pub fn backend(&self) -> Backend {
        match &self.inner.redis {
            Some(side) if side.is_up() => Backend::Redis,
            _ => Backend::Memory,
        }
    }

    /// A snapshot from a Redis view.
    fn redis_snapshot(&self, view: &RedisView) -> BreakerSnapshot {
        let (state, failures, in_flight, opened_total) = view;
        BreakerSnapshot {
            state: BreakerState::parse(state),
            backend: Backend::Redis,
            failures: *failures,
            in_flight: *in_flight,
            opened_total: *opened_total,
            fallbacks: self.inner.fallbacks.load(Ordering::Relaxed),
        }
    }

    /// A snapshot of the in-memory breaker.
    fn memory_snapshot(&self) -> BreakerSnapshot {
        let (state, failures, in_flight, opened_total) =
            lock(&self.inner.memory).view(Instant::now(), self.inner.half_open_after);
        BreakerSnapshot {
            state,
            backend: Backend::Memory,
            failures,
            in_flight,
            opened_total,
            fallbacks: self.inner.fallbacks.load(Ordering::Relaxed),
        }
    }

    /// The Redis side; only called where it is known to exist.
    fn redis(&self) -> &RedisSide {
        self.inner
            .redis
            .as_ref()
            .unwrap_or_else(|| unreachable!("the Redis side is checked before use"))
    }

    /// Runs one script on Redis when Redis is in use (or due for a retry):
    /// `None` means "use memory", either because Redis is down or because
    /// this call just failed (which is then a fallback).
    async fn on_redis<T: FromRedisValue>(&self, invocation: impl FnOnce() -> ScriptInvocation<'static>) -> Option<T> {
        let side = self.inner.redis.as_ref()?;
        let mut probe = match side.gate() {
            Gate::Use => None,
            Gate::Probe(guard) => Some(guard),
            Gate::Skip => return None,
        };
        let inv = invocation();
        match side.eval::<T>(&inv).await {
            Ok(v) => {
                if let Some(guard) = probe.take() {
                    guard.succeeded();
                    eprintln!("breaker: redis reachable again, back to the shared breaker");
                }
                Some(v)
            }
            Err(reason) => {
                side.drop_connection();
                if probe.is_none() && side.went_down() {
                    self.inner.fallbacks.fetch_add(1, Ordering::Relaxed);
                    eprintln!("breaker: redis unreachable ({reason}), falling back to the in-memory breaker");
                }
                // A failed probe's guard, dropped here, schedules the next try.
                None
            }
        }
    }
}

// --------------------------------------------------------------- memory
