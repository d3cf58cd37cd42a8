//! Tests of the embedded demo service over real sockets: each route's status,
//! headers and body, the stall mode, and the graceful drain on shutdown.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use loadcheck::demo::{DemoConfig, DemoRollout, Route, Shaping, router, serve, serve_standalone};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Upper bound on any single request or shutdown in these tests.
const LIMIT: Duration = Duration::from_secs(10);

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
struct Reply {
    /// Status code.
    status: u16,
    /// Header lines as (lower-cased name, value).
    headers: Vec<(String, String)>,
    /// Body bytes (the service sends sized bodies, never chunked ones).
    body: Vec<u8>,
}

impl Reply {
    /// The value of header `name`, if present.
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON.
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("body is JSON")
    }
}

/// A running service: its address, its shutdown trigger and its task.
struct Running {
    /// Where it listens.
    addr: SocketAddr,
    /// Resolves the shutdown future when sent (or dropped).
    stop: oneshot::Sender<()>,
    /// The `serve` task.
    task: JoinHandle<io::Result<()>>,
}

impl Running {
    /// Starts `serve` with `cfg` on a fresh local port.
    async fn start(cfg: DemoConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, cfg, async move {
            let _ = stopped.await;
        }));
        Self { addr, stop, task }
    }

    /// Triggers shutdown and waits (bounded) for `serve` to return `Ok`.
    async fn shutdown(self) {
        let _ = self.stop.send(());
        let joined = tokio::time::timeout(LIMIT, self.task).await;
        joined.expect("serve returns in time").expect("join").expect("serve ok");
    }
}

/// Sends one HTTP/1.1 request with `Connection: close` and reads the whole response.
async fn request(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> Reply {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        io::Result::Ok(raw)
    };
    let raw = tokio::time::timeout(LIMIT, exchange)
        .await
        .expect("in time")
        .expect("exchange");
    parse(&raw)
}

/// Splits a raw response into status, headers and body.
fn parse(raw: &[u8]) -> Reply {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("end of head");
    let head = std::str::from_utf8(&raw[..split]).expect("ASCII head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status = status_line.split(' ').nth(1).expect("status").parse().expect("number");
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let reply = Reply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    };
    assert_ne!(reply.header("transfer-encoding"), Some("chunked"), "sized bodies only");
    reply
}

/// A config with version `v-test` and an optional stall of `stall_for` every `every`.
fn cfg(stall: Option<(Duration, Duration)>) -> DemoConfig {
    DemoConfig {
        app_version: "v-test".to_owned(),
        stall_every: stall.map(|(every, _)| every),
        stall_for: stall.map_or(Duration::ZERO, |(_, length)| length),
        seed: Some(7),
        rollout: None,
        dispatcher: None,
        shaping: Shaping::default(),
    }
}

