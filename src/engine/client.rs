//! The per-request HTTP client.
//!
//! This is the engine's hot path: one connection per VU (or per in-flight
//! slot in the open model), no pool lock, no redirect logic. HTTP/1.1 goes
//! through the lean client in [`super::h1`], driven inside the VU's own task;
//! HTTP/2 (negotiated by ALPN) through hyper's connection-level API. Every
//! failure is classified into an [`ErrorClass`] and returned as data.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::h1::{H1, Io};
use crate::metrics::ErrorClass;
use crate::plan::Scheme;

/// Where requests of one origin (scheme, host, port) go.
#[derive(Debug, Clone)]
pub struct Origin {
    /// `http` or `https`.
    pub scheme: Scheme,
    /// The resolved address (after any `resolve` override).
    pub addr: SocketAddr,
    /// `host[:port]` for the Host header and HTTP/2's `:authority`.
    pub authority: http::uri::Authority,
    /// The TLS server name (SNI).
    pub server_name: Option<ServerName<'static>>,
}

/// Opens connections to origins.
#[derive(Clone)]
pub struct Connector {
    tls: Option<TlsConnector>,
}

/// An open connection.
pub enum Conn {
    /// HTTP/1.1: one request at a time.
    H1(H1),
    /// HTTP/2, negotiated by ALPN.
    H2(http2::SendRequest<Full<Bytes>>),
}

/// A response that arrived whole.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Body bytes received.
    pub body_bytes: u64,
    /// The version header's value, when the plan names one and the response
    /// has it.
    pub version: Option<http::HeaderValue>,
}

impl Connector {
    /// A connector; `tls` is needed only for HTTPS origins.
    pub fn new(tls: Option<Arc<rustls::ClientConfig>>) -> Self {
        Connector {
            tls: tls.map(TlsConnector::from),
        }
    }

    /// Connects (TCP, then TLS and ALPN for HTTPS) and hands the connection
    /// task to the current runtime.
    pub async fn connect(&self, origin: &Origin) -> Result<Conn, ErrorClass> {
        let tcp = TcpStream::connect(origin.addr).await.map_err(|_| ErrorClass::Connect)?;
        let _ = tcp.set_nodelay(true);
        match (origin.scheme, &self.tls, &origin.server_name) {
            (Scheme::Http, _, _) => Ok(Conn::H1(H1::new(Io::Tcp(tcp)))),
            (Scheme::Https, Some(tls), Some(name)) => {
                let stream = tls.connect(name.clone(), tcp).await.map_err(|_| ErrorClass::Tls)?;
                if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
                    h2(TokioIo::new(stream)).await
                } else {
                    Ok(Conn::H1(H1::new(Io::Tls(Box::new(stream)))))
                }
            }
            _ => Err(ErrorClass::Tls),
        }
    }
}

async fn h2<T>(io: TokioIo<T>) -> Result<Conn, ErrorClass>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (send, conn) = http2::Builder::new(TokioExecutor::new())
        .handshake(io)
        .await
        .map_err(|_| ErrorClass::Reset)?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(Conn::H2(send))
}

impl Conn {
    /// Whether the connection can take another request.
    pub fn is_usable(&mut self) -> bool {
        match self {
            Conn::H1(c) => c.is_usable(),
            Conn::H2(s) => !s.is_closed(),
        }
    }

    /// Sends one request and reads the whole response body; keeps the value
    /// of `version_header` when given.
    pub async fn send(
        &mut self,
        origin: &Origin,
        mut req: Request<Bytes>,
        version_header: Option<&http::HeaderName>,
    ) -> Result<Response, ErrorClass> {
        let s = match self {
            Conn::H1(c) => return c.send(req, version_header).await,
            Conn::H2(s) => s,
        };
        *req.uri_mut() = absolute(origin, req.uri());
        s.ready().await.map_err(|_| ErrorClass::Reset)?;
        let resp = s
            .send_request(req.map(Full::new))
            .await
            .map_err(|_| ErrorClass::Reset)?;
        let status = resp.status().as_u16();
        let version = version_header.and_then(|h| resp.headers().get(h).cloned());
        let mut body = resp.into_body();
        let mut body_bytes = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| ErrorClass::Reset)?;
            if let Some(data) = frame.data_ref() {
                body_bytes += data.len() as u64;
            }
        }
        Ok(Response {
            status,
            body_bytes,
            version,
        })
    }
}

/// HTTP/2 needs the scheme and authority in the URI.
fn absolute(origin: &Origin, uri: &Uri) -> Uri {
    let scheme = match origin.scheme {
        Scheme::Http => http::uri::Scheme::HTTP,
        Scheme::Https => http::uri::Scheme::HTTPS,
    };
    let mut parts = http::uri::Parts::default();
    parts.scheme = Some(scheme);
    parts.authority = Some(origin.authority.clone());
    parts.path_and_query = uri.path_and_query().cloned();
    Uri::from_parts(parts).unwrap_or_else(|_| uri.clone())
}
