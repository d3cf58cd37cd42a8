//! Resolves the plan's origins and checks that each one answers a connection
//! before any load is sent. Only the scheme, host and port combinations the
//! plan names are ever contacted.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use rustls::pki_types::ServerName;

use super::client::Connector;
use super::wire::{Origin, Protocol};
use crate::metrics::ErrorClass;
use crate::plan::{Plan, Scheme, Target};

/// The distinct origins of a plan and, per endpoint, the index of its origin.
pub fn origins_of(plan: &Plan) -> (Vec<Target>, Vec<usize>) {
    let mut targets = vec![plan.target.clone()];
    let mut index = Vec::with_capacity(plan.endpoints.len());
    for ep in &plan.endpoints {
        let t = ep.origin.as_ref().unwrap_or(&plan.target);
        let same = |o: &Target| o.scheme == t.scheme && o.host == t.host && o.port == t.port;
        let i = match targets.iter().position(same) {
            Some(i) => i,
            None => {
                targets.push(t.clone());
                targets.len() - 1
            }
        };
        index.push(i);
    }
    (targets, index)
}

/// Resolves a target's address, honouring the plan's `resolve` overrides.
pub async fn resolve(plan: &Plan, t: &Target) -> Result<Origin> {
    let addr = match plan.tls.resolve.iter().find(|r| r.host == t.host && r.port == t.port) {
        Some(r) => SocketAddr::new(r.addr, t.port),
        None => tokio::net::lookup_host((t.host.as_str(), t.port))
            .await
            .with_context(|| format!("cannot resolve {}", t.host))?
            .next()
            .ok_or_else(|| anyhow!("{} has no address", t.host))?,
    };
    let authority = t.authority();
    let server_name = match t.scheme {
        Scheme::Https => Some(
            ServerName::try_from(t.host.clone())
                .with_context(|| format!("{} is not a valid TLS server name", t.host))?,
        ),
        Scheme::Http => None,
    };
    Ok(Origin {
        scheme: t.scheme,
        addr,
        authority: authority.parse()?,
        server_name,
    })
}

/// Connects once to each origin (TCP, and TLS for HTTPS). Any failure means
/// the target is unreachable and nothing is sent. Returns, per origin,
/// whether it spoke HTTP/2, so that the first requests share connections
/// instead of each opening one while nobody knows yet.
pub async fn check(connector: &Connector, origins: &[Origin], timeout: Duration) -> Result<Vec<bool>> {
    let mut h2 = Vec::with_capacity(origins.len());
    for origin in origins {
        let attempt = tokio::time::timeout(timeout, connector.connect_explained(origin)).await;
        match attempt {
            Ok(Ok(fresh)) => h2.push(fresh.protocol() == Protocol::Http2),
            Ok(Err(e)) => {
                let hint = if e.class == ErrorClass::Tls && connector.forces_h2() {
                    " (or it does not offer HTTP/2 by ALPN `h2`, which `[tls] http = \"2\"` requires)"
                } else {
                    ""
                };
                let reason = match &e.source {
                    Some(source) => crate::errors::chain(source),
                    None => format!("{} error", e.class.name()),
                };
                return Err(anyhow!("preflight: cannot reach {}: {reason}{hint}", describe(origin)));
            }
            Err(_) => {
                return Err(anyhow!(
                    "preflight: {} did not answer within {timeout:?}",
                    describe(origin)
                ));
            }
        }
    }
    Ok(h2)
}

/// The origin as the plan names it, and the address it resolved to when
/// that says something more: `example.com (93.184.215.14:443)`, but
/// `127.0.0.1:8080` once.
fn describe(origin: &Origin) -> String {
    let host = origin.authority.host().trim_start_matches('[').trim_end_matches(']');
    if host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip == origin.addr.ip()) {
        origin.addr.to_string()
    } else {
        format!("{} ({})", origin.authority, origin.addr)
    }
}
