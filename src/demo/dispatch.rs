//! The webhook dispatcher: a bounded queue of events, worker tasks that POST
//! them to one URL with retries, and a [`Breaker`] in front of every attempt
//! so a failing receiver stops getting traffic.
//!
//! An event's *tries* are bounded by `max_attempts`, and every try counts: a
//! POST that fails, and also an admission the breaker refuses (the event is
//! then not sent). Between tries the event waits outside the workers for an
//! exponential backoff with jitter (`retry_backoff` × 2ⁿ, capped at 2 s,
//! each delay drawn between half and all of that), or for the receiver's
//! `Retry-After` (seconds, capped at 5 s) when longer. An event ends as
//! delivered (a 2xx), `gave_up` (its last try was a failed POST), or
//! `dropped_by_breaker` (its last try was refused by the breaker); it also
//! ends at its last try once 30 s have passed since it was accepted. So while
//! the circuit is open this instance sends the receiver nothing, and events
//! that keep meeting an open circuit are dropped after about the sum of their
//! backoffs, not held until the circuit closes.
//!
//! The queue's capacity bounds every accepted event that has not ended yet,
//! whether it waits for its first try, is being tried, or waits for a retry.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderName, HeaderValue};
use rand::Rng;
use serde::Serialize;
use tokio::sync::{Mutex, Notify, mpsc, watch};

use super::breaker::{Breaker, BreakerConfig, BreakerSnapshot};

/// Adds signature headers to one delivery: `(event id, unix timestamp,
/// body)` → headers (Standard Webhooks: `webhook-id`, `webhook-timestamp`,
/// `webhook-signature`).
pub type SignFn = Arc<dyn Fn(&str, i64, &[u8]) -> Vec<(HeaderName, HeaderValue)> + Send + Sync>;

/// Longest backoff between two tries.
pub const BACKOFF_CAP: Duration = Duration::from_secs(2);

/// Longest `Retry-After` honoured.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(5);

/// After this long since it was accepted, an event gets no further try.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(30);

/// Settings of one dispatcher.
#[derive(Clone)]
pub struct DispatchConfig {
    /// Where deliveries go.
    pub url: String,
    /// Adds signature headers; without it only `webhook-id` and
    /// `webhook-timestamp` are sent.
    pub sign: Option<SignFn>,
    /// Tries per event (first try included; refused admissions count).
    pub max_attempts: u32,
    /// Base of the exponential backoff between tries.
    pub retry_backoff: Duration,
    /// Bound on each POST, connecting included.
    pub timeout: Duration,
    /// Accepted events not yet ended, at most.
    pub queue: usize,
    /// Worker tasks (at least 1).
    pub concurrency: usize,
    /// The breaker in front of every POST.
    pub breaker: BreakerConfig,
}

impl std::fmt::Debug for DispatchConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DispatchConfig")
            .field("url", &self.url)
            .field("sign", &self.sign.is_some())
            .field("max_attempts", &self.max_attempts)
            .field("retry_backoff", &self.retry_backoff)
            .field("timeout", &self.timeout)
            .field("queue", &self.queue)
            .field("concurrency", &self.concurrency)
            .field("breaker", &self.breaker)
            .finish()
    }
}

/// [`Dispatcher::enqueue`] refused an event: the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the webhook queue is full ({capacity} events)")]
pub struct QueueFull {
    /// The queue's capacity.
    pub capacity: usize,
}

/// Counters of one dispatcher since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DispatchStats {
    /// Events accepted by `enqueue`.
    pub accepted: u64,
    /// Events delivered (a 2xx answer).
    pub delivered: u64,
    /// POSTs that failed (non-2xx, timeout, connection error).
    pub failed_attempts: u64,
    /// POSTs sent again after a failed one (scheduled re-sends).
    pub retries: u64,
    /// Admissions the breaker refused (no POST sent).
    pub breaker_rejections: u64,
    /// Events given up because the breaker refused their last try.
    pub dropped_by_breaker: u64,
    /// Events given up after a failed POST on their last try.
    pub gave_up: u64,
    /// Accepted events not yet ended.
    pub in_queue: u64,
    /// The breaker, as this instance last saw it.
    pub breaker: BreakerSnapshot,
}

/// A running dispatcher; dropping it stops its tasks (events not yet ended
/// are lost, and their in-flight breaker slots expire with their leases).
pub struct Dispatcher {
    /// What the tasks share.
    shared: Arc<Shared>,
    /// Dropped with the dispatcher, which stops the tasks.
    _shutdown: watch::Sender<()>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("url", &self.shared.url)
            .field("stats", &self.stats())
            .finish()
    }
}

