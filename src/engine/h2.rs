//! HTTP/2 on the per-request path, through the `h2` crate (the HTTP/2
//! implementation hyper is built on) rather than hyper's client.
//!
//! Why directly: hyper's HTTP/2 client hands every request to a connection
//! task through a channel and spawns a task per stream, and it hides what a
//! load tester must see: how many streams the server allows
//! (`SETTINGS_MAX_CONCURRENT_STREAMS`), and whether a failed stream was
//! refused (never processed, RFC 9113 §8.7) or reset mid-way.
//!
//! Connections are shared: each worker keeps a [`Pool`] per origin, and a
//! request (open model) or a VU (closed model) takes a [`Lease`] on a
//! connection with a free stream, up to the scenario's `h2_streams` and the
//! server's limit. When every connection is full a new one is opened, once:
//! requests that arrive while it connects wait for it instead of opening
//! their own.
//!
//! An h2 request carries no connection-specific header (RFC 9113 §8.2.2):
//! `host`, `connection`, `keep-alive`, `proxy-connection`,
//! `transfer-encoding`, `upgrade`, and `te` other than `trailers` are taken
//! out, and the `Host` a request was built with (the target's, or the
//! plan's own) becomes its `:authority`.

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use ::h2::Reason;
use ::h2::client::SendRequest;
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HOST, HeaderName, HeaderValue, TE};
use http::uri::{Authority, Parts, PathAndQuery};
use http::{Request, Uri};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Notify;

use super::wire::{Origin, Response};
use crate::metrics::ErrorClass;
use crate::plan::ResponseLimits;
use crate::plan::Scheme;

/// Headers that are connection-specific in HTTP/1.1 and forbidden in an h2
/// request (RFC 9113 §8.2.2), besides `host` and `te`, which are handled
/// on their own.
const CONNECTION_SPECIFIC: [&str; 5] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

/// The future that drives an HTTP/2 connection (reads frames, writes what
/// the streams queued); it sets the connection's `closed` flag when it ends.
type DriveFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A connection just made: its sending half, and its driver, not yet
/// running.
pub struct H2 {
    send: SendRequest<Bytes>,
    closed: Arc<AtomicBool>,
    drive: DriveFuture,
}

/// Performs the HTTP/2 handshake on `io` (TLS after ALPN `h2`, or plain TCP
/// for h2c by prior knowledge). A response's header list is capped at
/// `[limits] response_head` bytes (h2's own default is 16 MB).
pub async fn handshake<T>(io: T, limits: ResponseLimits) -> Result<H2, ErrorClass>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (send, conn) = ::h2::client::Builder::new()
        // Large enough that a typical response body never waits for a
        // WINDOW_UPDATE round trip.
        .initial_window_size(1 << 20)
        .initial_connection_window_size(1 << 22)
        // Until the server's SETTINGS arrive, open no more streams than
        // servers commonly allow (HAProxy 100, nginx 128): the rest wait
        // in h2 instead of being refused.
        .initial_max_send_streams(100)
        .max_header_list_size(limits.response_head)
        .handshake::<_, Bytes>(io)
        .await
        .map_err(|e| classify(&e))?;
    let closed = Arc::new(AtomicBool::new(false));
    let flag = closed.clone();
    let drive = Box::pin(async move {
        let _ = conn.await;
        flag.store(true, Ordering::Release);
    });
    Ok(H2 { send, closed, drive })
}

impl H2 {
    /// Runs the connection in a task of its own, so that the requests of
    /// several VUs can share it: on the worker's `LocalSet` when `local`.
    fn spawn(self, local: bool) -> Shared {
        if local {
            tokio::task::spawn_local(self.drive);
        } else {
            tokio::spawn(self.drive);
        }
        Shared {
            send: self.send,
            closed: self.closed,
        }
    }

    /// Keeps the connection for one user, who drives it inline while a
    /// request is out: no task of its own, and no hop between tasks for
    /// each request.
    pub fn own(self) -> Owned {
        Owned {
            send: self.send,
            drive: Drive {
                fut: self.drive,
                done: false,
            },
            going_away: false,
        }
    }
}

