//! Probes against local servers: an axum server whose answers change on a
//! timeline measured from an instant the test shares with the probe, a
//! closed port, a redirect, a slow handler, a `/metrics` endpoint, and an
//! HTTPS server with its own CA (rcgen, tokio-rustls, hyper).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use loadcheck::metrics::deploy::ProbeResult;
use loadcheck::plan::rollout::Probe;
use loadcheck::plan::{Resolve, Scheme, Target, TlsOptions};
use loadcheck::prometheus::parse_selector;
use loadcheck::rollout::probe;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// Seconds since the shared start.
fn secs(start: Instant) -> f64 {
    start.elapsed().as_secs_f64()
}

/// `/ready`: 503 from 1.0 s to 2.5 s after the start, 200 otherwise.
async fn ready(State(start): State<Instant>) -> StatusCode {
    let t = secs(start);
    if (1.0..2.5).contains(&t) {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    }
}

/// `/metrics`: `breaker_state{name="redis"}` is 0, 1 from 1.0 s to 2.0 s,
/// then 0 again; other series around it.
async fn metrics(State(start): State<Instant>) -> Response {
    let t = secs(start);
    let redis = if (1.0..2.0).contains(&t) { 1 } else { 0 };
    let body = format!(
        "# HELP breaker_state Circuit breaker state.\n\
         # TYPE breaker_state gauge\n\
         breaker_state{{name=\"postgres\"}} 1\n\
         breaker_state{{name=\"redis\",zone=\"a\"}} {redis}\n\
         http_requests_total{{code=\"200\",path=\"/a\\\\b\\\"c\"}} 1e3 1700000000000\n"
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

/// The test server's routes.
fn app(start: Instant) -> Router {
    Router::new()
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/html", get(|| async { "<html>not metrics</html>" }))
        .route(
            "/moved",
            get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/ready")]) }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(2)).await;
                "late"
            }),
        )
        .with_state(start)
}

/// A server on 127.0.0.1:0, stopped when dropped.
struct Server {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(start: Instant) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app(start)).await;
    });
    Server { addr, task }
}

/// A probe of `url` (its origin from `scheme`, `host` and `port`).
fn probe_of(scheme: Scheme, host: &str, port: u16, path: &str) -> Probe {
    let scheme_name = match scheme {
        Scheme::Http => "http",
        Scheme::Https => "https",
    };
    Probe {
        name: "p".to_string(),
        url: format!("{scheme_name}://{host}:{port}{path}"),
        origin: Target {
            scheme,
            host: host.to_string(),
            port,
            base_path: String::new(),
        },
        interval: Duration::from_millis(100),
        timeout: Duration::from_millis(500),
        expect: Vec::new(),
        metric: None,
    }
}

fn http_probe(addr: SocketAddr, path: &str) -> Probe {
    probe_of(Scheme::Http, "127.0.0.1", addr.port(), path)
}

/// Runs `probe` from `start` until `start + run`, then stops it.
async fn run_for(probe: Probe, tls: TlsOptions, start: Instant, run: Duration) -> ProbeResult {
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(probe::run(probe, tls, start, rx));
    tokio::time::sleep_until(tokio::time::Instant::from_std(start + run)).await;
    stop.send(true).unwrap();
    // The stop abandons a check in flight: it returns at once.
    tokio::time::timeout(Duration::from_secs(1), task)
        .await
        .expect("the probe stops promptly")
        .unwrap()
}