/// One event on its way.
struct Job {
    /// The event id, the same on every try.
    id: String,
    /// The JSON delivered.
    body: Bytes,
    /// Tries so far.
    tries: u32,
    /// No try is scheduled after this.
    deadline: Instant,
}

/// The counters behind [`DispatchStats`].
#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    delivered: AtomicU64,
    failed_attempts: AtomicU64,
    retries: AtomicU64,
    breaker_rejections: AtomicU64,
    dropped_by_breaker: AtomicU64,
    gave_up: AtomicU64,
}

/// Why a try did not deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Miss {
    /// The breaker refused it.
    Refused,
    /// The POST failed, with the receiver's `Retry-After` if any.
    Failed(Option<Duration>),
}

/// What the dispatcher's tasks share.
struct Shared {
    /// Where deliveries go.
    url: String,
    /// The signer.
    sign: Option<SignFn>,
    /// Tries per event.
    max_attempts: u32,
    /// Backoff base.
    retry_backoff: Duration,
    /// Queue capacity.
    capacity: usize,
    /// The HTTP client, or why it could not be built.
    client: Result<reqwest::Client, String>,
    /// The breaker.
    breaker: Breaker,
    /// Events ready for a try.
    tx: mpsc::Sender<Job>,
    /// Where the workers take them.
    rx: Mutex<mpsc::Receiver<Job>>,
    /// Accepted events not yet ended.
    live: AtomicUsize,
    /// Woken when `live` drops to zero.
    idle: Notify,
    /// Counters.
    counters: Counters,
}

impl Dispatcher {
    /// Builds the breaker and the HTTP client and starts the workers.
    pub async fn start(cfg: DispatchConfig) -> Arc<Dispatcher> {
        let breaker = Breaker::new(cfg.breaker.clone()).await;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout)
            .no_proxy()
            .user_agent(concat!("loadcheck/", env!("CARGO_PKG_VERSION"), " (webhooks)"))
            .build()
            .map_err(|e| e.to_string());
        if let Err(e) = &client {
            eprintln!("dispatch: cannot build the HTTP client ({e}); every delivery will fail");
        }
        let (tx, rx) = mpsc::channel(cfg.queue.max(1));
        let (shutdown_tx, shutdown_rx) = watch::channel(());
        let shared = Arc::new(Shared {
            url: cfg.url,
            sign: cfg.sign,
            max_attempts: cfg.max_attempts.max(1),
            retry_backoff: cfg.retry_backoff,
            capacity: cfg.queue,
            client,
            breaker,
            tx,
            rx: Mutex::new(rx),
            live: AtomicUsize::new(0),
            idle: Notify::new(),
            counters: Counters::default(),
        });
        for _ in 0..cfg.concurrency.max(1) {
            let shared = Arc::clone(&shared);
            let mut shutdown = shutdown_rx.clone();
            let for_retries = shutdown_rx.clone();
            tokio::spawn(async move {
                tokio::select! {
                    _ = shutdown.changed() => {}
                    () = shared.work(&for_retries) => {}
                }
            });
        }
        Arc::new(Dispatcher {
            shared,
            _shutdown: shutdown_tx,
        })
    }

    /// Queues one event: `id` is the event id (the same on every try, sent
    /// as `webhook-id`), `body` the JSON delivered. Err when the queue is
    /// full.
    pub fn enqueue(&self, id: String, body: Bytes) -> Result<(), QueueFull> {
        let s = &self.shared;
        let full = QueueFull { capacity: s.capacity };
        if s.live
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < s.capacity).then_some(n + 1)
            })
            .is_err()
        {
            return Err(full);
        }
        let job = Job {
            id,
            body,
            tries: 0,
            deadline: Instant::now() + GIVE_UP_AFTER,
        };
        // The channel holds at most the live events, which the capacity
        // bounds, so it is never full here.
        if s.tx.try_send(job).is_err() {
            s.end();
            return Err(full);
        }
        s.counters.accepted.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// The counters now, with the breaker as this instance last saw it.
    pub fn stats(&self) -> DispatchStats {
        let c = &self.shared.counters;
        DispatchStats {
            accepted: c.accepted.load(Ordering::Relaxed),
            delivered: c.delivered.load(Ordering::Relaxed),
            failed_attempts: c.failed_attempts.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            breaker_rejections: c.breaker_rejections.load(Ordering::Relaxed),
            dropped_by_breaker: c.dropped_by_breaker.load(Ordering::Relaxed),
            gave_up: c.gave_up.load(Ordering::Relaxed),
            in_queue: self.shared.live.load(Ordering::SeqCst) as u64,
            breaker: self.shared.breaker.last_snapshot(),
        }
    }

    /// The breaker in front of the deliveries.
    pub fn breaker(&self) -> &Breaker {
        &self.shared.breaker
    }

    /// Waits until every accepted event has ended, or `max_wait`.
    pub async fn drain(&self, max_wait: Duration) {
        let deadline = tokio::time::Instant::now() + max_wait;
        loop {
            let idle = self.shared.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.shared.live.load(Ordering::SeqCst) == 0 {
                return;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return;
            }
        }
    }
}