/// A shared connection: its task runs on its own.
struct Shared {
    send: SendRequest<Bytes>,
    closed: Arc<AtomicBool>,
}

/// A connection's driver, polled inline.
struct Drive {
    fut: DriveFuture,
    done: bool,
}

impl Drive {
    fn poll(&mut self, cx: &mut Context<'_>) {
        if !self.done && self.fut.as_mut().poll(cx).is_ready() {
            self.done = true;
        }
    }
}

/// Awaits `fut` while driving the connection, if it is owned. The driver
/// runs only when `fut` cannot finish on what has already arrived: a body
/// that came with its headers is read without another pass over the
/// socket.
async fn driving<F: Future>(drive: &mut Option<&mut Drive>, fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    poll_fn(|cx| {
        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
            return Poll::Ready(out);
        }
        match drive.as_deref_mut() {
            Some(d) => {
                d.poll(cx);
                fut.as_mut().poll(cx)
            }
            None => Poll::Pending,
        }
    })
    .await
}

/// An HTTP/2 connection owned by one slot (`h2_streams = 1`), driven by
/// the task that sends on it.
pub struct Owned {
    send: SendRequest<Bytes>,
    drive: Drive,
    going_away: bool,
}

impl Owned {
    /// Whether the connection can take another request. Nobody polls it
    /// between requests, so first let it handle whatever the server sent
    /// meanwhile (a GOAWAY, a close), without waiting and outside tokio's
    /// cooperative budget.
    pub fn is_usable(&mut self) -> bool {
        if self.going_away || self.drive.done {
            return false;
        }
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let drive = &mut self.drive;
        let probe = tokio::task::coop::unconstrained(poll_fn(|cx| {
            drive.poll(cx);
            Poll::Ready(())
        }));
        let _ = std::pin::pin!(probe).poll(&mut cx);
        !self.drive.done
    }

    /// Sends one request as a stream and reads the whole response body.
    pub async fn send(
        &mut self,
        origin: &Origin,
        req: Box<Request<Bytes>>,
        version_header: Option<&HeaderName>,
    ) -> Result<Response, SendError> {
        exchange(&mut self.send, Some(&mut self.drive), origin, req, version_header)
            .await
            .map_err(|e| {
                self.going_away |= e.ends_connection();
                e.into_send_error()
            })
    }
}

/// Why one stream's exchange failed, and whether the connection is gone.
enum StreamError {
    NotSent(Box<Request<Bytes>>),
    Failed { class: ErrorClass, gone: bool },
}

impl StreamError {
    fn of(e: &::h2::Error) -> StreamError {
        StreamError::Failed {
            class: classify(e),
            gone: e.is_go_away() || e.is_io(),
        }
    }

    /// The connection is going away or broken: it takes no more requests.
    fn ends_connection(&self) -> bool {
        matches!(self, StreamError::NotSent(_) | StreamError::Failed { gone: true, .. })
    }

    fn into_send_error(self) -> SendError {
        match self {
            StreamError::NotSent(req) => SendError::NotSent(req),
            StreamError::Failed { class, .. } => SendError::Failed(class),
        }
    }
}

