//! What every part of loadcheck that opens a connection shares: the TLS
//! client configuration ([`tls`]), and the one reqwest client builder that
//! setup requests and probes use, so that both trust, resolve and identify
//! themselves as the load does.

pub mod tls;

use std::net::SocketAddr;
use std::time::Duration;

use crate::errors::chain;
use crate::plan::{Scheme, Target, TlsOptions};

/// A client for `origin` with the plan's TLS options: no redirects, no
/// proxy, the plan's `resolve` overrides for that origin, and a user agent
/// that names `role` (`setup`, `probe`). An error says why it cannot be
/// built (an unreadable `ca_file`).
pub fn http_client(
    origin: &Target,
    tls: &TlsOptions,
    timeout: Duration,
    connect_timeout: Option<Duration>,
    role: &str,
) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .no_proxy()
        .user_agent(format!("loadcheck/{} ({role})", env!("CARGO_PKG_VERSION")));
    if let Some(connect) = connect_timeout {
        builder = builder.connect_timeout(connect);
    }
    if origin.scheme == Scheme::Https {
        // The engine's trust settings, so that load, setup and probes agree.
        let config = tls::client_config(tls).map_err(|e| format!("TLS: {e:#}"))?;
        builder = builder.tls_backend_preconfigured(rustls::ClientConfig::clone(&config));
    }
    for r in &tls.resolve {
        if r.port == origin.port && r.host.eq_ignore_ascii_case(&origin.host) {
            builder = builder.resolve(&r.host, SocketAddr::new(r.addr, r.port));
        }
    }
    builder.build().map_err(|e| format!("client: {}", chain(&e)))
}
