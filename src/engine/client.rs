//! The per-request HTTP client.
//!
//! This is the engine's hot path: no pool lock, no redirect logic.
//! HTTP/1.1 goes through the lean client in [`super::h1`], one connection
//! per VU (or per in-flight request in the open model), driven inside the
//! VU's own task. HTTP/2 (ALPN `h2` over TLS, or h2c by prior knowledge)
//! goes through [`super::h2`], whose connections requests share as streams.
//! The plan's `[tls] http` picks which the engine offers. Every failure is
//! classified into an [`ErrorClass`] and returned as data.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::Request;
use tokio::net::TcpStream;

use super::h1::{H1, Io};
use super::h2::{self, H2, Lease, Owned, SendError};
use super::tls_stream;
use super::wire::{Origin, Protocol, Response};
use crate::metrics::ErrorClass;
use crate::plan::{HttpVersion, ResponseLimits, Scheme};

/// Opens connections to origins.
#[derive(Clone)]
pub struct Connector {
    tls: Option<Arc<rustls::ClientConfig>>,
    http: HttpVersion,
    /// `[limits]`: caps on what a response may hold.
    limits: ResponseLimits,
    /// Connections are made on a worker thread, inside its `LocalSet`.
    local: bool,
}

/// A connection just made, before it is put to use.
pub enum Fresh {
    /// HTTP/1.1.
    H1(H1),
    /// HTTP/2.
    H2(H2),
}

/// A connection a request is sent on.
pub enum Conn {
    /// HTTP/1.1: one request at a time, owned by its slot.
    H1(H1),
    /// A share of a pooled HTTP/2 connection.
    H2(Lease),
    /// An HTTP/2 connection of its own (`h2_streams = 1`).
    H2Own(Owned),
}

impl Connector {
    /// A connector; `tls` is needed only for HTTPS origins. `http` says
    /// which HTTP version to speak; the TLS config's ALPN must agree.
    pub fn new(tls: Option<Arc<rustls::ClientConfig>>, http: HttpVersion) -> Self {
        Connector {
            tls,
            http,
            limits: ResponseLimits::default(),
            local: false,
        }
    }

    /// The same connector with the plan's `[limits]`.
    pub fn with_limits(mut self, limits: ResponseLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The same connector for the engine's workers: an HTTP/2 connection's
    /// task runs on the worker's `LocalSet`, beside the VUs that use it.
    pub fn for_workers(mut self) -> Self {
        self.local = true;
        self
    }

    /// Whether connections are made on a worker thread.
    pub fn is_local(&self) -> bool {
        self.local
    }

    /// Whether connections to `origin` are HTTP/2 before any is made
    /// (`http = "2"`); with `auto`, ALPN decides per connection.
    pub fn forces_h2(&self) -> bool {
        self.http == HttpVersion::Http2
    }

    /// Connects: TCP, then TLS and ALPN for HTTPS, then the HTTP/2
    /// handshake when HTTP/2 was negotiated (or, on `http://` with
    /// `http = "2"`, by prior knowledge).
    pub async fn connect(&self, origin: &Origin) -> Result<Fresh, ErrorClass> {
        self.connect_explained(origin).await.map_err(|e| e.class)
    }

    /// [`Connector::connect`], keeping the operating system's or the TLS
    /// library's reason for a failure (the preflight reports it).
    pub async fn connect_explained(&self, origin: &Origin) -> Result<Fresh, ConnectError> {
        let tcp = TcpStream::connect(origin.addr)
            .await
            .map_err(|e| ConnectError::new(ErrorClass::Connect, Some(e)))?;
        let _ = tcp.set_nodelay(true);
        match (origin.scheme, &self.tls, &origin.server_name) {
            // The TLS and HTTP/2 handshakes are boxed, so that the future
            // of a plain TCP connect stays small: 10,000 VUs connecting at
            // once each hold one.
            (Scheme::Http, _, _) if self.http == HttpVersion::Http2 => h2_handshake(tcp, self.limits)
                .await
                .map(Fresh::H2)
                .map_err(|c| ConnectError::new(c, None)),
            (Scheme::Http, _, _) => Ok(Fresh::H1(H1::new(Io::Tcp(tcp), self.limits))),
            (Scheme::Https, Some(tls), Some(name)) => {
                let stream = tls_stream::handshake(tls.clone(), name.clone(), tcp)
                    .await
                    .map_err(|e| ConnectError::new(ErrorClass::Tls, Some(e)))?;
                match stream.alpn_protocol() {
                    Some(b"h2") => h2_handshake(stream, self.limits)
                        .await
                        .map(Fresh::H2)
                        .map_err(|c| ConnectError::new(c, None)),
                    // Asked for HTTP/2 only, and the server would not speak it.
                    _ if self.http == HttpVersion::Http2 => Err(ConnectError::new(ErrorClass::Tls, None)),
                    _ => Ok(Fresh::H1(H1::new(Io::Tls(Box::new(stream)), self.limits))),
                }
            }
            _ => Err(ConnectError::new(ErrorClass::Tls, None)),
        }
    }
}

/// Why a connection could not be made: its class and, when the operating
/// system or the TLS library gave one, the reason.
#[derive(Debug)]
pub struct ConnectError {
    /// The error class a request would be counted under.
    pub class: ErrorClass,
    /// The underlying error.
    pub source: Option<std::io::Error>,
}

impl ConnectError {
    fn new(class: ErrorClass, source: Option<std::io::Error>) -> Self {
        ConnectError { class, source }
    }
}

/// The HTTP/2 handshake, boxed. Boxed in a plain function: a future built
/// inside an `async fn` keeps its space in that function's state even once
/// moved into a box.
fn h2_handshake<T>(io: T, limits: ResponseLimits) -> Pin<Box<dyn Future<Output = Result<H2, ErrorClass>> + Send>>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    Box::pin(h2::handshake(io, limits))
}

impl Fresh {
    /// The protocol the connection speaks.
    pub fn protocol(&self) -> Protocol {
        match self {
            Fresh::H1(_) => Protocol::Http1,
            Fresh::H2(_) => Protocol::Http2,
        }
    }
}

impl Conn {
    /// Whether the connection can take another request.
    pub fn is_usable(&mut self) -> bool {
        match self {
            Conn::H1(c) => c.is_usable(),
            Conn::H2(l) => l.is_usable(),
            Conn::H2Own(o) => o.is_usable(),
        }
    }

    /// The protocol the connection speaks.
    pub fn protocol(&self) -> Protocol {
        match self {
            Conn::H1(_) => Protocol::Http1,
            Conn::H2(_) | Conn::H2Own(_) => Protocol::Http2,
        }
    }

    /// Sends one request and reads the whole response body; keeps the value
    /// of `version_header` when given.
    pub async fn send(
        &mut self,
        origin: &Origin,
        req: Box<Request<Bytes>>,
        version_header: Option<&http::HeaderName>,
    ) -> Result<Response, SendError> {
        match self {
            Conn::H1(c) => c.send(&req, version_header).await.map_err(SendError::Failed),
            Conn::H2(l) => l.send(origin, req, version_header).await,
            Conn::H2Own(o) => o.send(origin, req, version_header).await,
        }
    }
}