/// Sends one request as a stream on `send` and reads the whole response
/// body, driving the connection inline when it is owned (`drive`).
async fn exchange(
    send: &mut SendRequest<Bytes>,
    mut drive: Option<&mut Drive>,
    origin: &Origin,
    req: Box<Request<Bytes>>,
    version_header: Option<&HeaderName>,
) -> Result<Response, StreamError> {
    if driving(&mut drive, poll_fn(|cx| send.poll_ready(cx))).await.is_err() {
        // A GOAWAY arrived, or the connection broke: nothing was sent.
        return Err(StreamError::NotSent(req));
    }
    let (head, body) = h2_request(origin, *req);
    let end_of_stream = body.is_empty();
    let (response, mut stream) = send
        .send_request(head, end_of_stream)
        .map_err(|e| StreamError::of(&e))?;
    if !end_of_stream {
        stream.send_data(body, true).map_err(|e| StreamError::of(&e))?;
    }
    let response = driving(&mut drive, response).await.map_err(|e| StreamError::of(&e))?;
    let status = response.status().as_u16();
    let version = version_header.and_then(|h| response.headers().get(h).cloned());
    let mut body = response.into_body();
    let mut body_bytes = 0u64;
    while let Some(chunk) = driving(&mut drive, body.data()).await {
        let chunk = chunk.map_err(|e| StreamError::of(&e))?;
        body_bytes += chunk.len() as u64;
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    Ok(Response {
        status,
        body_bytes,
        version,
    })
}

/// Why an h2 send failed.
pub enum SendError {
    /// Nothing went on the wire: the connection is going away (a GOAWAY
    /// arrived) or closed. Here is the request back, to send again on
    /// another connection.
    NotSent(Box<Request<Bytes>>),
    /// The request was sent and failed.
    Failed(ErrorClass),
}

/// One pooled connection.
struct Entry {
    /// `None` while connecting.
    conn: RefCell<Option<Shared>>,
    /// Set when connecting failed, or the connection turned out not to be
    /// HTTP/2: waiters stop waiting.
    failed: Cell<bool>,
    /// Leases held.
    users: Cell<u32>,
    /// A GOAWAY arrived or a send found the connection gone.
    going_away: Cell<bool>,
    /// Wakes the requests waiting for the connection to be made.
    ready: Notify,
}

impl Entry {
    fn is_usable(&self) -> bool {
        if self.going_away.get() || self.failed.get() {
            return false;
        }
        let usable = match &mut *self.conn.borrow_mut() {
            // `poll_ready` with nothing pending never parks: it only says
            // whether a GOAWAY or an error has ended the connection.
            Some(c) => {
                let mut cx = Context::from_waker(std::task::Waker::noop());
                !c.closed.load(Ordering::Acquire) && !matches!(c.send.poll_ready(&mut cx), Poll::Ready(Err(_)))
            }
            None => true,
        };
        if !usable {
            self.going_away.set(true);
        }
        usable
    }

    /// How many leases it may carry: the scenario's limit and the server's.
    fn has_room(&self, limit: u32) -> bool {
        let server = match &*self.conn.borrow() {
            Some(c) => c.send.current_max_send_streams().min(u32::MAX as usize) as u32,
            None => u32::MAX,
        };
        self.users.get() < limit.min(server.max(1))
    }
}

/// A worker's HTTP/2 connections, per origin.
pub struct Pool {
    origins: Vec<OriginPool>,
    /// Connection tasks go on the worker's `LocalSet`.
    local: bool,
}

struct OriginPool {
    /// The origin is known to speak HTTP/2: requests lease from the pool
    /// instead of opening a connection of their own.
    speaks_h2: Cell<bool>,
    conns: RefCell<Vec<Rc<Entry>>>,
}

/// One lease's count on an entry, given back on drop (also when a request
/// waiting for the connection is cut by its timeout).
struct Share(Rc<Entry>);

impl Share {
    fn new(entry: Rc<Entry>) -> Share {
        entry.users.set(entry.users.get() + 1);
        Share(entry)
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        self.0.users.set(self.0.users.get().saturating_sub(1));
    }
}

/// A share of one pooled connection; dropping it frees the share.
pub struct Lease {
    share: Share,
    send: SendRequest<Bytes>,
}

/// What [`Pool::lease`] found.
pub enum Leased {
    /// A share of a connection with room.
    Ready(Lease),
    /// No connection has room: the caller connects, then calls
    /// [`Pool::fulfil`] with this (or drops it).
    Connect(Pending),
    /// A connection the caller waited for was not made.
    Failed,
}

/// A connection being made by the caller who got [`Leased::Connect`]. If
/// dropped unfinished (its request timed out, or the server answered
/// with HTTP/1.1), the requests waiting for it are released.
pub struct Pending(Option<Share>);

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(share) = &self.0
            && share.0.conn.borrow().is_none()
        {
            share.0.failed.set(true);
            share.0.ready.notify_waiters();
        }
    }
}

fn entry(conn: Option<Shared>) -> Rc<Entry> {
    Rc::new(Entry {
        conn: RefCell::new(conn),
        failed: Cell::new(false),
        users: Cell::new(0),
        going_away: Cell::new(false),
        ready: Notify::new(),
    })
}

