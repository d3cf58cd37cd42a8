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

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, FromRedisValue, Script, ScriptInvocation};
use serde::Serialize;

/// Bound on every Redis call, connecting included.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// While Redis is unreachable, how often one caller tries it again.
pub const REDIS_RETRY_EVERY: Duration = Duration::from_secs(1);

/// How long an admitted attempt holds its in-flight slot when it is never
/// recorded.
pub const LEASE: Duration = Duration::from_secs(30);

/// Redis keys expire after this long without a write.
const KEY_TTL: Duration = Duration::from_secs(24 * 3600);

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
    fn parse(s: &str) -> Self {
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

/// One admitted attempt. Hand it back to [`Breaker::record`] with the
/// outcome; a permit that is dropped instead frees its slot when its lease
/// expires.
#[derive(Debug, PartialEq, Eq)]
pub struct Permit {
    /// The backend that admitted it, and so records it.
    backend: Backend,
    /// Its id on that backend.
    id: u64,
    /// Whether it is the half-open trial.
    trial: bool,
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

/// Locks a mutex, ignoring poisoning (the data stays consistent: every
/// critical section here is panic-free).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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

/// Milliseconds in a duration, saturating.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

// ---------------------------------------------------------------- Redis

/// What the scripts say about the shared state: (state, failures,
/// in_flight, opened_total).
type RedisView = (String, u32, u32, u64);

/// The admission script's answer: (permit id or 0, trial 0/1, view).
type AdmitReply = (u64, u8, RedisView);

/// Admission: check and take a slot in one step.
/// KEYS: state hash, in-flight set. ARGV: limit, half-open delay (ms), lease
/// (ms), key TTL (ms). Returns {id or 0, trial, {state, failures, in_flight,
/// opened_total}}.
static ADMIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local h = redis.call('HMGET', KEYS[1], 'state', 'failures', 'opened_at', 'opened_total')
local state = h[1] or 'closed'
local failures = tonumber(h[2] or 0)
local opened_at = tonumber(h[3] or 0)
local opened_total = tonumber(h[4] or 0)
local in_flight = redis.call('ZCARD', KEYS[2])
if state == 'open' and now - opened_at >= tonumber(ARGV[2]) then
  state = 'half_open'
  redis.call('HSET', KEYS[1], 'state', state)
end
local admit = false
if state == 'closed' then
  admit = failures + in_flight < limit
elseif state == 'half_open' then
  admit = in_flight == 0
end
if not admit then
  return {0, 0, {state, failures, in_flight, opened_total}}
end
local id = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), id)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
local trial = 0
if state == 'half_open' then trial = 1 end
return {id, trial, {state, failures, in_flight + 1, opened_total}}
",
    )
});

/// Recording: free the slot and apply the outcome.
/// KEYS: state hash, in-flight set. ARGV: permit id, trial (0/1), success
/// (0/1), limit, key TTL (ms). Returns {state, failures, in_flight,
/// opened_total}. A permit whose lease already expired changes nothing.
static RECORD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local removed = redis.call('ZREM', KEYS[2], ARGV[1])
local h = redis.call('HMGET', KEYS[1], 'state', 'failures', 'opened_total', 'last_failure', 'seq')
local state = h[1] or 'closed'
local failures = tonumber(h[2] or 0)
local opened_total = tonumber(h[3] or 0)
local last_failure = tonumber(h[4] or 0)
local seq = tonumber(h[5] or 0)
local id = tonumber(ARGV[1])
local trial = ARGV[2] == '1'
local success = ARGV[3] == '1'
if removed == 1 then
  if trial then
    if state == 'half_open' then
      if success then
        state = 'closed'
        failures = 0
        redis.call('HSET', KEYS[1], 'state', state, 'failures', 0)
      else
        state = 'open'
        opened_total = opened_total + 1
        redis.call('HSET', KEYS[1], 'state', state, 'opened_at', now, 'opened_total', opened_total,
          'last_failure', seq)
      end
    end
  elseif state == 'closed' then
    if success then
      if id > last_failure and failures > 0 then
        failures = 0
        redis.call('HSET', KEYS[1], 'failures', 0)
      end
    else
      failures = failures + 1
      redis.call('HSET', KEYS[1], 'failures', failures, 'last_failure', seq)
      if failures >= tonumber(ARGV[4]) then
        state = 'open'
        opened_total = opened_total + 1
        redis.call('HSET', KEYS[1], 'state', state, 'opened_at', now, 'opened_total', opened_total)
      end
    end
  end
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
end
return {state, failures, redis.call('ZCARD', KEYS[2]), opened_total}
",
    )
});

