//! The sink's HTTP server: delivery routes, the control API, stats.
//!
//! Connections are served one task each (hyper-util, HTTP/1.1 and h2c), so
//! a programmed reset can close exactly its own connection with an RST.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Extension, Json, Router};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

use super::Sink;
use super::behaviour::Answer;
use super::ledger::DeliveryKind;
use super::stats::Counters;
use crate::plan::{IdSource, RouteConfig, SinkConfig};
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
    let listener = TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("the sink cannot listen on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = oneshot::channel();
    let task = tokio::spawn(accept_loop(listener, router(sink.clone()), stop_rx));
    Ok(RunningSink {
        sink,
        addr,
        stop: Some(stop_tx),
        task: Some(task),
    })
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

async fn accept_loop(listener: TcpListener, router: Router, mut stop: oneshot::Receiver<()>) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of descriptors or similar: back off, keep serving.
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let ctl = ConnCtl { fd: stream.as_raw_fd(), reset: Arc::new(Notify::new()) };
                let reset = ctl.reset.clone();
                let svc = TowerToHyperService::new(router.clone().layer(Extension(ctl)));
                conns.spawn(async move {
                    let builder = auto::Builder::new(TokioExecutor::new());
                    let conn = builder.serve_connection(TokioIo::new(stream), svc);
                    tokio::select! {
                        _ = conn => {}
                        () = reset.notified() => {}
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.shutdown().await;
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
    Json(sink.stats())
}

async fn metrics(State(sink): State<Arc<Sink>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        sink.stats().prometheus(),
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