impl Pool {
    /// A pool for `n_origins` origins; those with `h2[i]` set are known to
    /// speak HTTP/2 from the start (`http = "2"`).
    pub fn new(h2: impl Iterator<Item = bool>, local: bool) -> Self {
        Pool {
            local,
            origins: h2
                .map(|known| OriginPool {
                    speaks_h2: Cell::new(known),
                    conns: RefCell::new(Vec::new()),
                })
                .collect(),
        }
    }

    /// Whether origin `o` is known to speak HTTP/2.
    pub fn speaks_h2(&self, o: usize) -> bool {
        self.origins[o].speaks_h2.get()
    }

    /// Forgets that origin `o` speaks HTTP/2 (a connection negotiated
    /// HTTP/1.1 instead).
    pub fn not_h2(&self, o: usize) {
        self.origins[o].speaks_h2.set(false);
    }

    /// A share of a connection to origin `o` with fewer than `limit`
    /// leases, waiting for one being made if that is the only one.
    pub async fn lease(&self, o: usize, limit: u32) -> Leased {
        let pool = &self.origins[o];
        let found = {
            let mut conns = pool.conns.borrow_mut();
            conns.retain(|e| e.is_usable());
            conns.iter().find(|e| e.has_room(limit)).cloned()
        };
        let Some(found) = found else {
            let new = entry(None);
            pool.conns.borrow_mut().push(new.clone());
            return Leased::Connect(Pending(Some(Share::new(new))));
        };
        let share = Share::new(found.clone());
        loop {
            let notified = found.ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let send = found.conn.borrow().as_ref().map(|c| c.send.clone());
            if let Some(send) = send {
                return Leased::Ready(Lease { share, send });
            }
            if found.failed.get() {
                return Leased::Failed;
            }
            notified.await;
        }
    }

    /// Puts a newly made connection in the pool of origin `o` and gives
    /// the caller the first share of it.
    pub fn adopt(&self, o: usize, conn: H2) -> Lease {
        let pool = &self.origins[o];
        pool.speaks_h2.set(true);
        let conn = conn.spawn(self.local);
        let send = conn.send.clone();
        let new = entry(Some(conn));
        pool.conns.borrow_mut().push(new.clone());
        Lease {
            share: Share::new(new),
            send,
        }
    }

    /// Completes a [`Pending`] connection; the requests waiting for it get
    /// their shares.
    pub fn fulfil(&self, mut pending: Pending, conn: H2) -> Lease {
        let share = pending.0.take().expect("a pending connection is fulfilled once");
        let conn = conn.spawn(self.local);
        let send = conn.send.clone();
        *share.0.conn.borrow_mut() = Some(conn);
        share.0.ready.notify_waiters();
        Lease { share, send }
    }
}

impl Lease {
    /// Takes the connection out of the pool: a request on it timed out, so
    /// it may be dead (a silent peer is noticed by TCP only after minutes).
    /// Its other streams go on; it closes when the last share is dropped.
    pub fn retire(&self) {
        self.share.0.going_away.set(true);
    }

    /// Whether the connection can take another request.
    pub fn is_usable(&self) -> bool {
        self.share.0.is_usable()
    }

    /// Sends one request as a stream and reads the whole response body.
    pub async fn send(
        &mut self,
        origin: &Origin,
        req: Box<Request<Bytes>>,
        version_header: Option<&HeaderName>,
    ) -> Result<Response, SendError> {
        exchange(&mut self.send, None, origin, req, version_header)
            .await
            .map_err(|e| {
                if e.ends_connection() {
                    self.share.0.going_away.set(true);
                }
                e.into_send_error()
            })
    }
}