#[test]
fn default_config_is_v1_without_stalls() {
    let cfg = DemoConfig::default();
    assert_eq!(cfg.app_version, "v1");
    assert_eq!(cfg.stall_every, None);
    assert_eq!(cfg.stall_for, Duration::ZERO);
    let _ = router(cfg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_says_ok() {
    let svc = Running::start(cfg(None)).await;
    let reply = request(svc.addr, "GET", "/health", b"").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("x-app-version"), Some("v-test"));
    assert_eq!(reply.body, b"ok");
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_returns_results_and_echoes_query() {
    let svc = Running::start(cfg(None)).await;
    let started = Instant::now();
    let reply = request(svc.addr, "GET", "/v1/images/?q=cats", b"").await;
    assert!(
        started.elapsed() >= Duration::from_millis(2),
        "search has a 2 ms base latency"
    );
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("x-app-version"), Some("v-test"));
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let json = reply.json();
    assert_eq!(json["q"], "cats");
    let results = json["results"].as_array().expect("results array");
    assert!(!results.is_empty());
    for _ in 0..20 {
        let again = request(svc.addr, "GET", "/v1/images/?q=cats", b"").await;
        assert_eq!(again.json(), json, "results are stable for a query");
    }
    let missing = request(svc.addr, "GET", "/v1/images/", b"").await;
    assert_eq!(missing.status, 200);
    assert_eq!(missing.json()["q"], "");
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thumb_is_four_kib_of_png() {
    let svc = Running::start(cfg(None)).await;
    let reply = request(svc.addr, "GET", "/v1/images/42/thumb/", b"").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("x-app-version"), Some("v-test"));
    assert_eq!(reply.header("content-type"), Some("image/png"));
    assert_eq!(reply.header("content-length"), Some("4096"));
    assert_eq!(reply.body.len(), 4096);
    assert!(reply.body.starts_with(b"\x89PNG\r\n\x1a\n"));
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_is_accepted_with_a_fresh_uuid() {
    let svc = Running::start(cfg(None)).await;
    let first = request(svc.addr, "POST", "/api/v1/webhooks", br#"{"event":"x"}"#).await;
    let second = request(svc.addr, "POST", "/api/v1/webhooks", b"").await;
    for reply in [&first, &second] {
        assert_eq!(reply.status, 202);
        assert_eq!(reply.header("x-app-version"), Some("v-test"));
        let id = reply.json()["id"].as_str().expect("id string").to_owned();
        let uuid = uuid::Uuid::parse_str(&id).expect("id is a UUID");
        assert_eq!(uuid.get_version_num(), 4);
    }
    assert_ne!(first.json()["id"], second.json()["id"]);
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_carry_the_version_header_too() {
    let svc = Running::start(cfg(None)).await;
    let not_found = request(svc.addr, "GET", "/nope", b"").await;
    assert_eq!(not_found.status, 404);
    assert_eq!(not_found.header("x-app-version"), Some("v-test"));
    let wrong_method = request(svc.addr, "GET", "/api/v1/webhooks", b"").await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.header("x-app-version"), Some("v-test"));
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_version_strings_do_not_panic() {
    let mut config = cfg(None);
    config.app_version = "v2\nbeta é".to_owned();
    let svc = Running::start(config).await;
    let reply = request(svc.addr, "GET", "/health", b"").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("x-app-version"), Some("v2_beta _"));
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_in_a_stall_wait_for_its_end_but_health_does_not() {
    let stall_for = Duration::from_millis(400);
    let before_start = Instant::now();
    let svc = Running::start(cfg(Some((Duration::from_secs(60), stall_for)))).await;
    let addr = svc.addr;
    let stalled = tokio::spawn(async move {
        let reply = request(addr, "GET", "/v1/images/1/thumb/", b"").await;
        (reply, before_start.elapsed())
    });
    let health_started = Instant::now();
    let health = request(addr, "GET", "/health", b"").await;
    assert_eq!(health.status, 200);
    assert!(health_started.elapsed() < stall_for, "/health never stalls");
    let (reply, done_after) = stalled.await.expect("join");
    assert_eq!(reply.status, 200);
    assert!(
        done_after >= stall_for,
        "answered {done_after:?} after start, inside the stall"
    );
    let after_started = Instant::now();
    let after = request(addr, "GET", "/v1/images/1/thumb/", b"").await;
    assert_eq!(after.status, 200);
    assert!(after_started.elapsed() < stall_for, "no stall outside the window");
    svc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_an_in_flight_request() {
    let stall_for = Duration::from_millis(600);
    let svc = Running::start(cfg(Some((Duration::from_secs(60), stall_for)))).await;
    let addr = svc.addr;
    let in_flight = tokio::spawn(request(addr, "GET", "/v1/images/?q=drain", b""));
    tokio::time::sleep(Duration::from_millis(150)).await;
    let _ = svc.stop.send(());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!svc.task.is_finished(), "serve waits for the in-flight request");
    let reply = tokio::time::timeout(LIMIT, in_flight)
        .await
        .expect("in time")
        .expect("join");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["q"], "drain");
    let served = tokio::time::timeout(LIMIT, svc.task).await.expect("serve returns");
    served.expect("join").expect("serve ok");
}

/// Connects to `addr` until it accepts, so the service is up (and its signal handlers installed).
async fn wait_until_listening(addr: SocketAddr) {
    let deadline = Instant::now() + LIMIT;
    while TcpStream::connect(addr).await.is_err() {
        assert!(Instant::now() < deadline, "service did not come up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Picks a free local port (the standalone runner binds by address, not by listener).
fn free_local_addr() -> SocketAddr {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe bind");
    probe.local_addr().expect("probe addr")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_drains_on_sigterm() {
    let addr = free_local_addr();
    let stall_for = Duration::from_millis(1500);
    let config = cfg(Some((Duration::from_secs(60), stall_for)));
    let standalone = tokio::spawn(serve_standalone(addr, config));
    wait_until_listening(addr).await;
    let in_flight = tokio::spawn(request(addr, "GET", "/v1/images/7/thumb/", b""));
    tokio::time::sleep(Duration::from_millis(150)).await;
    let pid = std::process::id().to_string();
    let killed = std::process::Command::new("kill").args(["-TERM", &pid]).status();
    assert!(killed.expect("run kill").success());
    let reply = tokio::time::timeout(LIMIT, in_flight)
        .await
        .expect("in time")
        .expect("join");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body.len(), 4096);
    let outcome = tokio::time::timeout(LIMIT, standalone).await.expect("returns in time");
    outcome.expect("join").expect("serve_standalone ok");
}

/// The median time of `n` sequential requests to `path`, and the versions seen.
async fn median_ms(addr: SocketAddr, path: &str, n: usize) -> (f64, Vec<String>) {
    let mut times = Vec::with_capacity(n);
    let mut versions = Vec::new();
    for _ in 0..n {
        let started = Instant::now();
        let reply = request(addr, "GET", path, b"").await;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(reply.status, 200);
        versions.push(reply.header("x-app-version").unwrap_or_default().to_owned());
    }
    times.sort_by(f64::total_cmp);
    (times[n / 2], versions)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_gets_its_latency_and_the_new_version_can_be_slower_on_it() {
    let shaping = Shaping {
        base: vec![
            (Route::Thumbnail, Duration::from_millis(20)),
            (Route::Search, Duration::from_millis(20)),
        ],
        slow: vec![],
        roll_slow: vec![(Route::Thumbnail, 2.0)],
    };
    // v1 only: both routes about 20 ms.
    let old = Running::start(DemoConfig {
        shaping: shaping.clone(),
        ..cfg(None)
    })
    .await;
    let (thumb_v1, versions) = median_ms(old.addr, "/v1/images/7/thumb/", 15).await;
    assert!(versions.iter().all(|v| v == "v-test"));
    let (search_v1, _) = median_ms(old.addr, "/v1/images/?q=cat", 15).await;
    old.shutdown().await;
    // Rolled to v2 from the start: the thumbnail doubles, search does not.
    let new = Running::start(DemoConfig {
        shaping,
        rollout: Some(DemoRollout {
            to: "v2".to_owned(),
            at: Duration::ZERO,
            over: Duration::ZERO,
        }),
        ..cfg(None)
    })
    .await;
    let (thumb_v2, versions) = median_ms(new.addr, "/v1/images/7/thumb/", 15).await;
    assert!(versions.iter().all(|v| v == "v2"), "{versions:?}");
    let (search_v2, _) = median_ms(new.addr, "/v1/images/?q=cat", 15).await;
    new.shutdown().await;
    assert!((18.0..35.0).contains(&thumb_v1), "v1 thumbnail median {thumb_v1} ms");
    assert!(
        thumb_v2 >= 1.6 * thumb_v1,
        "v2 thumbnail {thumb_v2} ms against v1 {thumb_v1} ms"
    );
    assert!(
        search_v2 < 1.4 * search_v1,
        "search is not slowed: {search_v1} → {search_v2} ms"
    );
}