fn near(value: f64, want: f64, tol: f64) -> bool {
    (value - want).abs() <= tol
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_readiness_outage_is_one_interval() {
    let start = Instant::now();
    let server = serve(start).await;
    let r = run_for(
        http_probe(server.addr, "/ready"),
        TlsOptions::default(),
        start,
        Duration::from_secs(4),
    )
    .await;
    assert_eq!(r.intervals.len(), 1, "{r:?}");
    let interval = &r.intervals[0];
    assert!(near(interval.start_s, 1.0, 0.15), "{r:?}");
    let end = interval.end_s.expect("it came back");
    assert!(near(end, 2.5, 0.15), "{r:?}");
    assert!((38..=41).contains(&r.checks), "{r:?}");
    assert!((13..=17).contains(&r.failed_checks), "{r:?}");
    assert!(near(r.down_s, 1.5, 0.2), "{r:?}");
    assert_eq!(r.last_error.as_deref(), Some("status 503"));
    assert_eq!(r.interval_ms, 100);
    assert_eq!(r.transitions(), vec![(interval.start_s, false), (end, true)]);
    assert!(r.values.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_port_is_down_the_whole_time() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let start = Instant::now();
    let r = run_for(
        probe_of(Scheme::Http, "127.0.0.1", port, "/ready"),
        TlsOptions::default(),
        start,
        Duration::from_secs(1),
    )
    .await;
    assert!(r.checks >= 8, "{r:?}");
    assert_eq!(r.checks, r.failed_checks);
    assert_eq!(r.intervals.len(), 1);
    assert!(r.intervals[0].start_s < 0.05, "{r:?}");
    assert_eq!(r.intervals[0].end_s, None);
    assert!(near(r.down_s, 1.0, 0.1), "{r:?}");
    let err = r.last_error.clone().unwrap_or_default();
    assert!(err.starts_with("connect:"), "{err}");
    assert_eq!(r.transitions().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metric_probe_records_the_series_over_time() {
    let start = Instant::now();
    let server = serve(start).await;
    let mut p = http_probe(server.addr, "/metrics");
    p.metric = Some(parse_selector(r#"breaker_state{name="redis"}"#).unwrap());
    let r = run_for(p, TlsOptions::default(), start, Duration::from_secs(3)).await;
    assert_eq!(r.failed_checks, 0, "{r:?}");
    assert!(r.intervals.is_empty());
    assert_eq!(r.metric.as_deref(), Some(r#"breaker_state{name="redis"}"#));
    assert_eq!(r.values.len() as u64, r.checks);
    assert!(r.checks >= 28, "{r:?}");
    // The readings go 0 → 1 → 0, each at its check's time.
    let mut runs: Vec<f64> = Vec::new();
    for &(ms, value) in &r.values {
        if runs.last() != Some(&value) {
            runs.push(value);
        }
        let t = ms as f64 / 1000.0;
        if !(0.9..=2.1).contains(&t) {
            assert_eq!(value, 0.0, "at {t}: {r:?}");
        } else if (1.1..1.9).contains(&t) {
            assert_eq!(value, 1.0, "at {t}: {r:?}");
        }
    }
    assert_eq!(runs, vec![0.0, 1.0, 0.0]);
    // Times are in order and on the 100 ms schedule.
    assert!(r.values.windows(2).all(|w| w[0].0 < w[1].0));
    // Escaped label values and timestamps parse.
    let mut p = http_probe(server.addr, "/metrics");
    p.metric = Some(parse_selector(r#"http_requests_total{path="/a\\b\"c"}"#).unwrap());
    let r = run_for(p, TlsOptions::default(), Instant::now(), Duration::from_millis(250)).await;
    assert!(r.checks >= 2 && r.failed_checks == 0, "{r:?}");
    assert!(r.values.iter().all(|&(_, v)| v == 1000.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_series_or_a_body_not_in_the_format_is_down() {
    let start = Instant::now();
    let server = serve(start).await;
    let mut p = http_probe(server.addr, "/metrics");
    p.metric = Some(parse_selector(r#"breaker_state{name="kafka"}"#).unwrap());
    let r = run_for(p, TlsOptions::default(), Instant::now(), Duration::from_millis(350)).await;
    assert!(r.checks >= 3 && r.checks == r.failed_checks, "{r:?}");
    assert_eq!(
        r.last_error.as_deref(),
        Some(r#"metric: no series matches breaker_state{name="kafka"}"#)
    );
    assert!(r.values.is_empty());

    let mut p = http_probe(server.addr, "/html");
    p.metric = Some(parse_selector("up").unwrap());
    let r = run_for(p, TlsOptions::default(), Instant::now(), Duration::from_millis(250)).await;
    assert!(r.checks >= 2 && r.checks == r.failed_checks, "{r:?}");
    let err = r.last_error.unwrap_or_default();
    assert!(
        err.starts_with("metric: not the Prometheus text format: line 1:"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_not_followed() {
    let start = Instant::now();
    let server = serve(start).await;
    let r = run_for(
        http_probe(server.addr, "/moved"),
        TlsOptions::default(),
        start,
        Duration::from_millis(350),
    )
    .await;
    assert!(r.checks >= 3 && r.checks == r.failed_checks, "{r:?}");
    assert_eq!(r.last_error.as_deref(), Some("status 302"));
    // Unless 302 is expected.
    let mut p = http_probe(server.addr, "/moved");
    p.expect = vec![302];
    let r = run_for(p, TlsOptions::default(), Instant::now(), Duration::from_millis(350)).await;
    assert!(r.checks >= 3 && r.failed_checks == 0, "{r:?}");
    assert!(r.intervals.is_empty() && r.last_error.is_none());
    // And expect replaces "any 2xx".
    let mut p = http_probe(server.addr, "/ready");
    p.expect = vec![204];
    let r = run_for(p, TlsOptions::default(), Instant::now(), Duration::from_millis(250)).await;
    assert_eq!(r.last_error.as_deref(), Some("status 200"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_answer_is_a_timeout_and_checks_do_not_pile_up() {
    let start = Instant::now();
    let server = serve(start).await;
    let mut p = http_probe(server.addr, "/slow");
    p.timeout = Duration::from_millis(250);
    let r = run_for(p, TlsOptions::default(), start, Duration::from_millis(1000)).await;
    // One check at a time: each takes 250 ms, so ticks are skipped.
    assert!((3..=5).contains(&r.checks), "{r:?}");
    assert_eq!(r.checks, r.failed_checks);
    let err = r.last_error.unwrap_or_default();
    assert!(err.contains("timeout"), "{err}");
    assert_eq!(r.intervals.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_sender_stops_the_probe() {
    let start = Instant::now();
    let server = serve(start).await;
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(probe::run(
        http_probe(server.addr, "/ready"),
        TlsOptions::default(),
        start,
        rx,
    ));
    tokio::time::sleep(Duration::from_millis(250)).await;
    drop(stop);
    let r = tokio::time::timeout(Duration::from_secs(1), task)
        .await
        .unwrap()
        .unwrap();
    assert!((2..=4).contains(&r.checks), "{r:?}");
    assert_eq!(r.failed_checks, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_start_keeps_the_schedule_from_run_start() {
    // The run started 1 s before the probe task: the first check is at
    // once, the rest on the 100 ms grid from the run's start.
    let start = Instant::now() - Duration::from_secs(1);
    let server = serve(start).await;
    let mut p = http_probe(server.addr, "/metrics");
    p.metric = Some(parse_selector("breaker_state").unwrap());
    let r = run_for(p, TlsOptions::default(), start, Duration::from_millis(1500)).await;
    assert!((5..=7).contains(&r.checks), "{r:?}");
    let first = r.values.first().map_or(0, |v| v.0);
    assert!((1000..1080).contains(&first), "{r:?}");
    for &(ms, _) in r.values.iter().skip(1) {
        let offset = ms % 100;
        assert!(offset < 60, "{ms} is off the grid: {r:?}");
    }
}

/// A CA, and a leaf for `staging.example.test` it signed: (CA PEM, leaf
/// DER, leaf key PKCS#8 DER).
fn pki() -> (String, Vec<u8>, Vec<u8>) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(DnType::CommonName, "loadcheck probe test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["staging.example.test".to_string()]).unwrap();
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
    (ca_cert.pem(), leaf_cert.der().to_vec(), leaf_key.serialize_der())
}

/// An HTTP/1.1-over-TLS server answering 200 `ok` to everything.
async fn tls_server(leaf: Vec<u8>, key: Vec<u8>) -> Server {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key));
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.into()], key)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            conns.spawn(async move {
                let Ok(Ok(tls)) = tokio::time::timeout(Duration::from_secs(5), acceptor.accept(tcp)).await else {
                    return;
                };
                let svc = service_fn(|_req: hyper::Request<Incoming>| async {
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(b"ok"))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
            while conns.try_join_next().is_some() {}
        }
    });
    Server { addr, task }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_probes_use_the_ca_file_resolve_and_insecure() {
    let (ca_pem, leaf, key) = pki();
    let server = tls_server(leaf, key).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let host = "staging.example.test";
    let p = probe_of(Scheme::Https, host, server.addr.port(), "/ready");
    let resolve = vec![Resolve {
        host: host.to_string(),
        port: server.addr.port(),
        addr: server.addr.ip(),
    }];
    let run = Duration::from_millis(250);

    // The CA trusted, the name resolved to 127.0.0.1: up.
    let tls = TlsOptions {
        ca_file: Some(ca_file),
        insecure: false,
        resolve: resolve.clone(),
        ..TlsOptions::default()
    };
    let r = run_for(p.clone(), tls, Instant::now(), run).await;
    assert!(r.checks >= 2 && r.failed_checks == 0, "{r:?}");

    // Without the CA: the certificate is rejected.
    let tls = TlsOptions {
        ca_file: None,
        insecure: false,
        resolve: resolve.clone(),
        ..TlsOptions::default()
    };
    let r = run_for(p.clone(), tls, Instant::now(), run).await;
    assert!(r.checks >= 2 && r.checks == r.failed_checks, "{r:?}");
    let err = r.last_error.unwrap_or_default();
    assert!(err.contains("certificate"), "{err}");

    // `insecure` skips verification.
    let tls = TlsOptions {
        ca_file: None,
        insecure: true,
        resolve,
        ..TlsOptions::default()
    };
    let r = run_for(p, tls, Instant::now(), run).await;
    assert!(r.checks >= 2 && r.failed_checks == 0, "{r:?}");
}
