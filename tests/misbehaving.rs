//! A server that misbehaves, on loopback: every case ends in its error class
//! within the request timeout, the run's other endpoint is unaffected, and
//! the generator's peak memory with 100 connections facing the case stays
//! within connections × (head cap + body buffer) + 20 MiB.
//!
//! Each case runs the real binary: 100 VUs on the misbehaving endpoint,
//! 4 VUs on a healthy one, for 3 s with a 1 s request timeout. Peak RSS is
//! the kernel's `VmHWM` of the process.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long the server keeps feeding one connection at most.
const FEED_FOR: Duration = Duration::from_secs(15);
/// The plan's request timeout, in ms.
const TIMEOUT_MS: f64 = 1000.0;
/// Connections facing the misbehaving endpoint.
const VUS: u64 = 100;
/// `[limits]` defaults: head cap and body buffer.
const HEAD_CAP: u64 = 64 * 1024;
const BODY_BUF: u64 = 64 * 1024;

/// Reads a request head (up to its blank line); `None` once the client
/// has gone.
fn read_head(s: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut b = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut b).ok().filter(|n| *n > 0)?;
        head.extend_from_slice(&b[..n]);
        if head.len() > 64 * 1024 {
            return None;
        }
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

/// Writes `chunk` every `every` until the client goes or `FEED_FOR` ends.
fn feed(s: &mut TcpStream, chunk: &[u8], every: Duration) {
    let end = Instant::now() + FEED_FOR;
    while Instant::now() < end {
        if s.write_all(chunk).is_err() {
            return;
        }
        std::thread::sleep(every);
    }
}

/// Holds the connection open, sending nothing, until the client goes or
/// `FEED_FOR` ends.
fn stall(s: &mut TcpStream) {
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    let end = Instant::now() + FEED_FOR;
    let mut b = [0u8; 1024];
    while Instant::now() < end {
        match s.read(&mut b) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
    }
}

/// Answers one connection's requests by their path.
fn serve(mut s: TcpStream) {
    let _ = s.set_nodelay(true);
    while let Some(head) = read_head(&mut s) {
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
        match path.as_str() {
            "/ok" => {
                if s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").is_err() {
                    return;
                }
                continue;
            }
            // A header whose value never ends: 1 KiB every 2 ms, forever,
            // so the head reaches its byte cap (the line cap is
            // `/many-header-lines`).
            "/endless-headers" => {
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nx-endless: ");
                feed(&mut s, &[b'a'; 1024], Duration::from_millis(2));
            }
            // A chunked body whose chunks never stop.
            "/endless-chunked" => {
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
                feed(&mut s, b"10\r\n0123456789abcdef\r\n", Duration::from_millis(2));
            }
            // Content-Length of 10 GB, sent at about 8 MB/s a connection.
            "/ten-gigabytes" => {
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10737418240\r\n\r\n");
                feed(&mut s, &[b'z'; 16 * 1024], Duration::from_millis(2));
            }
            "/stall-after-status" => {
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\n");
                stall(&mut s);
            }
            "/bytes-before-status" => {
                let _ = s.write_all(b"\x00\x01\x02garbage\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                stall(&mut s);
            }
            "/http09" => {
                let _ = s.write_all(b"<html><body>an HTTP/0.9 answer: no status line, no headers</body></html>\n");
            }
            "/closed-mid-body" => {
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly these bytes");
            }
            "/many-header-lines" => {
                let mut r = b"HTTP/1.1 200 OK\r\n".to_vec();
                for _ in 0..10_000 {
                    r.extend_from_slice(b"a: b\r\n");
                }
                r.extend_from_slice(b"Content-Length: 2\r\n\r\nok");
                let _ = s.write_all(&r);
                stall(&mut s);
            }
            _ => {
                let _ = s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                continue;
            }
        }
        return;
    }
}