/// Reading the state, without changing it.
/// KEYS: state hash, in-flight set. ARGV: half-open delay (ms). Returns
/// {state, failures, in_flight, opened_total}.
static SNAPSHOT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local h = redis.call('HMGET', KEYS[1], 'state', 'failures', 'opened_at', 'opened_total')
local state = h[1] or 'closed'
local opened_at = tonumber(h[3] or 0)
if state == 'open' and now - opened_at >= tonumber(ARGV[1]) then
  state = 'half_open'
end
local in_flight = redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf')
return {state, tonumber(h[2] or 0), in_flight, tonumber(h[4] or 0)}
",
    )
});

/// The Redis side of a breaker: the client, one multiplexed connection, and
/// whether Redis is in use.
struct RedisSide {
    /// Opens connections.
    client: redis::Client,
    /// The connection, when one is open.
    conn: Mutex<Option<MultiplexedConnection>>,
    /// Whether Redis is in use, and when to try it again when not.
    health: Arc<Mutex<Health>>,
    /// `{key}:state`.
    state_key: String,
    /// `{key}:in_flight`.
    in_flight_key: String,
    /// The latest view Redis gave this instance.
    last: Mutex<RedisView>,
}

/// Whether Redis is in use.
struct Health {
    /// In use.
    up: bool,
    /// When not: when the next try is due.
    next_try: Instant,
    /// When not: a try is under way.
    probing: bool,
}

/// Whether a caller talks to Redis.
enum Gate {
    /// Redis is in use.
    Use,
    /// Redis is down and this caller tries it again.
    Probe(ProbeGuard),
    /// Redis is down; use memory.
    Skip,
}

/// Ends a retry of Redis: [`ProbeGuard::succeeded`] puts Redis back in use;
/// dropping it otherwise (failure, or the caller gave up) schedules the next
/// try.
struct ProbeGuard {
    /// The health it updates.
    health: Arc<Mutex<Health>>,
    /// Whether the try succeeded.
    ok: bool,
}

impl ProbeGuard {
    /// Redis answered: it is in use again.
    fn succeeded(mut self) {
        self.ok = true;
    }
}

impl Drop for ProbeGuard {
    fn drop(&mut self) {
        let mut h = lock(&self.health);
        h.probing = false;
        if self.ok {
            h.up = true;
        } else {
            h.next_try = Instant::now() + REDIS_RETRY_EVERY;
        }
    }
}

impl RedisSide {
    /// A side that has not connected yet and takes Redis as in use.
    fn new(client: redis::Client, key: &str) -> Self {
        Self {
            client,
            conn: Mutex::new(None),
            health: Arc::new(Mutex::new(Health {
                up: true,
                next_try: Instant::now(),
                probing: false,
            })),
            state_key: format!("{key}:state"),
            in_flight_key: format!("{key}:in_flight"),
            last: Mutex::new(("closed".to_owned(), 0, 0, 0)),
        }
    }

    /// Whether Redis is in use.
    fn is_up(&self) -> bool {
        lock(&self.health).up
    }

    /// Whether this caller should talk to Redis now.
    fn gate(&self) -> Gate {
        let mut h = lock(&self.health);
        if h.up {
            Gate::Use
        } else if h.probing || Instant::now() < h.next_try {
            Gate::Skip
        } else {
            h.probing = true;
            Gate::Probe(ProbeGuard {
                health: Arc::clone(&self.health),
                ok: false,
            })
        }
    }

