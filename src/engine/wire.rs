//! What the HTTP/1.1 and HTTP/2 clients share with the connector above
//! them: where a request goes ([`Origin`]), what came back ([`Response`]),
//! and over which protocol ([`Protocol`]). Its own file, so that
//! [`super::client`] can hold both clients without either importing it.

use std::net::SocketAddr;

use rustls::pki_types::ServerName;

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

/// The HTTP version a response came over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1 (or 1.0).
    Http1,
    /// HTTP/2.
    Http2,
}

/// A response that arrived whole.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Body bytes received. The clients' unit tests read it to show a body
    /// was framed exactly; the engine records no body sizes yet.
    #[cfg_attr(
        not(any(test, feature = "fuzzing")),
        expect(dead_code, reason = "read only by the clients' unit tests and the fuzz targets")
    )]
    pub body_bytes: u64,
    /// The version header's value, when the plan names one and the response
    /// has it.
    pub version: Option<http::HeaderValue>,
}