impl Shared {
    /// A worker: takes ready events and tries each once.
    async fn work(self: &Arc<Self>, shutdown: &watch::Receiver<()>) {
        loop {
            let job = self.rx.lock().await.recv().await;
            let Some(job) = job else { return };
            self.try_once(job, shutdown).await;
        }
    }

    /// One try of one event.
    async fn try_once(self: &Arc<Self>, mut job: Job, shutdown: &watch::Receiver<()>) {
        job.tries += 1;
        let Some(permit) = self.breaker.admit().await else {
            self.counters.breaker_rejections.fetch_add(1, Ordering::Relaxed);
            self.again_or_end(job, Miss::Refused, shutdown);
            return;
        };
        let result = self.post(&job).await;
        self.breaker.record(permit, result.is_ok()).await;
        match result {
            Ok(()) => {
                self.counters.delivered.fetch_add(1, Ordering::Relaxed);
                self.end();
            }
            Err(retry_after) => {
                self.counters.failed_attempts.fetch_add(1, Ordering::Relaxed);
                self.again_or_end(job, Miss::Failed(retry_after), shutdown);
            }
        }
    }

    /// Schedules the next try after a miss, or ends the event when it has no
    /// try left.
    fn again_or_end(self: &Arc<Self>, job: Job, miss: Miss, shutdown: &watch::Receiver<()>) {
        let mut delay = backoff(self.retry_backoff, job.tries);
        if let Miss::Failed(Some(retry_after)) = miss {
            delay = delay.max(retry_after.min(RETRY_AFTER_CAP));
        }
        if job.tries >= self.max_attempts || Instant::now() + delay > job.deadline {
            let counter = match miss {
                Miss::Refused => &self.counters.dropped_by_breaker,
                Miss::Failed(_) => &self.counters.gave_up,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            self.end();
            return;
        }
        if matches!(miss, Miss::Failed(_)) {
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
        }
        let shared = Arc::clone(self);
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = shutdown.changed() => {}
                () = tokio::time::sleep(delay) => {
                    if shared.tx.send(job).await.is_err() {
                        shared.end();
                    }
                }
            }
        });
    }

    /// One POST: `Ok` on a 2xx; otherwise `Err` with the receiver's
    /// `Retry-After`, if any.
    async fn post(&self, job: &Job) -> Result<(), Option<Duration>> {
        let client = self.client.as_ref().map_err(|_| None)?;
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Ok(id) = HeaderValue::from_str(&job.id) {
            headers.insert(HeaderName::from_static("webhook-id"), id);
        }
        headers.insert(HeaderName::from_static("webhook-timestamp"), HeaderValue::from(ts));
        if let Some(sign) = &self.sign {
            for (name, value) in sign(&job.id, ts, &job.body) {
                headers.insert(name, value);
            }
        }
        let response = client
            .post(&self.url)
            .headers(headers)
            .body(job.body.clone())
            .send()
            .await
            .map_err(|_| None)?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(retry_after(response.headers()))
        }
    }

    /// An event ended.
    fn end(&self) {
        if self.live.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }
}

/// The delay before try `tries + 1`: `base` × 2^(tries − 1), capped at
/// [`BACKOFF_CAP`], drawn between half and all of that.
fn backoff(base: Duration, tries: u32) -> Duration {
    let factor = 1u32 << tries.saturating_sub(1).min(16);
    let full = base.saturating_mul(factor).min(BACKOFF_CAP);
    if full.is_zero() {
        return full;
    }
    full / 2 + full.mul_f64(rand::rng().random_range(0.0..=0.5))
}

/// A `Retry-After` in seconds (an HTTP date is ignored).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers.get(RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_caps() {
        let base = Duration::from_millis(100);
        for tries in 1..=8 {
            let full = (base * (1 << (tries - 1))).min(BACKOFF_CAP);
            for _ in 0..50 {
                let d = backoff(base, tries);
                assert!(
                    d >= full / 2 && d <= full,
                    "try {tries}: {d:?} not in [{:?}, {full:?}]",
                    full / 2
                );
            }
        }
        assert_eq!(backoff(Duration::ZERO, 3), Duration::ZERO);
        assert!(backoff(base, u32::MAX) <= BACKOFF_CAP);
    }

    #[test]
    fn retry_after_reads_seconds_only() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static(" 3 "));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&h), None);
    }
}