/// A plain HTTP/1.1 server for every case but the TLS one, on a thread per
/// connection; it stops accepting when dropped.
struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            let end = Instant::now() + Duration::from_secs(120);
            while !flag.load(Ordering::Relaxed) && Instant::now() < end {
                match listener.accept() {
                    Ok((s, _)) => {
                        let _ = s.set_nonblocking(false);
                        std::thread::spawn(move || serve(s));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Server { addr, stop }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A TLS origin whose first connection (the preflight's) completes its
/// handshake, and whose every later one stalls in it: the TCP connection
/// is accepted and nothing is ever sent.
fn stalling_tls_server() -> (SocketAddr, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    let config = Arc::new(config);
    std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(120);
        let mut first = true;
        while !flag.load(Ordering::Relaxed) && Instant::now() < end {
            match listener.accept() {
                Ok((mut s, _)) => {
                    let _ = s.set_nonblocking(false);
                    if std::mem::take(&mut first) {
                        let config = config.clone();
                        std::thread::spawn(move || {
                            let Ok(conn) = rustls::ServerConnection::new(config) else {
                                return;
                            };
                            let mut tls = rustls::StreamOwned::new(conn, s);
                            let _ = tls.sock.set_read_timeout(Some(Duration::from_secs(5)));
                            while tls.conn.is_handshaking() {
                                if tls.conn.complete_io(&mut tls.sock).is_err() {
                                    return;
                                }
                            }
                            let mut b = [0u8; 4096];
                            let _ = tls.read(&mut b);
                        });
                    } else {
                        std::thread::spawn(move || stall(&mut s));
                    }
                }
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
    });
    (addr, stop)
}

/// The peak resident memory of a process, from `/proc`, in bytes.
fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Runs the plan's two scenarios; returns run.json and the peak RSS.
fn run_case(bad_path: &str, target: SocketAddr, tls: bool) -> (serde_json::Value, u64) {
    let dir = tempfile::tempdir().unwrap();
    let plan = format!(
        r#"
        name = "misbehaving"
        target = "http://{target}"
        timeout = "{TIMEOUT_MS}ms"
        {tls}
        [[scenario]]
        name = "facing"
        executor = "constant-vus"
        vus = {VUS}
        duration = "3s"
        endpoints = {{ bad = 1 }}
        [[scenario]]
        name = "healthy"
        executor = "constant-vus"
        vus = 4
        duration = "3s"
        endpoints = {{ ok = 1 }}
        [[endpoint]]
        name = "bad"
        path = "{bad_path}"
        [[endpoint]]
        name = "ok"
        path = "/ok"
        "#,
        tls = if tls { "[tls]\ninsecure = true" } else { "" },
    );
    let plan_path = dir.path().join("loadcheck.toml");
    std::fs::write(&plan_path, plan).unwrap();
    let out = dir.path().join("out");
    let mut child = common::loadcheck_command()
        .args(["run", "-q", "--out"])
        .arg(&out)
        .arg(&plan_path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut peak = 0;
    let status = loop {
        if let Some(rss) = peak_rss(pid) {
            peak = peak.max(rss);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{bad_path}: the run did not end within 40 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut err);
    let text = std::fs::read_to_string(out.join("run.json"))
        .unwrap_or_else(|e| panic!("{bad_path}: no run.json ({e}); exit {status:?}: {err}"));
    let run: serde_json::Value = serde_json::from_str(&text).unwrap();
    common::assert_schema(&run);
    (run, peak)
}

/// Runs one case and checks it: every failure of the misbehaving endpoint
/// in `class`, each within the timeout; the healthy endpoint all 200s; the
/// peak RSS within its bound.
fn case(bad_path: &str, class: &str) {
    let server = Server::start();
    let (tls_addr, tls_stop);
    let (path, target, tls) = if class == "tls-stall" {
        (tls_addr, tls_stop) = stalling_tls_server();
        (format!("https://127.0.0.1:{}/", tls_addr.port()), server.addr, true)
    } else {
        tls_stop = Arc::new(AtomicBool::new(false));
        (bad_path.to_string(), server.addr, false)
    };
    let class = if class == "tls-stall" { "timeout" } else { class };
    let (run, peak) = run_case(&path, target, tls);
    tls_stop.store(true, Ordering::Relaxed);
    let bad = &run["stats"]["endpoints"]["bad"];
    let failed = bad["failed"].as_u64().unwrap();
    assert!(failed >= VUS, "{bad_path}: only {failed} failures: {bad}");
    assert_eq!(
        bad["errors"][class].as_u64(),
        Some(failed),
        "{bad_path}: every failure is `{class}`: {}",
        bad["errors"]
    );
    let slowest = bad["failure_latency_ms"]["max"].as_f64().unwrap();
    assert!(
        slowest <= TIMEOUT_MS + 250.0,
        "{bad_path}: a failure took {slowest} ms, over the {TIMEOUT_MS} ms timeout"
    );
    let ok = &run["stats"]["endpoints"]["ok"];
    let requests = ok["requests"].as_u64().unwrap();
    assert!(
        requests > 100,
        "{bad_path}: the healthy endpoint got only {requests} requests"
    );
    assert_eq!(
        ok["ok"].as_u64(),
        Some(requests),
        "{bad_path}: healthy endpoint failed: {ok}"
    );
    let bound = VUS * (HEAD_CAP + BODY_BUF) + 20 * 1024 * 1024;
    eprintln!(
        "{bad_path}: {failed} `{class}`, slowest {slowest:.0} ms, healthy {requests} ok, peak RSS {:.1} MiB (bound {:.1} MiB)",
        peak as f64 / 1048576.0,
        bound as f64 / 1048576.0
    );
    assert!(
        peak > 0 && peak <= bound,
        "{bad_path}: peak RSS {peak} B over {bound} B"
    );
}

#[test]
fn headers_that_never_end_are_a_protocol_error_at_the_head_cap() {
    case("/endless-headers", "protocol");
}

#[test]
fn a_chunked_body_that_never_ends_times_out() {
    case("/endless-chunked", "timeout");
}

#[test]
fn a_ten_gigabyte_body_is_read_through_a_bounded_buffer_until_the_timeout() {
    case("/ten-gigabytes", "timeout");
}

#[test]
fn a_response_that_stalls_after_its_status_line_times_out() {
    case("/stall-after-status", "timeout");
}

#[test]
fn bytes_before_the_status_line_are_a_protocol_error() {
    case("/bytes-before-status", "protocol");
}

#[test]
fn an_http09_answer_is_a_protocol_error() {
    case("/http09", "protocol");
}

#[test]
fn a_connection_closed_mid_body_is_a_reset() {
    case("/closed-mid-body", "reset");
}

#[test]
fn ten_thousand_tiny_header_lines_are_a_protocol_error() {
    case("/many-header-lines", "protocol");
}

#[test]
fn a_tls_handshake_that_stalls_times_out() {
    case("/", "tls-stall");
}