/// The error class of a failed stream:
/// - `refused`: the server did not process it: `RST_STREAM(REFUSED_STREAM)`,
///   or a `GOAWAY` whose last stream id is below it (RFC 9113 §6.8);
/// - `protocol`: what the server sent broke HTTP/2 (h2 itself found a
///   protocol, frame size or header compression error in it, or a header
///   list over its cap);
/// - `reset`: any other `RST_STREAM`, or the connection broke.
pub fn classify(e: &::h2::Error) -> ErrorClass {
    match e.reason() {
        Some(Reason::REFUSED_STREAM) if e.is_reset() => ErrorClass::Refused,
        Some(Reason::PROTOCOL_ERROR | Reason::FRAME_SIZE_ERROR | Reason::COMPRESSION_ERROR) if e.is_library() => {
            ErrorClass::Protocol
        }
        // h2 gives a remote GOAWAY's error only to the streams above its
        // last stream id, which the server did not process, whatever its
        // code; streams it cut after processing end as I/O errors.
        _ if e.is_go_away() && e.is_remote() => ErrorClass::Refused,
        _ => ErrorClass::Reset,
    }
}

/// Turns a request built for HTTP/1.1 into an h2 request head and its body:
/// the URI gets the scheme and the authority (from the request's `Host`),
/// and connection-specific headers are taken out.
fn h2_request(origin: &Origin, req: Request<Bytes>) -> (Request<()>, Bytes) {
    let (mut parts, body) = req.into_parts();
    let headers = &mut parts.headers;
    let authority = match headers.remove(HOST) {
        Some(host) if host.as_bytes() != origin.authority.as_str().as_bytes() => {
            Authority::try_from(host.as_bytes()).unwrap_or_else(|_| origin.authority.clone())
        }
        _ => origin.authority.clone(),
    };
    // Most requests carry none of these; skip the lookups when the map
    // holds only what the engine itself adds.
    if headers.len() > 1 {
        for name in CONNECTION_SPECIFIC {
            headers.remove(name);
        }
        // The body's length is the one h2 frames, as on HTTP/1.1.
        headers.remove(CONTENT_LENGTH);
        if headers.contains_key(TE) {
            let trailers = headers
                .get_all(TE)
                .iter()
                .all(|v| v.as_bytes().eq_ignore_ascii_case(b"trailers"));
            headers.remove(TE);
            if trailers {
                headers.insert(TE, HeaderValue::from_static("trailers"));
            }
        }
    }
    let mut uri = Parts::default();
    uri.scheme = Some(match origin.scheme {
        Scheme::Http => http::uri::Scheme::HTTP,
        Scheme::Https => http::uri::Scheme::HTTPS,
    });
    uri.authority = Some(authority);
    uri.path_and_query = Some(
        parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/")),
    );
    parts.uri = Uri::from_parts(uri).unwrap_or(parts.uri);
    (Request::from_parts(parts, ()), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin {
            scheme: Scheme::Https,
            addr: "127.0.0.1:8443".parse().unwrap(),
            authority: "127.0.0.1:8443".parse().unwrap(),
            server_name: None,
        }
    }

    #[test]
    fn h2_requests_carry_no_connection_specific_header() {
        let mut req = Request::new(Bytes::from_static(b"x"));
        *req.uri_mut() = "/a?b=1".parse().unwrap();
        let h = req.headers_mut();
        h.insert(HOST, "staging.example.test".parse().unwrap());
        for name in CONNECTION_SPECIFIC {
            h.insert(name, "x".parse().unwrap());
        }
        h.insert(TE, "gzip".parse().unwrap());
        h.insert(http::header::CONTENT_LENGTH, "99".parse().unwrap());
        h.insert("x-keep", "1".parse().unwrap());
        let (head, body) = h2_request(&origin(), req);
        assert_eq!(head.uri().to_string(), "https://staging.example.test/a?b=1");
        let names: Vec<_> = head.headers().keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["x-keep"]);
        assert_eq!(body, "x");
    }

    #[test]
    fn the_targets_host_becomes_the_authority_and_te_trailers_stays() {
        let mut req = Request::new(Bytes::new());
        *req.uri_mut() = "/".parse().unwrap();
        req.headers_mut().insert(HOST, "127.0.0.1:8443".parse().unwrap());
        req.headers_mut().insert(TE, "Trailers".parse().unwrap());
        req.headers_mut().insert("x-other", "1".parse().unwrap());
        let (head, _) = h2_request(&origin(), req);
        assert_eq!(head.uri().authority().unwrap().as_str(), "127.0.0.1:8443");
        assert!(head.headers().get(HOST).is_none());
        assert_eq!(head.headers().get(TE).unwrap(), "trailers");
    }
}
