//! The Redis backend: the breaker's state shared by every instance, kept
//! in Redis and changed only by Lua scripts (the `.lua` files beside this
//! one), with the health of the connection.

use std::sync::{Arc, LazyLock, Mutex};
use std::time::Instant;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, FromRedisValue, Script, ScriptInvocation};

use super::state::{REDIS_RETRY_EVERY, REDIS_TIMEOUT, lock};

/// What the scripts say about the shared state: (state, failures,
/// in_flight, opened_total).
pub(super) type RedisView = (String, u32, u32, u64);

/// The admission script's answer: (permit id or 0, trial 0/1, view).
pub(super) type AdmitReply = (u64, u8, RedisView);

/// Admission: check and take a slot in one step.
/// KEYS: state hash, in-flight set. ARGV: limit, half-open delay (ms), lease
/// (ms), key TTL (ms). Returns {id or 0, trial, {state, failures, in_flight,
/// opened_total}}.
pub(super) static ADMIT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("admit.lua")));

/// Recording: free the slot and apply the outcome.
/// KEYS: state hash, in-flight set. ARGV: permit id, trial (0/1), success
/// (0/1), limit, key TTL (ms). Returns {state, failures, in_flight,
/// opened_total}. A permit whose lease already expired changes nothing.
pub(super) static RECORD: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("record.lua")));

/// Reading the state, without changing it.
/// KEYS: state hash, in-flight set. ARGV: half-open delay (ms). Returns
/// {state, failures, in_flight, opened_total}.
pub(super) static SNAPSHOT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("snapshot.lua")));

/// The Redis side of a breaker: the client, one multiplexed connection, and
/// whether Redis is in use.
pub(super) struct RedisSide {
    /// Opens connections.
    pub(super) client: redis::Client,
    /// The connection, when one is open.
    pub(super) conn: Mutex<Option<MultiplexedConnection>>,
    /// Whether Redis is in use, and when to try it again when not.
    pub(super) health: Arc<Mutex<Health>>,
    /// `{key}:state`.
    pub(super) state_key: String,
    /// `{key}:in_flight`.
    pub(super) in_flight_key: String,
    /// The latest view Redis gave this instance.
    pub(super) last: Mutex<RedisView>,
}

/// Whether Redis is in use.
pub(super) struct Health {
    /// In use.
    pub(super) up: bool,
    /// When not: when the next try is due.
    pub(super) next_try: Instant,
    /// When not: a try is under way.
    pub(super) probing: bool,
}

/// Whether a caller talks to Redis.
pub(super) enum Gate {
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
pub(super) struct ProbeGuard {
    /// The health it updates.
    pub(super) health: Arc<Mutex<Health>>,
    /// Whether the try succeeded.
    pub(super) ok: bool,
}

impl ProbeGuard {
    /// Redis answered: it is in use again.
    pub(super) fn succeeded(mut self) {
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
    pub(super) fn new(client: redis::Client, key: &str) -> Self {
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
    pub(super) fn is_up(&self) -> bool {
        lock(&self.health).up
    }

    /// Whether this caller should talk to Redis now.
    pub(super) fn gate(&self) -> Gate {
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
    pub(super) fn went_down(&self) -> bool {
        let mut h = lock(&self.health);
        let was_up = h.up;
        if was_up {
            h.up = false;
            h.next_try = Instant::now() + REDIS_RETRY_EVERY;
        }
        was_up
    }

    /// Stores the latest view.
    pub(super) fn remember(&self, view: &RedisView) {
        lock(&self.last).clone_from(view);
    }

    /// Forgets the connection, so the next call reconnects.
    pub(super) fn drop_connection(&self) {
        *lock(&self.conn) = None;
    }

    /// The open connection, or a new one.
    pub(super) async fn connection(&self) -> redis::RedisResult<MultiplexedConnection> {
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
    pub(super) async fn eval<T: FromRedisValue>(&self, inv: &ScriptInvocation<'_>) -> Result<T, String> {
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
