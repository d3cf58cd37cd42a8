//! The sink's HTTP server: delivery routes, the control API, stats.
//!
//! Connections are served one task each (hyper, HTTP/1.1 and h2c), so a
//! programmed reset can close exactly its own connection with an RST.
//!
//! The accept loop holds out against senders that are not the service under
//! test: at most `max_connections` are served at once (one more is closed
//! at once), a connection that sends no whole request head within
//! `header_timeout` is closed, and a request head over 64 KiB gets 431.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Extension, Json, Router};
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

use super::Sink;
use super::behaviour::Answer;
use super::ledger::DeliveryKind;
use super::stats::Counters;
use crate::plan::{IdSource, RouteConfig, SinkConfig};

/// The largest request head read (request line and headers, and for h2c
/// the header list); a larger one gets 431.
pub const MAX_HEAD: usize = 64 * 1024;
/// The most a connection's read buffer holds: a whole head, and room for
/// the start of a body.
pub const MAX_BUF: usize = MAX_HEAD + 8 * 1024;
/// The HTTP/2 connection preface that marks an h2c connection.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
use crate::signing::{InvalidReason, Verification};

/// A sink serving in the background.
pub struct RunningSink {
    /// Its state.
    pub sink: Arc<Sink>,
    /// The address it listens on (the real port when the config said 0).
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RunningSink {
    /// Stops accepting and closes every connection.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningSink {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Binds `cfg.listen` and serves in the background. `epoch` is the clock
/// that submissions are timed on.
pub async fn start(cfg: &SinkConfig, epoch: Instant) -> Result<RunningSink> {
    let sink = Arc::new(Sink::new(cfg, epoch).map_err(anyhow::Error::msg)?);
    let listener = listen(cfg.listen).with_context(|| format!("the sink cannot listen on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = oneshot::channel();
    let task = tokio::spawn(accept_loop(
        listener,
        router(sink.clone()),
        sink.clone(),
        (cfg.limits.max_connections as u64, cfg.limits.header_timeout),
        stop_rx,
    ));
    Ok(RunningSink {
        sink,
        addr,
        stop: Some(stop_tx),
        task: Some(task),
    })
}

/// The listen queue: connections the kernel has completed and the sink has
/// not yet accepted. Deep, so that a burst of connects (thousands of idle
/// ones at once) does not overflow it and leave connections the sink never
/// sees; the kernel caps it at `net.core.somaxconn`.
const BACKLOG: u32 = 8192;

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Lets a handler reset its own connection.
#[derive(Clone)]
struct ConnCtl {
    fd: RawFd,
    reset: Arc<Notify>,
}

impl ConnCtl {
    /// Arms an abortive close (SO_LINGER 0) and ends the connection, so the
    /// peer sees an RST rather than a response.
    async fn reset(&self) -> Response {
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: `fd` is this connection's socket, open for as long as the
        // connection task (which runs this handler) holds its stream; the
        // option struct is valid for the call.
        unsafe {
            libc::setsockopt(
                self.fd,
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&raw const linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            );
        }
        self.reset.notify_one();
        std::future::pending().await
    }
}

async fn accept_loop(
    listener: TcpListener,
    router: Router,
    sink: Arc<Sink>,
    (max_connections, header_timeout): (u64, Duration),
    mut stop: oneshot::Receiver<()>,
) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of descriptors or similar: back off, keep serving.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let guards = &sink.guards;
                if guards.connections_open.load(Relaxed) >= max_connections {
                    // Closed at once: the sender sees it and can retry,
                    // and the sink's memory stays bounded.
                    Counters::bump(&guards.connections_refused);
                    drop(stream);
                    continue;
                }
                guards.connections_open.fetch_add(1, Relaxed);
                let open = OpenConn(sink.clone());
                let _ = stream.set_nodelay(true);
                let router = router.clone();
                conns.spawn(async move {
                    serve(stream, router, header_timeout, &open.0).await;
                    drop(open);
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.shutdown().await;
}

/// One open connection, counted until it ends (or its task is aborted).
struct OpenConn(Arc<Sink>);

impl Drop for OpenConn {
    fn drop(&mut self) {
        self.0.guards.connections_open.fetch_sub(1, Relaxed);
    }
}

/// Serves one connection: h2c when it opens with the HTTP/2 preface,
/// HTTP/1.1 otherwise; closed when no whole request head comes within
/// `header_timeout`.
async fn serve(stream: TcpStream, router: Router, header_timeout: Duration, sink: &Sink) {
    let deadline = tokio::time::Instant::now() + header_timeout;
    let h2 = match tokio::time::timeout_at(deadline, sniff(&stream)).await {
        Ok(Some(h2)) => h2,
        Ok(None) => return,
        Err(_) => {
            Counters::bump(&sink.guards.header_timeouts);
            return;
        }
    };
    // Built only now: a connection that never sends a byte costs no service.
    let ctl = ConnCtl {
        fd: stream.as_raw_fd(),
        reset: Arc::new(Notify::new()),
    };
    let svc = TowerToHyperService::new(router.layer(Extension(ctl.clone())));
    let io = TokioIo::new(stream);
    let served = async {
        if h2 {
            let mut b = http2::Builder::new(TokioExecutor::new());
            b.timer(TokioTimer::new()).max_header_list_size(MAX_HEAD as u32);
            b.serve_connection(io, svc).await
        } else {
            let left = deadline
                .saturating_duration_since(tokio::time::Instant::now())
                .max(Duration::from_millis(1));
            let mut b = http1::Builder::new();
            b.timer(TokioTimer::new())
                .header_read_timeout(left)
                .max_header_size(MAX_HEAD)
                .max_buf_size(MAX_BUF);
            b.serve_connection(io, svc).await
        }
    };
    tokio::select! {
        r = served => {
            if r.is_err_and(|e| e.is_timeout()) {
                Counters::bump(&sink.guards.header_timeouts);
            }
        }
        () = ctl.reset.notified() => {}
    }
}

/// Whether the connection opens with the h2c preface (`Some(true)`) or as
/// HTTP/1 (`Some(false)`), read without consuming; `None` when it closes
/// first. The caller bounds it in time.
async fn sniff(stream: &TcpStream) -> Option<bool> {
    let mut buf = [0u8; 24];
    loop {
        let n = stream.peek(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        if buf[..n] != H2_PREFACE[..n] {
            return Some(false);
        }
        if n == H2_PREFACE.len() {
            return Some(true);
        }
        // A prefix of the preface so far: wait for more bytes (peek would
        // return the same ones at once).
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn router(sink: Arc<Sink>) -> Router {
    Router::new()
        .route("/_sink/stats", get(stats))
        .route("/_sink/metrics", get(metrics))
        .route("/_sink/routes", get(routes))
        .route("/_sink/routes/{name}", put(set_route))
        .fallback(deliver)
        .with_state(sink)
}

async fn stats(State(sink): State<Arc<Sink>>) -> impl IntoResponse {
    Json(sink.view())
}

async fn metrics(State(sink): State<Arc<Sink>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        sink.view().prometheus(),
    )
}

async fn routes(State(sink): State<Arc<Sink>>) -> impl IntoResponse {
    Json(sink.routes())
}

async fn set_route(State(sink): State<Arc<Sink>>, Path(name): Path<String>, body: Bytes) -> Response {
    let config: RouteConfig = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("invalid route: {e}\n")).into_response(),
    };
    match sink.set_route(&name, config) {
        Ok(c) => Json(c).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, format!("invalid route: {e}\n")).into_response(),
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Every other request is a delivery.
async fn deliver(State(sink): State<Arc<Sink>>, Extension(ctl): Extension<ConnCtl>, req: Request) -> Response {
    let c = &sink.counters;
    Counters::bump(&c.posts);
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > sink.max_body as u64) {
        Counters::bump(&c.too_large);
        return too_large(sink.max_body);
    }
    let body = match axum::body::to_bytes(Body::new(body), sink.max_body).await {
        Ok(b) => b,
        Err(_) => {
            // Over the limit while streaming, or the sender broke off.
            Counters::bump(&c.too_large);
            return too_large(sink.max_body);
        }
    };
    let path = parts.uri.path();
    let query = parts.uri.query().unwrap_or("");
    if let Some(scheme) = &sink.scheme {
        match scheme.verify(parts.method.as_str(), path, query, &parts.headers, &body, unix_now()) {
            Verification::Valid => Counters::bump(&c.valid),
            Verification::Missing => {
                Counters::bump(&c.missing);
                return (StatusCode::UNAUTHORIZED, "missing signature\n").into_response();
            }
            Verification::Invalid(reason) => {
                Counters::bump(&c.invalid);
                let why = match reason {
                    InvalidReason::Malformed => "malformed signature",
                    InvalidReason::Mismatch => "signature mismatch",
                    InvalidReason::StaleTimestamp => "stale timestamp",
                };
                return (StatusCode::UNAUTHORIZED, format!("{why}\n")).into_response();
            }
        }
    }
    let id = match delivery_id(&sink.id, &parts.headers, &body) {
        Ok(id) => id,
        Err(why) => {
            Counters::bump(&c.malformed);
            return (StatusCode::BAD_REQUEST, format!("{why}\n")).into_response();
        }
    };
    let (behaviour, n) = sink.behaviour_for(path);
    let delay = behaviour.delay.sample(&mut rand::rng());
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match behaviour.answer(n) {
        Answer::Status { code, failed: false } => {
            Counters::bump(&c.accepted);
            if sink.ledger.delivered(&id, Instant::now(), true) == DeliveryKind::Duplicate {
                Counters::bump(&c.duplicates);
            }
            status(code).into_response()
        }
        Answer::Status { code, failed: true } => {
            Counters::bump(&c.failed);
            sink.ledger.delivered(&id, Instant::now(), false);
            let mut resp = status(code).into_response();
            if let Some(secs) = behaviour.retry_after {
                resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            resp
        }
        Answer::Reset => {
            Counters::bump(&c.failed);
            Counters::bump(&c.resets);
            sink.ledger.delivered(&id, Instant::now(), false);
            ctl.reset().await
        }
        Answer::Hang(d) => {
            Counters::bump(&c.failed);
            Counters::bump(&c.hangs);
            sink.ledger.delivered(&id, Instant::now(), false);
            tokio::time::sleep(d).await;
            ctl.reset().await
        }
    }
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::OK)
}

fn too_large(limit: usize) -> Response {
    let mut resp = (
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("body over the {limit}-byte limit\n"),
    )
        .into_response();
    // The rest of the body is not read: close rather than drain it.
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// The delivery's id, or why there is none.
fn delivery_id(source: &IdSource, headers: &HeaderMap, body: &[u8]) -> Result<String, String> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.contains("+json"));
    let parsed = if is_json || matches!(source, IdSource::Pointer(_)) {
        Some(serde_json::from_slice::<serde_json::Value>(body).map_err(|e| format!("invalid JSON body: {e}"))?)
    } else {
        None
    };
    let id = match source {
        IdSource::Header(name) => headers
            .get(name.as_str())
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| format!("no `{name}` header"))?,
        IdSource::Pointer(p) => match parsed.as_ref().and_then(|v| v.pointer(p)) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => return Err(format!("no string or number at `{p}` in the body")),
        },
    };
    if id.is_empty() || id.len() > 256 {
        return Err("the delivery id is empty or longer than 256 bytes".into());
    }
    Ok(id)
}
