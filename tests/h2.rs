//! HTTP/2 from the server's side: an h2c server built on the `h2` crate
//! (no HTTP/1.1 upgrade, prior knowledge only) records every header each
//! request carried and answers by path: `/ok` with 200, `/refuse` with
//! `RST_STREAM(REFUSED_STREAM)`, `/reset` with `RST_STREAM(INTERNAL_ERROR)`,
//! and `/goaway` by sending a `GOAWAY` and closing the connection.
//!
//! It checks the rule nginx enforces on real targets (issue 10: a `host`
//! header beside `:authority` was a 400): no connection-specific header
//! goes out on h2 (RFC 9113 §8.2.2), a plan's `Host` becomes the
//! `:authority`, stream and connection errors land in their classes, and
//! the run goes on over new connections.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use h2::Reason;
use loadcheck::exit::Exit;
use tokio::net::TcpListener;

/// What the server saw.
#[derive(Default)]
struct Seen {
    /// Every header name of every request.
    header_names: Mutex<BTreeSet<String>>,
    /// Every `:authority`.
    authorities: Mutex<BTreeSet<String>>,
    connections: AtomicU64,
    requests: AtomicU64,
}

/// Serves h2c on a free loopback port until the test ends.
async fn h2c_server() -> (String, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let state = seen.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            state.connections.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(connection(sock, state.clone()));
        }
    });
    (format!("http://{addr}"), seen)
}

async fn connection(sock: tokio::net::TcpStream, seen: Arc<Seen>) {
    let Ok(mut conn) = h2::server::handshake(sock).await else {
        return;
    };
    while let Some(Ok((req, mut respond))) = conn.accept().await {
        seen.requests.fetch_add(1, Ordering::Relaxed);
        seen.header_names
            .lock()
            .unwrap()
            .extend(req.headers().keys().map(|k| k.as_str().to_string()));
        if let Some(a) = req.uri().authority() {
            seen.authorities.lock().unwrap().insert(a.to_string());
        }
        match req.uri().path() {
            "/refuse" => respond.send_reset(Reason::REFUSED_STREAM),
            "/reset" => respond.send_reset(Reason::INTERNAL_ERROR),
            "/goaway" => {
                // Refuse this stream and everything after it, then close.
                conn.abrupt_shutdown(Reason::NO_ERROR);
                break;
            }
            _ => {
                let resp = http::Response::builder().status(200).body(()).unwrap();
                if let Ok(mut body) = respond.send_response(resp, false) {
                    let _ = body.send_data(Bytes::from_static(b"hello\n"), true);
                }
            }
        }
    }
    // Drive the connection until the client has what it was sent.
    let _ = tokio::time::timeout(Duration::from_secs(2), std::future::poll_fn(|cx| conn.poll_closed(cx))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_connection_specific_header_goes_out_on_h2_and_host_becomes_the_authority() {
    let (url, seen) = h2c_server().await;
    let plan = format!(
        r#"
        name = "h2-headers"
        target = "{url}"
        [tls]
        http = "2"
        [load]
        executor = "constant-vus"
        vus = 4
        duration = "1s"
        [[endpoint]]
        name = "ok"
        path = "/ok"
        headers = {{ Host = "staging.example.test", Connection = "keep-alive", Keep-Alive = "timeout=5", Upgrade = "websocket", Proxy-Connection = "keep-alive", TE = "gzip", X-Kept = "1" }}
        "#
    );
    let (code, result, _) = common::run(&plan).await;
    let total = &result.stats.total;
    assert!(total.requests > 100, "only {} requests", total.requests);
    assert_eq!(
        total.ok, total.requests,
        "every request answered 200: {:?}",
        total.errors
    );
    assert_eq!(code, Exit::Pass);
    assert_eq!(total.protocols.get("HTTP/2"), Some(&total.ok));
    let names = seen.header_names.lock().unwrap().clone();
    for forbidden in [
        "host",
        "connection",
        "keep-alive",
        "upgrade",
        "proxy-connection",
        "transfer-encoding",
        "te",
    ] {
        assert!(!names.contains(forbidden), "`{forbidden}` was sent on h2: {names:?}");
    }
    assert!(names.contains("x-kept"), "{names:?}");
    let authorities = seen.authorities.lock().unwrap().clone();
    assert_eq!(authorities, BTreeSet::from(["staging.example.test".to_string()]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_and_reset_streams_and_goaway_are_counted_and_the_run_goes_on() {
    let (url, seen) = h2c_server().await;
    // Closed model, one connection per VU: a GOAWAY ends only its own VU's
    // connection, so the classes per endpoint are exact.
    let plan = format!(
        r#"
        name = "h2-errors"
        target = "{url}"
        [tls]
        http = "2"
        [load]
        executor = "constant-vus"
        vus = 6
        duration = "2s"
        endpoints = {{ ok = 5, refuse = 1, reset = 1, goaway = 1 }}
        [[endpoint]]
        name = "ok"
        path = "/ok"
        [[endpoint]]
        name = "refuse"
        path = "/refuse"
        [[endpoint]]
        name = "reset"
        path = "/reset"
        [[endpoint]]
        name = "goaway"
        path = "/goaway"
        "#
    );
    let (_, result, _) = common::run(&plan).await;
    let ep = |name: &str| &result.stats.endpoints[name];
    assert!(ep("ok").requests > 100, "{}", ep("ok").requests);
    assert_eq!(ep("ok").ok, ep("ok").requests, "{:?}", ep("ok").errors);
    assert_eq!(ep("refuse").errors["refused"], ep("refuse").requests);
    assert_eq!(ep("reset").errors["reset"], ep("reset").requests);
    let goaway = ep("goaway");
    assert!(goaway.requests > 10, "{}", goaway.requests);
    assert_eq!(
        goaway.errors["refused"] + goaway.errors["reset"],
        goaway.requests,
        "{:?}",
        goaway.errors
    );
    // Each GOAWAY closed a connection; the VU went on over a new one.
    let connections = seen.connections.load(Ordering::Relaxed);
    assert!(connections > goaway.requests, "{connections} connections");
    // Every second of the run still had answers.
    let last = result.timeline.total.iter().rev().find(|r| r.requests > 0).unwrap();
    assert!(last.ok > 0, "{last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_open_model_shares_h2_connections_as_streams() {
    let (url, seen) = h2c_server().await;
    let plan = format!(
        r#"
        name = "h2-streams"
        target = "{url}"
        [tls]
        http = "2"
        h2_streams = 8
        [load]
        executor = "constant-arrival-rate"
        rate = 2000
        duration = "2s"
        [[endpoint]]
        name = "ok"
        path = "/ok"
        "#
    );
    let (code, result, _) = common::run(&plan).await;
    assert_eq!(code, Exit::Pass);
    assert_eq!(result.stats.total.ok, 4000);
    // 4,000 requests over a handful of connections (two workers, a few
    // each while a burst is in flight), not one per request in flight.
    let connections = seen.connections.load(Ordering::Relaxed);
    assert!((2..=16).contains(&connections), "{connections} connections");
    assert_eq!(seen.requests.load(Ordering::Relaxed), 4000);
}
