//! The webhook dispatcher and its circuit breaker against a real receiver on
//! loopback and, for the shared breaker, a real `redis-server` started per
//! test on a free port.
//!
//! Without `redis-server` the Redis tests skip with a printed reason, except
//! under `CI=true`, where they fail.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use loadcheck::demo::breaker::{Backend, Breaker, BreakerConfig, BreakerState, Permit};
use loadcheck::demo::dispatch::{DispatchConfig, DispatchStats, Dispatcher, SignFn};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// Upper bound on draining a dispatcher in these tests.
const DRAIN: Duration = Duration::from_secs(20);

// ------------------------------------------------------------ redis-server

/// A `redis-server` child process on 127.0.0.1, killed on drop.
struct RedisServer {
    /// Its port.
    port: u16,
    /// The process, while it runs.
    child: Option<Child>,
}

impl RedisServer {
    /// Starts one on a free port; `None` (after printing why) when
    /// `redis-server` is missing outside CI. Under `CI=true` a missing
    /// `redis-server` fails the test.
    async fn start(test: &str) -> Option<Self> {
        let port = free_port();
        match Self::start_on(port).await {
            Ok(server) => Some(server),
            Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
                panic!("{test}: cannot run redis-server under CI=true: {e}")
            }
            Err(e) => {
                eprintln!(
                    "skipping {test}: cannot run redis-server ({e}); install it with `apt-get install redis-server`"
                );
                None
            }
        }
    }

    /// Starts one on `port` and waits until it answers PING.
    async fn start_on(port: u16) -> Result<Self, String> {
        let bin = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or("redis-server");
        let child = Command::new(bin)
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
                "--bind",
                "127.0.0.1",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{bin}: {e}"))?;
        let mut server = RedisServer {
            port,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if ping(port).await {
                return Ok(server);
            }
            if let Some(Ok(Some(status))) = server.child.as_mut().map(Child::try_wait) {
                return Err(format!("redis-server exited: {status}"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server.kill();
        Err("redis-server did not answer PING within 10 s".into())
    }

    /// Its URL.
    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills it (SIGKILL) and reaps it.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends a signal to it.
    fn signal(&self, sig: libc::c_int) {
        let pid = self.child.as_ref().map(Child::id).expect("running");
        let pid = libc::pid_t::try_from(pid).expect("pid fits");
        // SAFETY: kill(2) on our own child's pid has no memory effects.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill({pid}, {sig})");
    }

    /// A plain connection for inspecting keys.
    async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            // A stopped server must be continued to die cleanly.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Whether something on `port` answers `PING` with `+PONG`.
async fn ping(port: u16) -> bool {
    let attempt = async {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        s.write_all(b"PING\r\n").await.ok()?;
        let mut buf = [0u8; 16];
        let n = s.read(&mut buf).await.ok()?;
        Some(buf[..n].starts_with(b"+PONG"))
    };
    matches!(
        tokio::time::timeout(Duration::from_millis(500), attempt).await,
        Ok(Some(true))
    )
}

/// A port free on 127.0.0.1 a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

// ---------------------------------------------------------------- receiver

/// One POST the receiver got.
#[derive(Debug, Clone)]
struct Hit {
    /// When it arrived.
    start: Instant,
    /// When the answer was ready.
    end: Instant,
    /// Whether it was answered 200.
    ok: bool,
    /// Its `webhook-id`.
    id: String,
    /// Whether it had `content-type: application/json` and a signature
    /// made for its id.
    well_formed: bool,
}

/// A webhook receiver on loopback: answers 500 to the POSTs numbered
/// `fail_from..fail_to` (1-based, in arrival order) and 200 to the others,
/// each after `delay`.
struct Receiver {
    /// Where it listens.
    addr: SocketAddr,
    /// What it saw.
    state: Arc<ReceiverState>,
}

/// The receiver's shared state.
struct ReceiverState {
    /// POSTs so far.
    count: AtomicU64,
    /// First failing POST number.
    fail_from: u64,
    /// First POST number that succeeds again.
    fail_to: u64,
    /// Delay before each answer.
    delay: Duration,
    /// Every POST.
    hits: Mutex<Vec<Hit>>,
}

impl Receiver {
    /// A receiver that answers 200 to the first `ok_first` POSTs and 500 to
    /// every later one.
    async fn fails_after(ok_first: u64) -> Self {
        Self::start(ok_first + 1, u64::MAX, Duration::ZERO).await
    }

    /// Starts it.
    async fn start(fail_from: u64, fail_to: u64, delay: Duration) -> Self {
        let state = Arc::new(ReceiverState {
            count: AtomicU64::new(0),
            fail_from,
            fail_to,
            delay,
            hits: Mutex::new(Vec::new()),
        });
        let app = Router::new().route("/hook", post(hook)).with_state(Arc::clone(&state));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { addr, state }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn hits(&self) -> Vec<Hit> {
        let mut hits = self.state.hits.lock().unwrap().clone();
        hits.sort_by_key(|h| h.start);
        hits
    }

    fn ok(&self) -> usize {
        self.hits().iter().filter(|h| h.ok).count()
    }

    fn failed(&self) -> usize {
        self.hits().iter().filter(|h| !h.ok).count()
    }
}

/// The receiver's one route.
async fn hook(State(s): State<Arc<ReceiverState>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let start = Instant::now();
    let n = s.count.fetch_add(1, Ordering::SeqCst) + 1;
    let ok = n < s.fail_from || n >= s.fail_to;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let id = header("webhook-id");
    let well_formed = header("content-type") == "application/json"
        && header("webhook-signature") == format!("v1,test-{id}-{}", body.len())
        && header("webhook-timestamp").parse::<i64>().is_ok();
    if !s.delay.is_zero() {
        tokio::time::sleep(s.delay).await;
    }
    s.hits.lock().unwrap().push(Hit {
        start,
        end: Instant::now(),
        ok,
        id,
        well_formed,
    });
    if ok {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

// ---------------------------------------------------------------- helpers

/// A stand-in signer: `webhook-signature: v1,test-<id>-<body length>`.
fn test_signer() -> SignFn {
    Arc::new(|id: &str, _ts: i64, body: &[u8]| {
        let sig = format!("v1,test-{id}-{}", body.len());
        vec![(
            HeaderName::from_static("webhook-signature"),
            HeaderValue::from_str(&sig).unwrap(),
        )]
    })
}

/// A breaker with limit 5.
fn breaker_config(redis_url: Option<String>, key: &str, half_open_after: Duration) -> BreakerConfig {
    BreakerConfig {
        failure_limit: 5,
        half_open_after,
        redis_url,
        key: key.to_owned(),
    }
}

/// A dispatcher's settings: 5 tries, 20 ms backoff base, 5 s timeout.
fn dispatch_config(url: String, breaker: BreakerConfig, concurrency: usize) -> DispatchConfig {
    DispatchConfig {
        url,
        sign: Some(test_signer()),
        max_attempts: 5,
        retry_backoff: Duration::from_millis(20),
        timeout: Duration::from_secs(5),
        queue: 1000,
        concurrency,
        breaker,
    }
}

/// Enqueues `per` events on each dispatcher, interleaved.
fn enqueue_round_robin(dispatchers: &[Arc<Dispatcher>], per: usize, tag: &str) {
    for i in 0..per {
        for (d, dispatcher) in dispatchers.iter().enumerate() {
            let body = Bytes::from(format!(r#"{{"type":"image.ready","n":{i}}}"#));
            dispatcher
                .enqueue(format!("evt_{tag}_{d}_{i}"), body)
                .expect("queue has room");
        }
    }
}

/// Drains every dispatcher.
async fn drain_all(dispatchers: &[Arc<Dispatcher>]) {
    for d in dispatchers {
        d.drain(DRAIN).await;
    }
}

/// Polls the breaker (each poll may retry Redis, at most once a second)
/// until it is back on Redis; returns how long that took (at most 3 s).
async fn wait_for_redis(b: &Breaker) -> Duration {
    let start = Instant::now();
    while b.snapshot().await.backend != Backend::Redis {
        assert!(start.elapsed() < Duration::from_secs(3), "still on memory after 3 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    start.elapsed()
}

/// Every accepted event ended exactly once.
fn assert_accounted(s: &DispatchStats) {
    assert_eq!(s.in_queue, 0, "{s:?}");
    assert_eq!(s.delivered + s.gave_up + s.dropped_by_breaker, s.accepted, "{s:?}");
}

/// A receiver, per-dispatcher concurrency 4, 50 events per dispatcher, the
/// receiver failing after its 3rd POST and a breaker that stays open 60 s:
/// returns (receiver, dispatchers) after draining and a quiet 500 ms.
async fn fail_after_three(instances: usize, redis_url: Option<String>, key: &str) -> (Receiver, Vec<Arc<Dispatcher>>) {
    let receiver = Receiver::fails_after(3).await;
    let mut dispatchers = Vec::new();
    for _ in 0..instances {
        let cfg = breaker_config(redis_url.clone(), key, Duration::from_secs(60));
        dispatchers.push(Dispatcher::start(dispatch_config(receiver.url(), cfg, 4)).await);
    }
    enqueue_round_robin(&dispatchers, 50, key);
    drain_all(&dispatchers).await;
    let before = receiver.hits().len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.hits().len(), before, "POSTs after every event ended");
    (receiver, dispatchers)
}

// ------------------------------------------------------------------ tests

/// One in-memory instance: 3 deliveries, then exactly 5 failed POSTs open
/// the circuit, then nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_one_instance_opens_after_five_failed_posts() {
    let (receiver, dispatchers) = fail_after_three(1, None, "mem1").await;
    let hits = receiver.hits();
    assert_eq!(receiver.ok(), 3, "{hits:?}");
    assert_eq!(receiver.failed(), 5, "{hits:?}");
    assert!(
        hits.iter().all(|h| h.well_formed),
        "every POST is JSON and signed: {hits:?}"
    );
    let s = dispatchers[0].stats();
    eprintln!("stats: {}", serde_json::to_string(&s).unwrap());
    assert_eq!((s.accepted, s.delivered, s.failed_attempts), (50, 3, 5));
    assert_accounted(&s);
    assert!(s.dropped_by_breaker > 0 && s.breaker_rejections > 0, "{s:?}");
    assert_eq!(s.breaker.state, BreakerState::Open);
    assert_eq!(
        (s.breaker.backend, s.breaker.opened_total, s.breaker.fallbacks),
        (Backend::Memory, 1, 0)
    );
}

/// Four in-memory instances: each counts its own 5 failures, 20 in all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_four_instances_fail_five_times_each() {
    let (receiver, dispatchers) = fail_after_three(4, None, "mem4").await;
    assert_eq!(receiver.ok(), 3);
    assert_eq!(receiver.failed(), 20);
    for d in &dispatchers {
        let s = d.stats();
        assert_eq!(s.failed_attempts, 5, "{s:?}");
        assert_accounted(&s);
        assert_eq!(s.breaker.state, BreakerState::Open);
    }
}

/// Four instances sharing one Redis: 5 failed POSTs in total, three times
/// over with fresh keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_four_instances_fail_five_times_in_total() {
    let Some(redis) = RedisServer::start("redis_four_instances_fail_five_times_in_total").await else {
        return;
    };
    for round in 0..3 {
        let key = format!("loadcheck:test:shared:{round}");
        let (receiver, dispatchers) = fail_after_three(4, Some(redis.url()), &key).await;
        let per: Vec<u64> = dispatchers.iter().map(|d| d.stats().failed_attempts).collect();
        eprintln!("round {round}: failed POSTs per instance {per:?}");
        assert_eq!(receiver.ok(), 3, "round {round}");
        assert_eq!(receiver.failed(), 5, "round {round}: {per:?}");
        assert_eq!(per.iter().sum::<u64>(), 5);
        for d in &dispatchers {
            assert_accounted(&d.stats());
            let b = d.breaker().snapshot().await;
            assert_eq!(
                (b.backend, b.state, b.opened_total, b.fallbacks),
                (Backend::Redis, BreakerState::Open, 1, 0)
            );
            assert_eq!((b.failures, b.in_flight), (5, 0));
        }
    }
}

/// After `half_open_after`, one trial goes through alone; its success closes
/// the circuit and deliveries resume.
async fn half_open_trial_closes(redis_url: Option<String>, key: &str) {
    const HALF_OPEN: Duration = Duration::from_millis(300);
    // POSTs 1..=5 fail; the receiver has recovered from the 6th on.
    let receiver = Receiver::start(1, 6, Duration::from_millis(100)).await;
    let mut cfg = dispatch_config(receiver.url(), breaker_config(redis_url, key, HALF_OPEN), 4);
    cfg.max_attempts = 20;
    let d = Dispatcher::start(cfg).await;
    enqueue_round_robin(std::slice::from_ref(&d), 8, key);
    d.drain(DRAIN).await;
    let s = d.stats();
    let hits = receiver.hits();
    assert_eq!((s.delivered, s.failed_attempts), (8, 5), "{s:?}");
    assert_accounted(&s);
    assert_eq!((receiver.failed(), receiver.ok()), (5, 8));
    let last_failure = hits.iter().filter(|h| !h.ok).map(|h| h.end).max().unwrap();
    let trial = hits.iter().find(|h| h.ok).unwrap();
    let waited = trial.start - last_failure;
    let during_trial = hits
        .iter()
        .filter(|h| h.start > trial.start && h.start < trial.end)
        .count();
    eprintln!(
        "trial {} after the 5th failure; {during_trial} POSTs during it",
        waited.as_millis()
    );
    // Redis's clock has millisecond steps.
    assert!(waited >= HALF_OPEN - Duration::from_millis(2), "trial after {waited:?}");
    assert_eq!(during_trial, 0, "the trial went alone: {hits:?}");
    let b = d.breaker().snapshot().await;
    assert_eq!((b.state, b.failures, b.opened_total), (BreakerState::Closed, 0, 1));

    // Deliveries resume at full concurrency.
    enqueue_round_robin(std::slice::from_ref(&d), 8, &format!("{key}-after"));
    d.drain(DRAIN).await;
    assert_eq!(d.stats().delivered, 16);
    assert_eq!(receiver.failed(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_half_open_trial_closes_the_circuit() {
    half_open_trial_closes(None, "mem-half").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_half_open_trial_closes_the_circuit() {
    let Some(redis) = RedisServer::start("redis_half_open_trial_closes_the_circuit").await else {
        return;
    };
    half_open_trial_closes(Some(redis.url()), "loadcheck:test:half").await;
}

/// Redis killed mid-run: instances fall back to memory and keep delivering;
/// Redis back on the same port: they return to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_run_falls_back_and_returns() {
    let Some(mut redis) = RedisServer::start("redis_killed_mid_run_falls_back_and_returns").await else {
        return;
    };
    let receiver = Receiver::start(u64::MAX, u64::MAX, Duration::from_millis(5)).await;
    let key = "loadcheck:test:kill";
    let mut dispatchers = Vec::new();
    for _ in 0..2 {
        let cfg = breaker_config(Some(redis.url()), key, Duration::from_secs(60));
        dispatchers.push(Dispatcher::start(dispatch_config(receiver.url(), cfg, 4)).await);
    }
    // A bare breaker to time admissions while Redis is gone.
    let bare = Breaker::new(breaker_config(Some(redis.url()), key, Duration::from_secs(60))).await;
    assert_eq!(bare.backend(), Backend::Redis);

    let mut delivered_at_kill = 0;
    let mut slowest_admit = Duration::ZERO;
    for i in 0..150 {
        enqueue_round_robin(&dispatchers, 1, &format!("kill{i}"));
        if i == 50 {
            delivered_at_kill = dispatchers.iter().map(|d| d.stats().delivered).sum::<u64>();
            redis.kill();
        }
        if (51..100).contains(&i) {
            let t = Instant::now();
            let permit = bare.admit().await;
            slowest_admit = slowest_admit.max(t.elapsed());
            if let Some(p) = permit {
                bare.record(p, true).await;
            }
        }
        if i == 99 {
            let delivered: u64 = dispatchers.iter().map(|d| d.stats().delivered).sum();
            eprintln!("delivered at the kill {delivered_at_kill}, 1 s later {delivered}");
            assert!(delivered > delivered_at_kill + 50, "deliveries go on without Redis");
            for d in &dispatchers {
                let s = d.stats();
                assert_eq!(s.breaker.backend, Backend::Memory, "{s:?}");
                assert!(s.breaker.fallbacks >= 1, "{s:?}");
            }
            let b = bare.snapshot().await;
            assert_eq!(b.backend, Backend::Memory);
            assert_eq!(b.fallbacks, 1, "one fallback per outage");
            let port = redis.port;
            redis = RedisServer::start_on(port)
                .await
                .expect("redis restarts on the same port");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("slowest admission while Redis was gone: {slowest_admit:?}");
    assert!(slowest_admit < Duration::from_millis(400));
    drain_all(&dispatchers).await;
    // Back on Redis within the retry period.
    for d in &dispatchers {
        let waited = wait_for_redis(d.breaker()).await;
        eprintln!("back on Redis {waited:?} after the feed ended");
        let s = d.stats();
        eprintln!("stats: {}", serde_json::to_string(&s).unwrap());
        assert_eq!((s.accepted, s.delivered), (150, 150), "{s:?}");
        assert_accounted(&s);
        assert_eq!(s.breaker.backend, Backend::Redis, "{s:?}");
        assert!(s.breaker.fallbacks >= 1);
    }
    assert_eq!(receiver.failed(), 0);
    assert_eq!(receiver.ok(), 300);
}

/// A Redis that stops answering (SIGSTOP): admissions return within the
/// timeout on the memory backend; continued, Redis is used again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_hung_falls_back_within_the_timeout() {
    let Some(redis) = RedisServer::start("redis_hung_falls_back_within_the_timeout").await else {
        return;
    };
    let b = Breaker::new(breaker_config(
        Some(redis.url()),
        "loadcheck:test:hung",
        Duration::from_secs(60),
    ))
    .await;
    let p = b.admit().await.unwrap();
    assert_eq!(p.backend(), Backend::Redis);
    redis.signal(libc::SIGSTOP);
    let t = Instant::now();
    let q = b.admit().await.expect("memory admits");
    let took = t.elapsed();
    eprintln!("admission with Redis stopped took {took:?}");
    assert_eq!(q.backend(), Backend::Memory);
    assert!(took < Duration::from_millis(400), "{took:?}");
    // The Redis permit's outcome is lost while Redis is down, quickly.
    let t = Instant::now();
    b.record(p, false).await;
    assert!(
        t.elapsed() < Duration::from_millis(50),
        "no Redis call while it is down"
    );
    b.record(q, true).await;
    redis.signal(libc::SIGCONT);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = b.admit().await.unwrap();
    assert_eq!(r.backend(), Backend::Redis);
    let s = b.snapshot().await;
    assert_eq!((s.backend, s.fallbacks), (Backend::Redis, 1), "{s:?}");
    // In flight: `r`, `p` (its outcome was lost, so it waits for its lease),
    // and possibly the admission that timed out, which the continued Redis
    // may still have run.
    eprintln!("in flight after the stall: {}", s.in_flight);
    assert!((2..=3).contains(&s.in_flight), "{s:?}");
    b.record(r, true).await;
}

/// The admission script alone: 20 concurrent admissions on one closed
/// circuit with limit 5 get exactly 5 permits, on one connection and on four.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_script_admits_exactly_the_limit_concurrently() {
    let Some(redis) = RedisServer::start("redis_script_admits_exactly_the_limit_concurrently").await else {
        return;
    };
    for instances in [1, 4] {
        let key = format!("loadcheck:test:admit:{instances}");
        let mut breakers = Vec::new();
        for _ in 0..instances {
            breakers.push(Breaker::new(breaker_config(Some(redis.url()), &key, Duration::from_secs(60))).await);
        }
        let mut set = JoinSet::new();
        for i in 0..20 {
            let b = breakers[i % instances].clone();
            set.spawn(async move { b.admit().await });
        }
        let permits: Vec<Permit> = set.join_all().await.into_iter().flatten().collect();
        assert_eq!(permits.len(), 5, "{instances} instance(s)");
        assert!(permits.iter().all(|p| p.backend() == Backend::Redis && !p.is_trial()));
        let s = breakers[0].snapshot().await;
        assert_eq!((s.state, s.failures, s.in_flight), (BreakerState::Closed, 0, 5));
    }
}

/// The record script: failures open the circuit at the limit, a success that
/// raced a failure does not reset the count, one trial at a time across
/// instances, and the trial's outcome decides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_script_state_machine() {
    let Some(redis) = RedisServer::start("redis_script_state_machine").await else {
        return;
    };
    const DELAY: Duration = Duration::from_millis(300);
    let cfg = breaker_config(Some(redis.url()), "loadcheck:test:machine", DELAY);
    let a = Breaker::new(cfg.clone()).await;
    let b = Breaker::new(cfg).await;

    // A success admitted before a failure was recorded does not reset.
    let early = a.admit().await.unwrap();
    let failing = b.admit().await.unwrap();
    b.record(failing, false).await;
    a.record(early, true).await;
    assert_eq!(a.snapshot().await.failures, 1);
    let later = a.admit().await.unwrap();
    a.record(later, true).await;
    assert_eq!(a.snapshot().await.failures, 0, "a newer success resets");

    for i in 0..5 {
        let p = if i % 2 == 0 { a.admit().await } else { b.admit().await }.unwrap();
        (if i % 2 == 0 { &a } else { &b }).record(p, false).await;
    }
    let s = b.snapshot().await;
    assert_eq!((s.state, s.failures, s.opened_total), (BreakerState::Open, 5, 1));
    assert!(a.admit().await.is_none() && b.admit().await.is_none(), "open rejects");

    tokio::time::sleep(DELAY).await;
    assert_eq!(a.snapshot().await.state, BreakerState::HalfOpen);
    let mut set = JoinSet::new();
    for i in 0..10 {
        let br = if i % 2 == 0 { a.clone() } else { b.clone() };
        set.spawn(async move { br.admit().await.map(|p| (p, br)) });
    }
    let mut trials: Vec<(Permit, Breaker)> = set.join_all().await.into_iter().flatten().collect();
    assert_eq!(trials.len(), 1, "one trial across instances");
    let (trial, owner) = trials.pop().unwrap();
    assert!(trial.is_trial());
    owner.record(trial, false).await;
    let s = a.snapshot().await;
    assert_eq!(
        (s.state, s.opened_total),
        (BreakerState::Open, 2),
        "a failed trial re-opens"
    );
    assert!(a.admit().await.is_none());

    tokio::time::sleep(DELAY).await;
    let trial = b.admit().await.unwrap();
    assert!(trial.is_trial());
    b.record(trial, true).await;
    let s = a.snapshot().await;
    assert_eq!(
        (s.state, s.failures, s.in_flight),
        (BreakerState::Closed, 0, 0),
        "a good trial closes"
    );
}

/// In-flight leases: slots of an instance that vanished expire (here: their
/// scores are moved into the past), and a late record changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_expired_leases_free_their_slots() {
    let Some(redis) = RedisServer::start("redis_expired_leases_free_their_slots").await else {
        return;
    };
    let key = "loadcheck:test:lease";
    let b = Breaker::new(breaker_config(Some(redis.url()), key, Duration::from_secs(60))).await;
    let mut permits = Vec::new();
    for _ in 0..5 {
        permits.push(b.admit().await.unwrap());
    }
    assert!(b.admit().await.is_none(), "at the limit");
    let mut conn = redis.connection().await;
    let set = format!("{key}:in_flight");
    let members: Vec<String> = redis::cmd("ZRANGE")
        .arg(&set)
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(members.len(), 5);
    let ttl: i64 = redis::cmd("PTTL").arg(&set).query_async(&mut conn).await.unwrap();
    assert!(ttl > 0, "keys expire when idle");
    for m in &members {
        let _: i64 = redis::cmd("ZADD")
            .arg(&set)
            .arg("XX")
            .arg(1)
            .arg(m)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    let fresh = b.admit().await.expect("expired slots are free");
    for p in permits {
        b.record(p, false).await;
    }
    let s = b.snapshot().await;
    assert_eq!(
        (s.failures, s.in_flight),
        (0, 1),
        "expired permits' outcomes are dropped"
    );
    b.record(fresh, true).await;
}

/// A full queue refuses events; nothing is sent without a worker free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_refuses_events() {
    let receiver = Receiver::start(u64::MAX, u64::MAX, Duration::from_millis(200)).await;
    let mut cfg = dispatch_config(receiver.url(), breaker_config(None, "q", Duration::from_secs(60)), 1);
    cfg.queue = 3;
    let d = Dispatcher::start(cfg).await;
    let results: Vec<bool> = (0..5)
        .map(|i| d.enqueue(format!("q{i}"), Bytes::from_static(b"{}")).is_ok())
        .collect();
    assert_eq!(results, [true, true, true, false, false]);
    let err = d.enqueue("x".into(), Bytes::new()).unwrap_err();
    assert_eq!(err.capacity, 3);
    d.drain(DRAIN).await;
    let s = d.stats();
    assert_eq!((s.accepted, s.delivered, s.in_queue), (3, 3, 0));
    assert!(
        d.enqueue("again".into(), Bytes::from_static(b"{}")).is_ok(),
        "room again"
    );
    d.drain(DRAIN).await;
    let ids: Vec<String> = receiver.hits().into_iter().map(|h| h.id).collect();
    assert_eq!(ids, ["q0", "q1", "q2", "again"]);
}

/// A receiver's `Retry-After` delays the retry (and the same id is resent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured_with_the_same_id() {
    let hits = Arc::new(Mutex::new(Vec::<(Instant, String)>::new()));
    let seen = Arc::clone(&hits);
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap| {
            let seen = Arc::clone(&seen);
            async move {
                let id = headers
                    .get("webhook-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                let mut seen = seen.lock().unwrap();
                seen.push((Instant::now(), id));
                if seen.len() == 1 {
                    (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "1")])
                } else {
                    (StatusCode::OK, [("retry-after", "0")])
                }
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let cfg = dispatch_config(
        format!("http://{addr}/hook"),
        breaker_config(None, "ra", Duration::from_secs(60)),
        1,
    );
    let d = Dispatcher::start(cfg).await;
    d.enqueue("evt_ra".into(), Bytes::from_static(b"{}")).unwrap();
    d.drain(DRAIN).await;
    let hits = hits.lock().unwrap().clone();
    assert_eq!(hits.len(), 2);
    assert_eq!((hits[0].1.as_str(), hits[1].1.as_str()), ("evt_ra", "evt_ra"));
    let gap = hits[1].0 - hits[0].0;
    assert!(gap >= Duration::from_secs(1), "retried after {gap:?}");
    let s = d.stats();
    assert_eq!((s.delivered, s.failed_attempts, s.retries), (1, 1, 1));
}