    /// Marks Redis as down after a failed call; true when it was in use until
    /// now (a new fallback).
    fn went_down(&self) -> bool {
        let mut h = lock(&self.health);
        let was_up = h.up;
        if was_up {
            h.up = false;
            h.next_try = Instant::now() + REDIS_RETRY_EVERY;
        }
        was_up
    }

    /// Stores the latest view.
    fn remember(&self, view: &RedisView) {
        lock(&self.last).clone_from(view);
    }

    /// Forgets the connection, so the next call reconnects.
    fn drop_connection(&self) {
        *lock(&self.conn) = None;
    }

    /// The open connection, or a new one.
    async fn connection(&self) -> redis::RedisResult<MultiplexedConnection> {
        if let Some(conn) = lock(&self.conn).clone() {
            return Ok(conn);
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT));
        let conn = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        *lock(&self.conn) = Some(conn.clone());
        Ok(conn)
    }

    /// Runs a script (EVALSHA, loading it when Redis lacks it) within
    /// [`REDIS_TIMEOUT`], connecting first when needed.
    async fn eval<T: FromRedisValue>(&self, inv: &ScriptInvocation<'_>) -> Result<T, String> {
        let call = async {
            let mut conn = self.connection().await?;
            inv.invoke_async::<T>(&mut conn).await
        };
        match tokio::time::timeout(REDIS_TIMEOUT, call).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {} ms", REDIS_TIMEOUT.as_millis())),
        }
    }
}

// --------------------------------------------------------------- memory

/// The in-memory breaker: the same state machine as the scripts, with this
/// process's clock.
#[derive(Debug, Default)]
struct Memory {
    /// The stored state (an open circuit turns half-open at the next
    /// admission after its delay).
    state: Stored,
    /// Failures counted while closed.
    failures: u32,
    /// When the circuit last opened.
    opened_at: Option<Instant>,
    /// Times it opened.
    opened_total: u64,
    /// The latest permit id.
    seq: u64,
    /// `seq` when the latest failure was recorded.
    last_failure: u64,
    /// Permit id → lease expiry.
    in_flight: HashMap<u64, Instant>,
}

/// [`BreakerState`] with a default, for [`Memory`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Stored {
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
    fn public(self) -> BreakerState {
        match self {
            Self::Closed => BreakerState::Closed,
            Self::Open => BreakerState::Open,
            Self::HalfOpen => BreakerState::HalfOpen,
        }
    }
}

impl Memory {
    /// Drops expired leases.
    fn prune(&mut self, now: Instant) {
        self.in_flight.retain(|_, expiry| *expiry > now);
    }

    /// Whether an open circuit's delay has passed.
    fn delay_passed(&self, now: Instant, half_open_after: Duration) -> bool {
        self.opened_at
            .is_none_or(|at| now.saturating_duration_since(at) >= half_open_after)
    }

