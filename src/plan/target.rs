//! Where requests go: a URL's parts ([`Target`]), and how to reach it
//! (TLS options, the HTTP version, `resolve` overrides).

use std::path::PathBuf;

use serde::Serialize;

/// A URL's parts, as the engine needs them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// `http` or `https`.
    pub scheme: Scheme,
    /// Host name or IP literal, without brackets.
    pub host: String,
    /// Port (the scheme's default when the URL has none).
    pub port: u16,
    /// Path prefix, without a trailing slash (`""` for the root).
    pub base_path: String,
}

impl Target {
    /// The host as a URL writes it: an IPv6 literal in brackets.
    pub fn url_host(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }

    /// `host:port`, the port always written.
    pub fn host_port(&self) -> String {
        format!("{}:{}", self.url_host(), self.port)
    }

    /// The base URL: `http://127.0.0.1:8080/api`.
    pub fn url(&self) -> String {
        format!("{}://{}{}", self.scheme.as_str(), self.authority(), self.base_path)
    }

    /// `host[:port]` as a URL or a `Host` header writes it: the port left
    /// out when it is the scheme's default.
    pub fn authority(&self) -> String {
        if self.port == self.scheme.default_port() {
            self.url_host()
        } else {
            self.host_port()
        }
    }
}

/// The URL scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Plain HTTP/1.1.
    Http,
    /// TLS, with HTTP/2 or HTTP/1.1 by ALPN.
    Https,
}

impl Scheme {
    /// `http` or `https`, as a URL writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// The port a URL without one means.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// TLS options.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TlsOptions {
    /// Extra CA certificates (PEM) to trust.
    pub ca_file: Option<PathBuf>,
    /// Skip certificate verification. Only ever set explicitly.
    pub insecure: bool,
    /// Like curl's `--resolve`: `(host, port) -> address` to connect to
    /// instead of resolving `host`.
    pub resolve: Vec<Resolve>,
    /// Which HTTP version to speak.
    pub http: HttpVersion,
    /// How many requests may share one HTTP/2 connection at once (h2load's
    /// `-m`); `None` leaves it to the model: 1 for VUs, 10 in the open model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub h2_streams: Option<u32>,
}

/// `[limits]`: what a response may hold before it is refused as a
/// `protocol` error. They bound the memory a misbehaving server can make a
/// connection hold: at most `response_head + body_buffer` bytes of buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ResponseLimits {
    /// The largest response head (status line and header lines) over
    /// HTTP/1.1, and the largest header list over HTTP/2, in bytes.
    pub response_head: u32,
    /// The most header lines in a response head.
    pub response_headers: u32,
    /// The read buffer a body goes through (bodies are counted and
    /// dropped, never kept), in bytes.
    pub body_buffer: u32,
}

impl ResponseLimits {
    /// The most header lines `response_headers` may allow.
    pub const MAX_HEADERS: u32 = 1024;
}

impl Default for ResponseLimits {
    fn default() -> Self {
        ResponseLimits {
            response_head: 64 * 1024,
            response_headers: 100,
            body_buffer: 64 * 1024,
        }
    }
}

/// `[tls] http`: which HTTP version the engine speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub enum HttpVersion {
    /// Over TLS, HTTP/2 or HTTP/1.1 as ALPN picks; HTTP/1.1 on `http://`.
    #[default]
    #[serde(rename = "auto")]
    Auto,
    /// HTTP/1.1 only (ALPN offers only `http/1.1`).
    #[serde(rename = "1.1")]
    Http1,
    /// HTTP/2 only: ALPN `h2` over TLS, prior knowledge (h2c) on `http://`.
    #[serde(rename = "2")]
    Http2,
}

/// One `--resolve`-style override.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resolve {
    /// The host name as in the URL.
    pub host: String,
    /// The port as in the URL.
    pub port: u16,
    /// The address to connect to instead.
    pub addr: std::net::IpAddr,
}