    /// Admission: `(id, trial)` when admitted.
    fn admit(&mut self, now: Instant, limit: u32, half_open_after: Duration) -> Option<(u64, bool)> {
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
    fn record(&mut self, now: Instant, permit: &Permit, success: bool, limit: u32) {
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
    fn open(&mut self, now: Instant) {
        self.state = Stored::Open;
        self.opened_at = Some(now);
        self.opened_total += 1;
        self.last_failure = self.seq;
    }

    /// (state, failures, in_flight, opened_total) now.
    fn view(&self, now: Instant, half_open_after: Duration) -> (BreakerState, u32, u32, u64) {
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

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: u32 = 5;
    const DELAY: Duration = Duration::from_millis(300);

    fn permit(id: u64, trial: bool) -> Permit {
        Permit {
            backend: Backend::Memory,
            id,
            trial,
        }
    }

    #[test]
    fn closed_admits_up_to_the_limit_counting_in_flight_and_failures() {
        let now = Instant::now();
        let mut m = Memory::default();
        let ids: Vec<_> = (0..5).map(|_| m.admit(now, LIMIT, DELAY).unwrap().0).collect();
        assert_eq!(m.admit(now, LIMIT, DELAY), None, "5 in flight fill the limit");
        m.record(now, &permit(ids[0], false), false, LIMIT);
        assert_eq!(m.failures, 1);
        assert_eq!(
            m.admit(now, LIMIT, DELAY),
            None,
            "1 failure + 4 in flight still fill it"
        );
        for id in &ids[1..] {
            m.record(now, &permit(*id, false), false, LIMIT);
        }
        assert_eq!(m.state, Stored::Open);
        assert_eq!(m.opened_total, 1);
        assert_eq!(m.view(now, DELAY).0, BreakerState::Open);
    }

    #[test]
    fn a_success_admitted_before_the_latest_failure_does_not_reset_the_count() {
        let now = Instant::now();
        let mut m = Memory::default();
        let (old, _) = m.admit(now, LIMIT, DELAY).unwrap();
        let (failed, _) = m.admit(now, LIMIT, DELAY).unwrap();
        m.record(now, &permit(failed, false), false, LIMIT);
        m.record(now, &permit(old, false), true, LIMIT);
        assert_eq!(m.failures, 1, "the late success raced the failure");
        let (newer, _) = m.admit(now, LIMIT, DELAY).unwrap();
        m.record(now, &permit(newer, false), true, LIMIT);
        assert_eq!(m.failures, 0, "a success admitted after the failure resets");
    }

    #[test]
    fn half_open_admits_one_trial_whose_outcome_decides() {
        let t0 = Instant::now();
        let mut m = Memory::default();
        for _ in 0..5 {
            let (id, _) = m.admit(t0, LIMIT, DELAY).unwrap();
            m.record(t0, &permit(id, false), false, LIMIT);
        }
        assert_eq!(m.admit(t0 + DELAY / 2, LIMIT, DELAY), None, "open");
        let t1 = t0 + DELAY;
        let (trial, is_trial) = m.admit(t1, LIMIT, DELAY).unwrap();
        assert!(is_trial);
        assert_eq!(m.admit(t1, LIMIT, DELAY), None, "one trial at a time");
        m.record(t1, &permit(trial, true), false, LIMIT);
        assert_eq!((m.state, m.opened_total), (Stored::Open, 2), "a failed trial re-opens");
        assert_eq!(m.admit(t1 + DELAY / 2, LIMIT, DELAY), None);
        let t2 = t1 + DELAY;
        let (trial, _) = m.admit(t2, LIMIT, DELAY).unwrap();
        m.record(t2, &permit(trial, true), true, LIMIT);
        assert_eq!((m.state, m.failures), (Stored::Closed, 0), "a good trial closes");
        assert!(m.admit(t2, LIMIT, DELAY).is_some());
    }

    #[test]
    fn leases_expire_and_late_records_change_nothing() {
        let t0 = Instant::now();
        let mut m = Memory::default();
        let ids: Vec<_> = (0..5).map(|_| m.admit(t0, LIMIT, DELAY).unwrap().0).collect();
        let later = t0 + LEASE + Duration::from_millis(1);
        assert!(m.admit(later, LIMIT, DELAY).is_some(), "expired slots are free again");
        m.record(later, &permit(ids[0], false), false, LIMIT);
        assert_eq!(m.failures, 0, "an expired permit's outcome is dropped");
    }

    #[tokio::test]
    async fn an_unreachable_redis_leaves_the_memory_backend_within_the_timeout() {
        // A port nobody listens on: bind one, then free it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let started = Instant::now();
        let b = Breaker::new(BreakerConfig {
            redis_url: Some(format!("redis://127.0.0.1:{port}/")),
            ..BreakerConfig::default()
        })
        .await;
        assert!(started.elapsed() < REDIS_TIMEOUT + Duration::from_millis(200));
        let s = b.snapshot().await;
        assert_eq!((s.backend, s.fallbacks), (Backend::Memory, 1));
        let p = b.admit().await.expect("memory admits");
        assert_eq!(p.backend(), Backend::Memory);
        b.record(p, true).await;
    }

    #[tokio::test]
    async fn an_invalid_url_means_memory_only() {
        let b = Breaker::new(BreakerConfig {
            redis_url: Some("not a url".into()),
            ..BreakerConfig::default()
        })
        .await;
        assert_eq!(b.backend(), Backend::Memory);
        assert!(b.admit().await.is_some());
    }
}
